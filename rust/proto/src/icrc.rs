// SPDX-License-Identifier: GPL-2.0

//! The RoCEv2 invariant CRC (ICRC): the 4 bytes that end every RoCE
//! packet, computed as the C rxe does (drivers/infiniband/sw/rxe/rxe_icrc.c)
//! so that the two interoperate.
//!
//! It is the standard CRC-32 (see `crc32`) of
//!
//! - 8 bytes of 0xff, standing in for the InfiniBand LRH;
//! - the IP header with the fields routers may change set to all ones:
//!   for IPv4 the type of service (DSCP and ECN), the TTL and the header
//!   checksum; for IPv6 the traffic class, the flow label and the hop
//!   limit;
//! - the UDP header with the checksum set to all ones;
//! - the BTH with its byte 4 (FECN, BECN and 6 reserved bits) set to all
//!   ones;
//! - the rest of the transport headers, the payload and the pad bytes.
//!
//! rxe seeds `crc32_le()` with 0xdebb20e3, which is the register after the
//! 8 bytes of 0xff from all ones ([`LRH_SEED`]), and stores the inverted
//! register.
//!
//! # Byte order on the wire
//!
//! rxe stores the value through a `__be32 *` without converting it:
//! `*icrcp = ~icrc`, where `icrc` is the CPU-order result of `crc32_le()`.
//! On a little-endian host (x86, arm64, where rxe runs) that writes the
//! value least significant byte first, and on receive it loads the 4 bytes
//! the same way and compares. The wire bytes are therefore
//! `icrc.to_le_bytes()` ([`icrc_to_wire`]). This is also the byte order of
//! the Ethernet FCS, the order in which a CRC run over the packet including
//! its ICRC gives the constant residue, and what a ConnectX-4 Lx puts on
//! the wire (see the tests).
//!
//! IP headers are taken at their fixed size: rxe copies `sizeof(struct
//! iphdr)` (20) bytes of IPv4 header, so it has no notion of IPv4 options;
//! an IPv4 header of any other length is refused here.

use super::bth::BTH_LEN;
use super::crc32::{crc32_le_const, Crc32};

/// Length of the ICRC.
pub const ICRC_LEN: usize = 4;
/// Length of an IPv4 header without options.
pub const IPV4_HDR_LEN: usize = 20;
/// Length of an IPv6 header.
pub const IPV6_HDR_LEN: usize = 40;
/// Length of a UDP header.
pub const UDP_HDR_LEN: usize = 8;

/// The CRC register after all ones and 8 bytes of 0xff (the masked LRH):
/// rxe's seed, 0xdebb20e3.
pub const LRH_SEED: u32 = crc32_le_const(!0, &[0xff; 8]);

