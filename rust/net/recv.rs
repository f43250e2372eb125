// SPDX-License-Identifier: GPL-2.0

//! Receiving RoCEv2 packets, in process context: what the receive queue
//! (rxq.rs) hands over for a device, checked as far as it can be without a
//! queue pair, then dispatched to one by destination QP number.
//!
//! The checks are the C rxe's (rxe_recv.c), in an order that makes the
//! counters mean something: the IP and UDP headers as rxe takes them, then
//! the transport headers (`proto::packet`: length, known opcode, pad,
//! transport header version), then the ICRC, and only then the QP. So a
//! packet counted in `rcvd_unknown_qp` was a valid RoCEv2 packet; every
//! other drop is counted in `rcvd_malformed`. Nothing is logged per packet.

use kernel::{prelude::*, sync::Arc};

use crate::{
    bindings,
    net::skb::RxSkb,
    proto::{
        icrc::{icrc_check, IpHdr, UDP_HDR_LEN},
        ip::{ipv4_addrs, ipv6_addrs, udp_src_port, IpAddr},
        opcode::Dialect,
        packet::Packet as Parsed,
    },
    verbs::{counters::Counter, device::RxeDev},
};

/// The opcodes a device understands: the C rxe's and the rxe-rs extensions.
const DIALECT: Dialect = Dialect::RxeRs;

/// A received packet whose IP and UDP headers are as rxe takes them: IPv4
/// without options or IPv6 without extension headers, then UDP.
///
/// INVARIANT: `skb`'s IP header is `IPV4_HDR_LEN` bytes for `IpAddr::V4`
/// addresses and `IPV6_HDR_LEN` bytes for `IpAddr::V6` ones, and it has at
/// least a UDP header after it; `src` and `dst` are read from those
/// headers.
pub(crate) struct Packet {
    skb: RxSkb,
    src: IpAddr,
    dst: IpAddr,
}

impl Packet {
    /// Checks the IP and UDP headers of `skb`. `None` (and the skb freed)
    /// if they are not what a RoCEv2 packet has.
    pub(crate) fn new(skb: RxSkb) -> Option<Self> {
        let (src, dst) = match u32::from(skb.protocol()) {
            bindings::ETH_P_IP => ipv4_addrs(skb.ip())?,
            bindings::ETH_P_IPV6 => ipv6_addrs(skb.ip())?,
            _ => return None,
        };
        // A whole UDP header.
        udp_src_port(skb.udp())?;
        // INVARIANT: Checked above.
        Some(Packet { skb, src, dst })
    }

    /// The packet from the BTH to the end of the ICRC: the UDP payload.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.skb.udp().get(UDP_HDR_LEN..).unwrap_or_default()
    }

    /// The source address, from the IP header.
    pub(crate) fn src_addr(&self) -> IpAddr {
        self.src
    }

    /// The destination address, from the IP header.
    pub(crate) fn dst_addr(&self) -> IpAddr {
        self.dst
    }

    /// The length of the packet from its IP header on (what `rcvd_bytes`
    /// counts, as in rxe).
    pub(crate) fn ip_len(&self) -> usize {
        self.skb.ip().len() + self.skb.udp().len()
    }

    /// The raw IP header (a UD receive's GRH carries it).
    pub(crate) fn ip_header_bytes(&self) -> &[u8] {
        self.skb.ip()
    }

    /// The IP header, for the ICRC.
    fn ip_header(&self) -> IpHdr<'_> {
        match self.src {
            IpAddr::V4(_) => IpHdr::V4(self.skb.ip()),
            IpAddr::V6(_) => IpHdr::V6(self.skb.ip()),
        }
    }

    /// The UDP header, for the ICRC.
    fn udp_header(&self) -> &[u8] {
        self.skb.udp().get(..UDP_HDR_LEN).unwrap_or_default()
    }

    /// Frees the packet as used (not dropped).
    pub(crate) fn consume(self) {
        self.skb.consume();
    }
}

/// Receives a packet the receive queue took for `dev`.
pub(crate) fn receive_skb(dev: &RxeDev, skb: RxSkb) {
    match Packet::new(skb) {
        Some(pkt) => receive(dev, pkt),
        None => dev.counters().inc(Counter::RcvdMalformed),
    }
}

/// Receives a packet for `dev`: checks it and hands it to its queue pair,
/// or drops and counts it.
pub(crate) fn receive(dev: &RxeDev, pkt: Packet) {
    let delivered = match check(&pkt) {
        Some(parsed) => deliver(dev, &pkt, &parsed),
        None => {
            dev.counters().inc(Counter::RcvdMalformed);
            return;
        }
    };
    match delivered {
        Ok(()) => pkt.consume(),
        Err(Undelivered::NoSuchQp) => dev.counters().inc(Counter::RcvdUnknownQp),
    }
}

/// The checks that need no queue pair; the parsed packet if they pass.
fn check(pkt: &Packet) -> Option<Parsed<'_>> {
    let parsed = Parsed::parse(pkt.bytes(), DIALECT).ok()?;
    if !icrc_check(pkt.ip_header(), pkt.udp_header(), pkt.bytes()) {
        return None;
    }
    Some(parsed)
}

/// Why a valid packet was not delivered.
#[derive(Debug)]
enum Undelivered {
    /// No queue pair has the packet's destination QP number.
    NoSuchQp,
}

/// The delivery to a queue pair by destination QP number (QP 1 is the GSI
/// QP; QP 0 never exists on RoCE): counts the packet (`rcvd_pkts`, and
/// `pkt.ip_len()` bytes in `rcvd_bytes`) and hands it to the QP's responder
/// (requests) or completer (responses). Multicast has no groups yet: such
/// packets find no QP.
fn deliver(dev: &RxeDev, pkt: &Packet, parsed: &Parsed<'_>) -> Result<(), Undelivered> {
    let qp = dev
        .qps()
        .with(parsed.bth().dest_qpn, |q| Arc::from(q))
        .ok_or(Undelivered::NoSuchQp)?;
    dev.counters().inc(Counter::RcvdPkts);
    dev.counters().add(Counter::RcvdBytes, pkt.ip_len() as u64);
    let meta = crate::transport::resp::PktMeta {
        ip_hdr: pkt.ip_header_bytes(),
        src: pkt.src_addr(),
        dst: pkt.dst_addr(),
    };
    crate::transport::qp::deliver(dev, &qp, parsed, &meta);
    Ok(())
}
