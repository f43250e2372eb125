// SPDX-License-Identifier: GPL-2.0

//! Node and port GUIDs derived from an Ethernet address.

/// The modified EUI-64 of a 48-bit MAC address (RFC 4291 appendix A): the
/// MAC split in two around `ff:fe`, with the universal/local bit flipped.
/// rxe uses it, in network byte order, as node GUID, port GUID and system
/// image GUID.
pub const fn eui64_from_mac(mac: [u8; 6]) -> [u8; 8] {
    [
        mac[0] ^ 0x02,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ]
}

/// The GUID as the 64-bit value the RDMA core stores (`__be64`): the bytes
/// in wire order, read as a native integer.
pub const fn guid_to_be64_raw(eui: [u8; 8]) -> u64 {
    u64::from_ne_bytes(eui)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flips_the_local_bit_and_inserts_fffe() {
        let eui = eui64_from_mac([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
        assert_eq!(eui, [0x50, 0x54, 0x00, 0xff, 0xfe, 0x12, 0x34, 0x56]);
    }

    #[test]
    fn raw_be64_keeps_wire_order() {
        let eui = [1, 2, 3, 4, 5, 6, 7, 8];
        assert_eq!(guid_to_be64_raw(eui).to_ne_bytes(), eui);
        assert_eq!(u64::from_be(guid_to_be64_raw(eui)), 0x0102030405060708);
    }
}
