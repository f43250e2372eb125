// SPDX-License-Identifier: GPL-2.0

//! The IP and UDP headers around a RoCEv2 packet, as the C rxe lays them
//! out (rxe_net.c): building them for sending, and reading addresses and
//! ports from received ones.
//!
//! rxe sends IPv4 without options, DF set, the GRH traffic class as type of
//! service and the hop limit as time to live; IPv6 without extension
//! headers; UDP from a port of its choosing to [`ROCE_V2_UDP_PORT`] with no
//! checksum (the ICRC covers the packet). It computes the ICRC over exactly
//! 20 bytes of IPv4 or 40 of IPv6 header followed by the UDP header, so it
//! cannot take packets with IPv4 options or IPv6 extension headers, and
//! neither do the parsers here.
//!
//! Addresses are in network byte order. RoCEv2 GIDs are IPv6 addresses, an
//! IPv4 address being IPv4-mapped (`::ffff:a.b.c.d`).

use super::icrc::{IPV4_HDR_LEN, IPV6_HDR_LEN, UDP_HDR_LEN};

/// The RoCEv2 UDP destination port (IANA).
pub const ROCE_V2_UDP_PORT: u16 = 4791;

/// The IP protocol number of UDP.
pub const IPPROTO_UDP: u8 = 17;

/// The "don't fragment" flag of the IPv4 fragment offset field.
pub const IPV4_DF: u16 = 0x4000;

/// IPv6 flow labels are 20 bits wide.
pub const FLOW_LABEL_MASK: u32 = 0x000f_ffff;

/// The first 12 bytes of an IPv4-mapped IPv6 address.
const V4_MAPPED_PREFIX: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];

/// An IP version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpVersion {
    /// The length of the IP header rxe uses for this version.
    pub const fn hdr_len(self) -> usize {
        match self {
            IpVersion::V4 => IPV4_HDR_LEN,
            IpVersion::V6 => IPV6_HDR_LEN,
        }
    }
}

/// An IP address, in network byte order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IpAddr {
    /// An IPv4 address.
    V4([u8; 4]),
    /// An IPv6 address.
    V6([u8; 16]),
}

impl IpAddr {
    /// The address a RoCEv2 GID stands for: IPv4 if IPv4-mapped.
    pub fn from_gid(gid: &[u8; 16]) -> Self {
        match gid.split_first_chunk::<12>() {
            Some((prefix, rest)) if *prefix == V4_MAPPED_PREFIX => match rest.try_into() {
                Ok(v4) => IpAddr::V4(v4),
                Err(_) => IpAddr::V6(*gid),
            },
            _ => IpAddr::V6(*gid),
        }
    }

    /// The address as a RoCEv2 GID.
    pub fn to_gid(self) -> [u8; 16] {
        match self {
            IpAddr::V6(a) => a,
            IpAddr::V4([a, b, c, d]) => [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d],
        }
    }

