// SPDX-License-Identifier: GPL-2.0

//! Names: RDMA link types and device names as rxe-rs accepts them.

/// Longest link type name accepted (the `rdma` tool prints it in a column).
pub const MAX_LINK_TYPE_LEN: usize = 31;

/// Whether `name` is acceptable as an RDMA link type: 1 to 31 bytes of
/// lowercase letters, digits, `_` and `-`, starting with a letter. It also
/// becomes part of a module alias and a netlink string, so nothing else.
pub fn valid_link_type(name: &[u8]) -> bool {
    match name.first() {
        Some(c) if c.is_ascii_lowercase() => {}
        _ => return false,
    }
    name.len() <= MAX_LINK_TYPE_LEN
        && name
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_types() {
        assert!(valid_link_type(b"rxe"));
        assert!(valid_link_type(b"rxe_rs"));
        assert!(valid_link_type(b"rxe-rs2"));
        assert!(!valid_link_type(b""));
        assert!(!valid_link_type(b"2rxe"));
        assert!(!valid_link_type(b"Rxe"));
        assert!(!valid_link_type(b"rxe rs"));
        assert!(!valid_link_type(b"rxe%d"));
        assert!(!valid_link_type(&[b'a'; 32]));
        assert!(valid_link_type(&[b'a'; 31]));
    }
}