/// The IP header of a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpHdr<'a> {
    /// An IPv4 header, [`IPV4_HDR_LEN`] bytes.
    V4(&'a [u8]),
    /// An IPv6 header, [`IPV6_HDR_LEN`] bytes.
    V6(&'a [u8]),
}

/// An IPv4 header with the variant fields set to ones.
fn masked_v4(ip: &[u8]) -> Option<[u8; IPV4_HDR_LEN]> {
    let mut h: [u8; IPV4_HDR_LEN] = ip.try_into().ok()?;
    h[1] = 0xff; // type of service
    h[8] = 0xff; // time to live
    h[10] = 0xff; // header checksum
    h[11] = 0xff;
    Some(h)
}

/// An IPv6 header with the variant fields set to ones.
fn masked_v6(ip: &[u8]) -> Option<[u8; IPV6_HDR_LEN]> {
    let mut h: [u8; IPV6_HDR_LEN] = ip.try_into().ok()?;
    h[0] |= 0x0f; // traffic class, high nibble
    h[1] = 0xff; // traffic class, low nibble; flow label
    h[2] = 0xff; // flow label
    h[3] = 0xff;
    h[7] = 0xff; // hop limit
    Some(h)
}

/// The CRC register after the pseudo header: the masked LRH, IP and UDP
/// headers and the masked BTH. Run the rest of the transport headers, the
/// payload and the pad through it, then [`Crc32::finish`] gives the ICRC.
/// `None` if a header has the wrong length.
pub fn icrc_begin(ip: IpHdr<'_>, udp: &[u8], bth: &[u8; BTH_LEN]) -> Option<Crc32> {
    let mut crc = Crc32::new(LRH_SEED);
    match ip {
        IpHdr::V4(h) => crc.update(&masked_v4(h)?),
        IpHdr::V6(h) => crc.update(&masked_v6(h)?),
    }
    let mut udp: [u8; UDP_HDR_LEN] = udp.try_into().ok()?;
    udp[6] = 0xff; // checksum
    udp[7] = 0xff;
    crc.update(&udp);
    let mut bth = *bth;
    bth[4] = 0xff; // FECN, BECN, resv6
    crc.update(&bth);
    Some(crc)
}

/// The ICRC of a packet: `bth_and_rest` is the UDP payload from the BTH to
/// the end of the pad, without the ICRC field. `None` if a header has the
/// wrong length or `bth_and_rest` is shorter than a BTH.
pub fn icrc_compute(ip: IpHdr<'_>, udp: &[u8], bth_and_rest: &[u8]) -> Option<u32> {
    let (bth, rest) = bth_and_rest.split_first_chunk()?;
    let mut crc = icrc_begin(ip, udp, bth)?;
    crc.update(rest);
    Some(crc.finish())
}

/// [`icrc_compute`] for IPv4.
pub fn icrc_v4(ip: &[u8], udp: &[u8], bth_and_rest: &[u8]) -> Option<u32> {
    icrc_compute(IpHdr::V4(ip), udp, bth_and_rest)
}

/// [`icrc_compute`] for IPv6.
pub fn icrc_v6(ip: &[u8], udp: &[u8], bth_and_rest: &[u8]) -> Option<u32> {
    icrc_compute(IpHdr::V6(ip), udp, bth_and_rest)
}

/// The 4 bytes that carry `icrc` on the wire.
pub const fn icrc_to_wire(icrc: u32) -> [u8; ICRC_LEN] {
    icrc.to_le_bytes()
}

/// The ICRC carried by 4 wire bytes.
pub const fn icrc_from_wire(bytes: [u8; ICRC_LEN]) -> u32 {
    u32::from_le_bytes(bytes)
}

/// Whether the ICRC at the end of `udp_payload` (the whole UDP payload,
/// from the BTH to the ICRC) is right. False for malformed input.
pub fn icrc_check(ip: IpHdr<'_>, udp: &[u8], udp_payload: &[u8]) -> bool {
    let Some((covered, wire)) = udp_payload.split_last_chunk() else {
        return false;
    };
    icrc_compute(ip, udp, covered) == Some(icrc_from_wire(*wire))
}

/// Computes the ICRC of `udp_payload` (the whole UDP payload, from the BTH
/// to the ICRC) and stores it in its last 4 bytes. Returns it, or `None`
/// (and leaves the buffer alone) for malformed input. The IP and UDP
/// headers must be final, lengths included: they are covered.
pub fn icrc_fill(ip: IpHdr<'_>, udp: &[u8], udp_payload: &mut [u8]) -> Option<u32> {
    let (covered, wire) = udp_payload.split_last_chunk_mut()?;
    let icrc = icrc_compute(ip, udp, covered)?;
    *wire = icrc_to_wire(icrc);
    Some(icrc)
}

#[cfg(test)]
mod tests {
    use super::super::crc32::{crc32_ieee, RESIDUE};
    use super::*;

    /// Parses whitespace-separated hex into bytes.
    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap_or("?"), 16).unwrap_or(0))
            .collect()
    }

    /// A RoCEv2 CNP captured from a Mellanox ConnectX-4 Lx (scapy's test
    /// suite, test/contrib/roce.uts, "RoCE CNP captured on ConnectX-4 Lx"):
    /// Ethernet, IPv4, UDP to 4791, BTH opcode 0x81 (BECN set), 16 reserved
    /// bytes, ICRC. A value computed by hardware, not by rxe or by us.
    const CX4_CNP: &str = "
        e41d 2dab 2bc2 7cfe 9064 3b32 0800 45c2
        003c 718c 4000 4011 9161 0a00 1101 0a00
        1201 0000 12b7 0028 0000 8100 ffff 4000
        0118 0000 0000 0000 0000 0000 0000 0000
        0000 0000 0000 82fd 002a";

    /// Splits an Ethernet frame into IPv4 header, UDP header and UDP
    /// payload.
    fn split_v4(frame: &[u8]) -> (&[u8], &[u8], &[u8]) {
        let ip = &frame[14..34];
        let udp = &frame[34..42];
        let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        (ip, udp, &frame[42..34 + udp_len])
    }

    #[test]
    fn seed_is_rxes() {
        assert_eq!(LRH_SEED, 0xdebb_20e3);
    }

    #[test]
    fn hardware_cnp() {
        let frame = hex(CX4_CNP);
        let (ip, udp, payload) = split_v4(&frame);
        assert_eq!(payload.len(), 12 + 16 + ICRC_LEN);
        assert_eq!(payload[0], 0x81);
        let (covered, wire) = payload.split_at(payload.len() - ICRC_LEN);
        assert_eq!(wire, [0x82, 0xfd, 0x00, 0x2a]);
        let icrc = icrc_v4(ip, udp, covered);
        assert_eq!(icrc, Some(0x2a00_fd82));
        assert_eq!(icrc.map(icrc_to_wire), Some([0x82, 0xfd, 0x00, 0x2a]));
        assert!(icrc_check(IpHdr::V4(ip), udp, payload));
        // A CRC over the whole pseudo packet, ICRC included, leaves the
        // CRC-32 residue: the ICRC is in the CRC's own byte order.
        let mut crc = icrc_begin(IpHdr::V4(ip), udp, covered[..12].try_into().unwrap()).unwrap();
        crc.update(&payload[12..]);
        assert_eq!(crc.state(), RESIDUE);
    }

    /// scapy's example UC packet (test/contrib/roce.uts, "RoCE layer"),
    /// whose ICRC scapy computes with zlib (0x78f353f3 read big-endian,
    /// i.e. wire bytes 78 f3 53 f3): an independent implementation.
    #[test]
    fn scapy_uc_send_only() {
        let ip = hex("4501 0040 0478 4000 4011 b4d5 c0a8 0007 c0a8 0007");
        let udp = hex("c000 12b7 002c aca2");
        let mut payload = hex("2460 ffff 0000 00d3 00cf 1710");
        payload.extend_from_slice(b"F0\x81\x8b\xe2\x895\xd9\x0e\x9a\x95PT\x01\xbe\x88^P\x00\x00");
        payload.extend_from_slice(&[0; ICRC_LEN]);
        assert_eq!(payload.len(), 64 - 20 - 8);
        assert_eq!(
            icrc_fill(IpHdr::V4(&ip), &udp, &mut payload),
            Some(0xf353_f378)
        );
        assert_eq!(payload[payload.len() - 4..], [0x78, 0xf3, 0x53, 0xf3]);
        assert!(icrc_check(IpHdr::V4(&ip), &udp, &payload));
    }

    /// The definition, spelled out: CRC-32 of 8 x 0xff, the masked headers
    /// and the rest.
    fn reference(ip: &[u8], udp: &[u8], rest: &[u8]) -> u32 {
        let mut all = vec![0xffu8; 8];
        let mut ip = ip.to_vec();
        if ip.len() == IPV4_HDR_LEN {
            ip[1] = 0xff;
            ip[8] = 0xff;
            ip[10..12].fill(0xff);
        } else {
            ip[0] |= 0x0f;
            ip[1..4].fill(0xff);
            ip[7] = 0xff;
        }
        all.extend_from_slice(&ip);
        all.extend_from_slice(&udp[..6]);
        all.extend_from_slice(&[0xff, 0xff]);
        all.extend_from_slice(&rest[..4]);
        all.push(0xff);
        all.extend_from_slice(&rest[5..]);
        crc32_ieee(&all)
    }

    fn v6_header() -> Vec<u8> {
        let mut ip = hex("6123 4567 0024 1140");
        ip.extend((0..32).map(|i| i as u8));
        ip
    }

    #[test]
    fn variant_fields_do_not_count() {
        let ip4 = hex("4500 0030 1234 4000 4011 0000 0a00 0001 0a00 0002");
        let ip6 = v6_header();
        let udp = hex("c000 12b7 001c 1234");
        let rest = hex("0440 ffff 0000 0011 8000 0005 dead beef 0102 0300");
        for ip in [IpHdr::V4(&ip4), IpHdr::V6(&ip6)] {
            let (h, variant): (&[u8], &[usize]) = match ip {
                IpHdr::V4(h) => (h, &[1, 8, 10, 11]),
                IpHdr::V6(h) => (h, &[0, 1, 2, 3, 7]),
            };
            let base = icrc_compute(ip, &udp, &rest);
            assert_eq!(base, Some(reference(h, &udp, &rest)));
            for i in 0..h.len() {
                let mut m = h.to_vec();
                m[i] ^= 0x01;
                let mip = match ip {
                    IpHdr::V4(_) => IpHdr::V4(&m),
                    IpHdr::V6(_) => IpHdr::V6(&m),
                };
                let got = icrc_compute(mip, &udp, &rest);
                assert_eq!(got == base, variant.contains(&i), "ip byte {i}");
            }
            // Byte 0 of IPv6 holds the version, which counts, and the
            // high nibble of the traffic class, which does not.
            if let IpHdr::V6(h) = ip {
                let mut m = h.to_vec();
                m[0] ^= 0x08;
                assert_eq!(icrc_compute(IpHdr::V6(&m), &udp, &rest), base);
                m[0] ^= 0x80;
                assert_ne!(icrc_compute(IpHdr::V6(&m), &udp, &rest), base);
            }
            for i in 0..udp.len() {
                let mut m = udp.clone();
                m[i] ^= 0x10;
                let got = icrc_compute(ip, &m, &rest);
                assert_eq!(got == base, i >= 6, "udp byte {i}");
            }
            for i in 0..rest.len() {
                let mut m = rest.clone();
                m[i] ^= 0x04;
                let got = icrc_compute(ip, &udp, &m);
                assert_eq!(got == base, i == 4, "bth byte {i}");
            }
        }
    }

    #[test]
    fn fill_and_check() {
        let ip6 = v6_header();
        let udp = hex("c000 12b7 0024 0000");
        let mut pkt = hex("0440 ffff 0000 0011 8000 0005 0102 0304 0506 0708 0000 0000");
        assert!(!icrc_check(IpHdr::V6(&ip6), &udp, &pkt));
        let icrc = icrc_fill(IpHdr::V6(&ip6), &udp, &mut pkt);
        assert_eq!(icrc, icrc_v6(&ip6, &udp, &pkt[..pkt.len() - 4]));
        assert!(icrc_check(IpHdr::V6(&ip6), &udp, &pkt));
        let n = pkt.len();
        pkt[n - 1] ^= 1;
        assert!(!icrc_check(IpHdr::V6(&ip6), &udp, &pkt));
        assert_eq!(icrc_from_wire(icrc_to_wire(0x1234_5678)), 0x1234_5678);
        assert_eq!(icrc_to_wire(0x1234_5678), [0x78, 0x56, 0x34, 0x12]);
    }

    #[test]
    fn malformed_input() {
        let ip4 = [0x45u8; IPV4_HDR_LEN];
        let udp = [0u8; UDP_HDR_LEN];
        let rest = [0u8; BTH_LEN];
        assert!(icrc_v4(&ip4, &udp, &rest).is_some());
        assert!(icrc_v4(&ip4[..19], &udp, &rest).is_none());
        assert!(icrc_v4(&[0x46; 24], &udp, &rest).is_none());
        assert!(icrc_v6(&ip4, &udp, &rest).is_none());
        assert!(icrc_v4(&ip4, &udp[..7], &rest).is_none());
        assert!(icrc_v4(&ip4, &[0; 9], &rest).is_none());
        assert!(icrc_v4(&ip4, &udp, &rest[..11]).is_none());
        assert!(!icrc_check(IpHdr::V4(&ip4), &udp, &[0; 3]));
        assert!(!icrc_check(IpHdr::V4(&ip4), &udp, &[0; 15]));
        let mut short = [7u8; 15];
        assert_eq!(icrc_fill(IpHdr::V4(&ip4), &udp, &mut short), None);
        assert_eq!(short, [7; 15]);
        let mut tiny = [7u8; 3];
        assert_eq!(icrc_fill(IpHdr::V4(&ip4), &udp, &mut tiny), None);
    }
}
