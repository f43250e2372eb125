// SPDX-License-Identifier: GPL-2.0

//! Receiving RoCEv2 packets. The tunnel sockets hand each datagram over
//! in softirq context ([`dispatch`]): it is checked as far as it takes to
//! find its device and its queue pair, and queued on that QP. The QP's
//! runner checks the rest and carries it out in process context
//! ([`receive`]), so that the QPs of a device are served in parallel,
//! each in order.
//!
//! The checks are the C rxe's (rxe_recv.c), in an order that makes the
//! counters mean something: the IP and UDP headers as rxe takes them, then
//! the transport headers (`proto::packet`: length, known opcode, pad,
//! transport header version), then the ICRC, and only then the QP. So a
//! packet counted in `rcvd_unknown_qp` was a valid RoCEv2 packet; every
//! other drop is counted in `rcvd_malformed`. (A packet for a QP that
//! exists is checked by the QP's work, after the lookup; a packet for none
//! is checked whole before it is counted.) Nothing is logged per packet.

use crate::{
    bindings,
    net::registry,
    net::skb::RxSkb,
    proto::{
        bth,
        icrc::{icrc_check, IpHdr, UDP_HDR_LEN},
        ip::{ipv4_addrs, ipv6_addrs, udp_src_port, IpAddr},
        opcode::Dialect,
        packet::Packet as Parsed,
    },
    transport::qp::{Ctx, QpCore},
    verbs::counters::Counter,
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

/// Takes a packet the tunnel sockets received, in softirq context: finds
/// the device it arrived for and the QP it is for, and queues it there, or
/// drops and counts it.
pub(crate) fn dispatch(skb: RxSkb) {
    let Some(dev) = device_for(&skb) else {
        // No device of ours there: not ours to count.
        return;
    };
    let Some(pkt) = Packet::new(skb) else {
        dev.counters().inc(Counter::RcvdMalformed);
        return;
    };
    let Some(qpn) = bth::dest_qpn(pkt.bytes()) else {
        dev.counters().inc(Counter::RcvdMalformed);
        return;
    };
    let mut pkt = Some(pkt);
    let full = dev
        .qps()
        .with(qpn, |qp| match pkt.take().map(|p| qp.queue_packet(p.skb)) {
            Some(Err(skb)) => Some(skb),
            _ => None,
        })
        .flatten();
    if let Some(skb) = full {
        dev.counters().inc(Counter::RcvdQpDropped);
        drop(skb);
        return;
    }
    if let Some(pkt) = pkt {
        // No such QP: a valid packet is counted as for an unknown QP.
        let counter = match check(&pkt) {
            Some(_) => Counter::RcvdUnknownQp,
            None => Counter::RcvdMalformed,
        };
        dev.counters().inc(counter);
    }
}

/// The device a packet that arrived on its netdev is for: ours on that
/// netdev, or, if it is a VLAN netdev, ours on the real netdev under it
/// (the RDMA core gives a device the GIDs of the VLANs over its netdev), as
/// in rxe; for a packet sent to a local address (it came over the loopback
/// netdev), the device on the netdev that owns that address. Any context.
fn device_for(skb: &RxSkb) -> Option<registry::DevRef> {
    if let Some(owner) = skb.loopback_owner() {
        let d = registry::get(owner.as_ptr());
        // SAFETY: The reference `loopback_owner` took.
        unsafe { bindings::rxe_rs_dev_put(owner.as_ptr()) };
        return d;
    }
    let ndev = skb.ndev();
    registry::get(ndev).or_else(|| {
        // SAFETY: The packet holds `ndev` (`RxSkb` invariant); a VLAN
        // netdev holds its real one.
        let real = unsafe { bindings::rxe_rs_vlan_real_dev(ndev) };
        if real.is_null() {
            None
        } else {
            registry::get(real)
        }
    })
}

/// Receives a packet queued on a QP, in the pass of the QP's runner
/// (process context, the QP locked): checks it, counts it and hands it to
/// the QP's engines, or drops and counts it.
pub(crate) fn receive(cx: Ctx<'_>, core: &mut QpCore, skb: RxSkb) {
    let dev = cx.dev();
    let Some(pkt) = Packet::new(skb) else {
        dev.counters().inc(Counter::RcvdMalformed);
        return;
    };
    let Some(parsed) = check(&pkt) else {
        dev.counters().inc(Counter::RcvdMalformed);
        return;
    };
    dev.counters().inc(Counter::RcvdPkts);
    dev.counters().add(Counter::RcvdBytes, pkt.ip_len() as u64);
    let meta = crate::transport::resp::PktMeta {
        ip_hdr: pkt.ip_header_bytes(),
        src: pkt.src_addr(),
        dst: pkt.dst_addr(),
    };
    crate::transport::qp::deliver(cx, core, &parsed, &meta);
    pkt.consume();
}

/// The checks that need no queue pair; the parsed packet if they pass.
fn check(pkt: &Packet) -> Option<Parsed<'_>> {
    let parsed = Parsed::parse(pkt.bytes(), DIALECT).ok()?;
    if !icrc_check(pkt.ip_header(), pkt.udp_header(), pkt.bytes()) {
        return None;
    }
    Some(parsed)
}
