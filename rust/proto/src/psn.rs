// SPDX-License-Identifier: GPL-2.0

//! Packet sequence numbers: 24-bit arithmetic modulo 2^24 and the ordering
//! rxe uses to compare them.
//!
//! PSNs wrap, so "before" and "after" only make sense within half the
//! space: `a` is after `b` when the 24-bit difference `a - b`, read as a
//! signed number, is positive. This is rxe's `psn_compare()`: the
//! difference shifted into the top of a 32-bit word and read as signed.
//! Values outside 24 bits are reduced modulo 2^24 by every function here.

use core::cmp::Ordering;

use super::mtu::IbMtu;

/// PSNs are 24 bits wide.
pub const PSN_BITS: u32 = 24;

/// The PSN bits of a 32-bit value.
pub const PSN_MASK: u32 = (1 << PSN_BITS) - 1;

/// Whether `psn` fits in 24 bits.
pub const fn is_valid(psn: u32) -> bool {
    psn & !PSN_MASK == 0
}

/// `psn + n` modulo 2^24.
pub const fn psn_add(psn: u32, n: u32) -> u32 {
    psn.wrapping_add(n) & PSN_MASK
}

/// `a - b` modulo 2^24: how many steps forward from `b` reach `a`.
pub const fn psn_sub(a: u32, b: u32) -> u32 {
    a.wrapping_sub(b) & PSN_MASK
}

/// The PSN after `psn`.
pub const fn psn_next(psn: u32) -> u32 {
    psn_add(psn, 1)
}

/// The PSN before `psn`.
pub const fn psn_prev(psn: u32) -> u32 {
    psn_sub(psn, 1)
}

/// The signed distance from `b` to `a`, in -2^23 ..= 2^23 - 1: the 24-bit
/// difference sign-extended. Negative when `a` is before `b`, zero when
/// equal, positive when after. It has the sign of rxe's `psn_compare()`;
/// a difference of exactly 2^23 counts as "before", as there.
pub const fn psn_compare(a: u32, b: u32) -> i32 {
    ((a.wrapping_sub(b) << 8) as i32) >> 8
}

/// [`psn_compare`] as an [`Ordering`].
pub const fn psn_cmp(a: u32, b: u32) -> Ordering {
    let d = psn_compare(a, b);
    if d < 0 {
        Ordering::Less
    } else if d > 0 {
        Ordering::Greater
    } else {
        Ordering::Equal
    }
}

/// Whether `a` comes before `b`.
pub const fn is_before(a: u32, b: u32) -> bool {
    psn_compare(a, b) < 0
}

/// Whether `a` comes after `b`.
pub const fn is_after(a: u32, b: u32) -> bool {
    psn_compare(a, b) > 0
}

/// Whether `a` is `b` or comes before it.
pub const fn is_before_or_eq(a: u32, b: u32) -> bool {
    psn_compare(a, b) <= 0
}

/// Whether `a` is `b` or comes after it.
pub const fn is_after_or_eq(a: u32, b: u32) -> bool {
    psn_compare(a, b) >= 0
}

/// Whether `psn` lies in the window `first ..= last` (in sequence order).
pub const fn in_range(psn: u32, first: u32, last: u32) -> bool {
    is_after_or_eq(psn, first) && is_before_or_eq(psn, last)
}

/// How many packets, and so PSNs, a message of `len` bytes takes at path
/// MTU `mtu`. A message of no bytes still takes one packet.
pub const fn packets_for_len(len: u32, mtu: IbMtu) -> u32 {
    if len == 0 {
        1
    } else {
        len.div_ceil(mtu.bytes())
    }
}