    /// The IP version.
    pub const fn version(&self) -> IpVersion {
        match self {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }
}

/// A UDP header from `src_port` to the RoCEv2 port, for `udp_len` bytes
/// (header included), without checksum.
pub const fn udp_header(src_port: u16, udp_len: u16) -> [u8; UDP_HDR_LEN] {
    let [s0, s1] = src_port.to_be_bytes();
    let [d0, d1] = ROCE_V2_UDP_PORT.to_be_bytes();
    let [l0, l1] = udp_len.to_be_bytes();
    [s0, s1, d0, d1, l0, l1, 0, 0]
}

/// An IPv4 header without options for a UDP packet of `tot_len` bytes
/// (header included): DF set, identification and header checksum 0 (the
/// IP layer fills them in; the ICRC covers the identification, so it must
/// be set before the ICRC is computed).
pub const fn ipv4_header(
    tos: u8,
    ttl: u8,
    tot_len: u16,
    src: [u8; 4],
    dst: [u8; 4],
) -> [u8; IPV4_HDR_LEN] {
    let [t0, t1] = tot_len.to_be_bytes();
    let [f0, f1] = IPV4_DF.to_be_bytes();
    let [s0, s1, s2, s3] = src;
    let [d0, d1, d2, d3] = dst;
    [
        0x45,
        tos,
        t0,
        t1,
        0,
        0,
        f0,
        f1,
        ttl,
        IPPROTO_UDP,
        0,
        0,
        s0,
        s1,
        s2,
        s3,
        d0,
        d1,
        d2,
        d3,
    ]
}

/// An IPv6 header without extension headers for `payload_len` bytes of UDP
/// (header included).
pub fn ipv6_header(
    traffic_class: u8,
    flow_label: u32,
    hop_limit: u8,
    payload_len: u16,
    src: &[u8; 16],
    dst: &[u8; 16],
) -> [u8; IPV6_HDR_LEN] {
    let flow = (6u32 << 28) | (u32::from(traffic_class) << 20) | (flow_label & FLOW_LABEL_MASK);
    let mut h = [0u8; IPV6_HDR_LEN];
    let (fixed, addrs) = h.split_at_mut(8);
    let [v0, v1, v2, v3] = flow.to_be_bytes();
    let [p0, p1] = payload_len.to_be_bytes();
    fixed.copy_from_slice(&[v0, v1, v2, v3, p0, p1, IPPROTO_UDP, hop_limit]);
    let (s, d) = addrs.split_at_mut(16);
    s.copy_from_slice(src);
    d.copy_from_slice(dst);
    h
}

/// Source and destination of an IPv4 header as rxe takes it: exactly
/// [`IPV4_HDR_LEN`] bytes (no options), version 4, UDP. `None` otherwise.
pub fn ipv4_addrs(hdr: &[u8]) -> Option<(IpAddr, IpAddr)> {
    let h: &[u8; IPV4_HDR_LEN] = hdr.try_into().ok()?;
    if h[0] != 0x45 || h[9] != IPPROTO_UDP {
        return None;
    }
    let (_, addrs) = h.split_first_chunk::<12>()?;
    let (src, dst) = addrs.split_first_chunk::<4>()?;
    Some((IpAddr::V4(*src), IpAddr::V4(dst.try_into().ok()?)))
}

/// Source and destination of an IPv6 header as rxe takes it: exactly
/// [`IPV6_HDR_LEN`] bytes, version 6, UDP next (no extension header).
/// `None` otherwise.
pub fn ipv6_addrs(hdr: &[u8]) -> Option<(IpAddr, IpAddr)> {
    let h: &[u8; IPV6_HDR_LEN] = hdr.try_into().ok()?;
    if h[0] >> 4 != 6 || h[6] != IPPROTO_UDP {
        return None;
    }
    let (_, addrs) = h.split_first_chunk::<8>()?;
    let (src, dst) = addrs.split_first_chunk::<16>()?;
    Some((IpAddr::V6(*src), IpAddr::V6(dst.try_into().ok()?)))
}

/// The source port of a UDP header (the start of `hdr`), if it is whole.
pub fn udp_src_port(hdr: &[u8]) -> Option<u16> {
    let h = hdr.first_chunk::<UDP_HDR_LEN>()?;
    Some(u16::from_be_bytes([h[0], h[1]]))
}

#[cfg(test)]
mod tests {
    use super::super::bth::{Bth, DEFAULT_PKEY};
    use super::super::icrc::{icrc_check, icrc_fill, IpHdr};
    use super::super::opcode::lookup;
    use super::super::opcode::{Dialect, RC_SEND_ONLY, UC_SEND_ONLY};
    use super::super::packet::{build, packet_len, Headers};
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap_or("?"), 16).unwrap_or(0))
            .collect()
    }

    #[test]
    fn gids() {
        let v4 = IpAddr::V4([192, 168, 0, 7]);
        let gid = v4.to_gid();
        assert_eq!(gid[10..], [0xff, 0xff, 192, 168, 0, 7]);
        assert_eq!(IpAddr::from_gid(&gid), v4);
        let mut v6 = [0u8; 16];
        v6[0] = 0xfd;
        v6[15] = 1;
        assert_eq!(IpAddr::from_gid(&v6), IpAddr::V6(v6));
        assert_eq!(IpAddr::V6(v6).to_gid(), v6);
        assert_eq!(IpAddr::from_gid(&[0; 16]), IpAddr::V6([0; 16]));
        assert_eq!(v4.version().hdr_len(), 20);
        assert_eq!(IpAddr::V6(v6).version().hdr_len(), 40);
    }

    /// scapy's example UC packet (test/contrib/roce.uts), which `icrc`
    /// checks too: the headers built here, with the identification the IP
    /// layer would have chosen, give its ICRC. The header checksums differ
    /// (ours are left to the IP layer), and the ICRC does not cover them.
    #[test]
    fn scapy_uc_send_only_from_our_headers() {
        let want_ip = hex("4501 0040 0478 4000 4011 b4d5 c0a8 0007 c0a8 0007");
        let mut ip = ipv4_header(1, 64, 0x40, [192, 168, 0, 7], [192, 168, 0, 7]);
        ip[4..6].copy_from_slice(&[0x04, 0x78]);
        assert_eq!(ip[..10], want_ip[..10]);
        assert_eq!(ip[12..], want_ip[12..]);
        let udp = udp_header(0xc000, 0x2c);
        assert_eq!(udp[..6], hex("c000 12b7 002c")[..]);

        // 18 bytes of payload and 2 of pad, migration state set.
        let mut h = Headers::new(Bth::new(UC_SEND_ONLY, DEFAULT_PKEY, 0xd3, 0xcf_1710));
        h.bth.mig = true;
        let payload = b"F0\x81\x8b\xe2\x895\xd9\x0e\x9a\x95PT\x01\xbe\x88^P";
        let mut pkt = vec![0u8; 64];
        let n = build(&mut pkt, &h, payload, Dialect::Rxe).unwrap();
        pkt.truncate(n);
        assert_eq!(n, 0x2c - 8);
        assert_eq!(icrc_fill(IpHdr::V4(&ip), &udp, &mut pkt), Some(0xf353_f378));
        assert_eq!(pkt[n - 4..], [0x78, 0xf3, 0x53, 0xf3]);
        assert_eq!(
            ipv4_addrs(&ip),
            Some((IpAddr::V4([192, 168, 0, 7]), IpAddr::V4([192, 168, 0, 7])))
        );
        assert_eq!(udp_src_port(&udp), Some(0xc000));
    }

    #[test]
    fn ipv6_round_trip() {
        let src = IpAddr::from_gid(&[0xfd, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        let dst = IpAddr::from_gid(&[0xfd, 0, 0, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let (IpAddr::V6(s), IpAddr::V6(d)) = (src, dst) else {
            panic!("not IPv6")
        };
        let info = lookup(RC_SEND_ONLY).unwrap();
        let len = packet_len(info, 5).unwrap();
        let ip = ipv6_header(0xa5, 0xf_1234, 7, (len + UDP_HDR_LEN) as u16, &s, &d);
        assert_eq!(ip[..8], [0x6a, 0x5f, 0x12, 0x34, 0, (len + 8) as u8, 17, 7]);
        assert_eq!(ipv6_addrs(&ip), Some((src, dst)));
        // The flow label is masked to its 20 bits.
        assert_eq!(
            ipv6_header(0, 0xfff_ffff, 1, 0, &s, &d)[1..4],
            [0x0f, 0xff, 0xff]
        );

        let udp = udp_header(0xc123, (len + UDP_HDR_LEN) as u16);
        let mut pkt = vec![0u8; len];
        build(
            &mut pkt,
            &Headers::new(Bth::new(RC_SEND_ONLY, DEFAULT_PKEY, 9, 1)),
            b"hello",
            Dialect::Rxe,
        )
        .unwrap();
        assert!(icrc_fill(IpHdr::V6(&ip), &udp, &mut pkt).is_some());
        assert!(icrc_check(IpHdr::V6(&ip), &udp, &pkt));
        // What the network may change does not matter; the rest does.
        let mut routed = ip;
        routed[0] ^= 0x0f;
        routed[1] ^= 0xff;
        routed[7] = 1;
        assert!(icrc_check(IpHdr::V6(&routed), &udp, &pkt));
        routed[39] ^= 1;
        assert!(!icrc_check(IpHdr::V6(&routed), &udp, &pkt));
    }

    #[test]
    fn refused_headers() {
        let ip4 = ipv4_header(0, 64, 100, [10, 0, 0, 1], [10, 0, 0, 2]);
        assert!(ipv4_addrs(&ip4).is_some());
        assert_eq!(ipv4_addrs(&ip4[..19]), None);
        let mut opts = ip4.to_vec();
        opts[0] = 0x46;
        opts.extend_from_slice(&[1, 1, 1, 0]);
        assert_eq!(ipv4_addrs(&opts), None);
        let mut tcp = ip4;
        tcp[9] = 6;
        assert_eq!(ipv4_addrs(&tcp), None);
        let ip6 = ipv6_header(0, 0, 64, 100, &[1; 16], &[2; 16]);
        assert!(ipv6_addrs(&ip6).is_some());
        assert_eq!(ipv6_addrs(&ip4), None);
        let mut ext = ip6;
        ext[6] = 0; // hop-by-hop options first
        assert_eq!(ipv6_addrs(&ext), None);
        let mut v4in6 = ip6;
        v4in6[0] = 0x45;
        assert_eq!(ipv6_addrs(&v4in6), None);
        assert_eq!(udp_src_port(&[0; 7]), None);
    }
}