/// The PSN of the last packet of a message of `len` bytes whose first
/// packet has PSN `first`.
pub const fn last_psn(first: u32, len: u32, mtu: IbMtu) -> u32 {
    psn_add(first, packets_for_len(len, mtu) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// rxe's psn_compare(), as in drivers/infiniband/sw/rxe/rxe.h.
    fn rxe_psn_compare(a: u32, b: u32) -> i32 {
        (a.wrapping_sub(b) << 8) as i32
    }

    #[test]
    fn arithmetic_wraps_at_24_bits() {
        assert_eq!(PSN_MASK, 0xff_ffff);
        assert_eq!(psn_add(PSN_MASK, 1), 0);
        assert_eq!(psn_add(PSN_MASK - 1, 5), 3);
        assert_eq!(psn_add(0, u32::MAX), PSN_MASK);
        assert_eq!(psn_sub(0, 1), PSN_MASK);
        assert_eq!(psn_sub(3, PSN_MASK - 1), 5);
        assert_eq!(psn_next(PSN_MASK), 0);
        assert_eq!(psn_prev(0), PSN_MASK);
        assert!(is_valid(PSN_MASK));
        assert!(!is_valid(PSN_MASK + 1));
    }

    #[test]
    fn comparison() {
        assert_eq!(psn_compare(5, 5), 0);
        assert_eq!(psn_compare(6, 5), 1);
        assert_eq!(psn_compare(5, 6), -1);
        assert_eq!(psn_compare(0, PSN_MASK), 1);
        assert_eq!(psn_compare(PSN_MASK, 0), -1);
        assert_eq!(psn_compare(0x7f_ffff, 0), 0x7f_ffff);
        assert_eq!(psn_compare(0x80_0000, 0), -0x80_0000);
        assert_eq!(psn_compare(0, 0x80_0000), -0x80_0000);
        assert!(is_before(PSN_MASK, 0));
        assert!(is_after(0, PSN_MASK));
        assert!(is_before_or_eq(7, 7) && is_after_or_eq(7, 7));
        assert_eq!(psn_cmp(1, 2), Ordering::Less);
        assert_eq!(psn_cmp(2, 2), Ordering::Equal);
        assert_eq!(psn_cmp(2, 1), Ordering::Greater);
        // Bits above 24 do not matter.
        assert_eq!(psn_compare(0xff00_0005, 0x0100_0004), 1);
    }

    #[test]
    fn same_sign_as_rxe() {
        let samples = [
            0,
            1,
            2,
            0x7f_fffe,
            0x7f_ffff,
            0x80_0000,
            0x80_0001,
            0xff_fffe,
            0xff_ffff,
            0x0100_0000,
            0xdead_beef,
        ];
        for &a in &samples {
            for &b in &samples {
                let ours = psn_compare(a, b);
                assert_eq!(
                    ours.signum(),
                    rxe_psn_compare(a, b).signum(),
                    "{a:#x} {b:#x}"
                );
                assert_eq!(psn_add(b, ours as u32), a & PSN_MASK, "{a:#x} {b:#x}");
            }
        }
    }

    #[test]
    fn ranges() {
        assert!(in_range(5, 5, 5));
        assert!(in_range(0, PSN_MASK - 2, 3));
        assert!(in_range(PSN_MASK, PSN_MASK - 2, 3));
        assert!(!in_range(4, PSN_MASK - 2, 3));
        assert!(!in_range(PSN_MASK - 3, PSN_MASK - 2, 3));
    }

    #[test]
    fn packet_counts() {
        let m = IbMtu::Mtu1024;
        assert_eq!(packets_for_len(0, m), 1);
        assert_eq!(packets_for_len(1, m), 1);
        assert_eq!(packets_for_len(1024, m), 1);
        assert_eq!(packets_for_len(1025, m), 2);
        assert_eq!(packets_for_len(u32::MAX, IbMtu::Mtu256), 1 << 24);
        assert_eq!(packets_for_len(u32::MAX, IbMtu::Mtu4096), 1 << 20);
        assert_eq!(last_psn(PSN_MASK, 2048, m), 0);
        assert_eq!(last_psn(10, 0, m), 10);
        assert_eq!(last_psn(0, u32::MAX, IbMtu::Mtu256), PSN_MASK);
    }
}
