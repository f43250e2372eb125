// SPDX-License-Identifier: GPL-2.0

//! Sending RoCEv2 packets, the transmit half of the device's network layer.
//!
//! [`send`] takes a packet the caller lays out (BTH, extended headers,
//! payload, pad), puts it in UDP and IP headers, computes its ICRC exactly
//! as the C rxe does (so that the two interoperate), routes it out of the
//! device's netdev and hands it to the IP layer, as rxe_net.c does. It
//! needs nothing of the per-namespace sockets, which only receive.
//!
//! A QP's sending state ([`Tx`]) keeps a connected QP's route between
//! packets, and the run its packets go out for (see `transport::runs`).
//!
//! Addresses come from GIDs: an IPv4-mapped GID (`::ffff:a.b.c.d`) stands
//! for an IPv4 address, any other for an IPv6 one (`proto::ip::IpAddr`,
//! which also lays out the headers).

use core::{cell::Cell, ptr::NonNull};

use kernel::{prelude::*, sync::rcu};

use crate::{
    bindings,
    net::skb::{Dst, TxSkb},
    proto::{
        bth::BTH_LEN,
        icrc::{icrc_fill, IpHdr, ICRC_LEN, IPV4_HDR_LEN, IPV6_HDR_LEN, UDP_HDR_LEN},
        ip::{ipv4_header, ipv6_header, udp_header, IpAddr, IpVersion},
    },
    transport::runs::Runs,
    verbs::{counters::Counter, device::RxeDev},
};

/// Where and how a packet goes: what the address vector (and, for RC and
/// UC, the queue pair) says.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Path {
    /// Source address (from the source GID); of the same version as `dst`.
    pub(crate) src: IpAddr,
    /// Destination address (from the destination GID).
    pub(crate) dst: IpAddr,
    /// Source UDP port (rxe derives it from the QP numbers, for ECMP).
    pub(crate) src_port: u16,
    /// IPv4 type of service or IPv6 traffic class.
    pub(crate) traffic_class: u8,
    /// IPv4 time to live or IPv6 hop limit.
    pub(crate) hop_limit: u8,
    /// IPv6 flow label (20 bits); unused for IPv4.
    pub(crate) flow_label: u32,
}

/// What a route is looked up for, of a [`Path`] (the netdev is the
/// device's). IPv4 lookups use neither the traffic class nor the flow
/// label: a change of them only costs a lookup.
#[derive(Clone, Copy, PartialEq, Eq)]
struct RouteKey {
    src: IpAddr,
    dst: IpAddr,
    traffic_class: u8,
    flow_label: u32,
}

impl RouteKey {
    fn of(path: &Path) -> Self {
        RouteKey {
            src: path.src,
            dst: path.dst,
            traffic_class: path.traffic_class,
            flow_label: path.flow_label,
        }
    }
}

/// A route kept between packets, with what it was looked up for.
struct KeptRoute {
    key: RouteKey,
    dst: Dst,
    cookie: u32,
}

/// The route of a connected QP's packets, kept between them as rxe keeps
/// it in the QP's socket: for a small packet the lookup costs more than
/// the rest of sending it. It is checked before each use (`dst_check`),
/// so a route the IP layer has obsoleted since, or one for another path
/// (the QP was modified), is looked up again.
///
/// Not `Sync`: it lives in the QP's state, under the QP's lock.
#[derive(Default)]
struct RouteCache(Cell<Option<KeptRoute>>);

impl RouteCache {
    /// The route for `path`: the kept one if it is still good, else a new
    /// lookup, which is kept.
    fn get(
        &self,
        net: *mut bindings::net,
        ndev: *mut bindings::net_device,
        path: &Path,
    ) -> Result<Dst> {
        let key = RouteKey::of(path);
        if let Some(kept) = self.0.take() {
            if kept.key == key && kept.dst.is_valid(kept.cookie) {
                let dst = kept.dst.clone_ref();
                self.0.set(Some(kept));
                return Ok(dst);
            }
        }
        let dst = route(net, ndev, path)?;
        let cookie = dst.cookie(matches!(path.dst, IpAddr::V6(_)));
        let out = dst.clone_ref();
        self.0.set(Some(KeptRoute { key, dst, cookie }));
        Ok(out)
    }

    /// Lets the kept route go.
    fn clear(&self) {
        self.0.set(None);
    }
}

impl Path {
    /// The IP version, if source and destination agree on one.
    fn version(&self) -> Result<IpVersion> {
        let v = self.src.version();
        if v == self.dst.version() {
            Ok(v)
        } else {
            Err(EINVAL)
        }
    }
}

/// Sends one packet of `len` bytes of UDP payload on `dev`'s port along
/// `path`.
///
/// `build` lays out the packet in the buffer it is given, exactly `len`
/// bytes: BTH, extended headers, payload and pad, then `ICRC_LEN` bytes
/// that `send` overwrites with the ICRC (`proto::packet::build` writes this
/// layout, and `proto::packet::packet_len` gives `len`). It runs before any
/// lock is taken here; an error from it is returned as is, and nothing is
/// sent.
///
/// `via`, if given, is the sending QP's state: its route is kept between
/// packets (but a datagram's), and the local peers the packet wakes go to
/// the run it goes out for.
///
/// Counts `sent_pkts` and `sent_bytes` (IP and UDP headers included, as
/// rxe does) when the packet goes, or `send_err` when it cannot be routed
/// or the IP layer refuses it. Any context that may take a spinlock;
/// allocates with `GFP_ATOMIC`.
pub(crate) fn send(
    dev: &RxeDev,
    path: &Path,
    via: Option<Via<'_>>,
    len: usize,
    build: impl FnOnce(&mut [u8]) -> Result,
) -> Result {
    let version = path.version()?;
    let ip_len = version.hdr_len();
    if len < BTH_LEN + ICRC_LEN || len + UDP_HDR_LEN + ip_len > usize::from(u16::MAX) {
        return Err(EMSGSIZE);
    }
    if dev.netdev_gone() {
        return Err(ENODEV);
    }
    // SAFETY: The device holds a reference on its netdev.
    let mut skb = unsafe { TxSkb::alloc(dev.ndev(), ip_len + UDP_HDR_LEN, len)? };
    build(skb.data_mut())?;
    let ready = match prepare(dev, path, via.and_then(Via::route), version, skb) {
        Ok(ready) => ready,
        Err(e) => {
            dev.counters().inc(Counter::SendErr);
            return Err(e);
        }
    };
    ready.send(dev, via.and_then(|v| v.tx().runs()))
}

/// How a QP sends a packet: along the kept route of a connected QP (RC,
/// UC: all its packets take one path), or as a datagram (UD: each its own
/// route).
#[derive(Clone, Copy)]
pub(crate) enum Via<'a> {
    Connected(&'a Tx),
    Datagram(&'a Tx),
}

impl<'a> Via<'a> {
    fn tx(self) -> &'a Tx {
        match self {
            Via::Connected(tx) | Via::Datagram(tx) => tx,
        }
    }

    /// The route to keep between packets: not a datagram's.
    fn route(self) -> Option<&'a RouteCache> {
        match self {
            Via::Connected(tx) => Some(&tx.route),
            Via::Datagram(_) => None,
        }
    }
}

/// A packet with its headers, ICRC and route, ready for the IP layer.
pub(crate) struct Ready {
    skb: TxSkb,
    version: IpVersion,
}

impl Ready {
    /// Hands the packet to the IP layer and counts it; while it goes, the
    /// run sending it (if any) takes on the local peers it wakes.
    fn send(self, dev: &RxeDev, runs: Option<&Runs>) -> Result {
        // A held packet may outlive its netdev's registration (its route
        // is dead then, and would only be dropped further down).
        if dev.netdev_gone() {
            dev.counters().inc(Counter::SendErr);
            return Err(ENODEV);
        }
        let bytes = self.skb.len();
        // The netdev may move to another namespace at any time (the
        // device then goes away); under RCU its namespace stays valid
        // while we use it.
        let rcu = rcu::read_lock();
        // SAFETY: `ndev` is held by the device; the RCU read lock is held.
        let net = unsafe { bindings::rxe_rs_dev_net_rcu(dev.ndev()) };
        // SAFETY: The skb is a complete packet with its route; the IP
        // layer takes it (and frees it, also on error). No socket: none
        // owns it.
        let out = || unsafe {
            match self.version {
                IpVersion::V4 => {
                    bindings::ip_local_out(net, core::ptr::null_mut(), self.skb.into_raw())
                }
                IpVersion::V6 => {
                    bindings::ip6_local_out(net, core::ptr::null_mut(), self.skb.into_raw())
                }
            }
        };
        let ret = match runs {
            Some(runs) => runs.sending(out),
            None => out(),
        };
        drop(rcu);
        match local_out_result(ret) {
            Ok(()) => {
                dev.counters().inc(Counter::SentPkts);
                dev.counters().add(Counter::SentBytes, bytes as u64);
                Ok(())
            }
            Err(e) => {
                dev.counters().inc(Counter::SendErr);
                Err(e)
            }
        }
    }
}

/// How a QP's packets leave: along its kept route (RC, UC), and for the
/// run of its runner, which takes on the local peers they wake.
///
/// Not `Sync`: it lives in the QP's state, under the QP's lock.
#[derive(Default)]
pub(crate) struct Tx {
    route: RouteCache,
    /// The run of the QP's runner, during its pass ([`Tx::set_runs`]).
    runs: Cell<Option<NonNull<Runs>>>,
}

impl Tx {
    /// The run the QP's packets go out for, while its runner's pass lasts
    /// (it sets it at the start of the pass and clears it before the end,
    /// both under the QP's lock).
    ///
    /// # Safety
    ///
    /// `runs` must outlive every packet sent until the next call.
    pub(crate) unsafe fn set_runs(&self, runs: Option<&Runs>) {
        self.runs.set(runs.map(NonNull::from));
    }

    fn runs(&self) -> Option<&Runs> {
        // SAFETY: Set by `set_runs`, whose caller keeps it alive until the
        // next call.
        self.runs.get().map(|r| unsafe { r.as_ref() })
    }

    /// Lets the kept route go: the path changed (the peer moved), and the
    /// next packet looks it up again, its neighbour (MAC) with it.
    pub(crate) fn forget_route(&self) {
        self.route.clear();
    }

    /// Lets the kept route go (the QP is destroyed).
    pub(crate) fn clear(&self) {
        self.runs.set(None);
        self.route.clear();
    }
}

/// Routes a built packet and adds its headers and ICRC.
fn prepare(
    dev: &RxeDev,
    path: &Path,
    route: Option<&RouteCache>,
    version: IpVersion,
    mut skb: TxSkb,
) -> Result<Ready> {
    let ndev = dev.ndev();
    // As in `Ready::send`: the namespace is valid under RCU.
    let _rcu = rcu::read_lock();
    // SAFETY: `ndev` is held by the device; the RCU read lock is held.
    let net = unsafe { bindings::rxe_rs_dev_net_rcu(ndev) };
    let dst = match route {
        Some(kept) => kept.get(net, ndev, path)?,
        None => self::route(net, ndev, path)?,
    };
    push_udp(&mut skb, path)?;
    push_ip(&mut skb, net, path, version)?;
    skb.set_dst(dst);
    fill_icrc(&mut skb, version)?;
    Ok(Ready { skb, version })
}

/// The result of `ip_local_out`: an errno, or a `NET_XMIT_*` code of which
/// only congestion notification means the packet went (`net_xmit_eval`).
fn local_out_result(ret: kernel::ffi::c_int) -> Result {
    if ret < 0 {
        Err(Error::from_errno(ret))
    } else if ret == 0 || ret as u32 == bindings::NET_XMIT_CN {
        Ok(())
    } else {
        Err(ENOBUFS)
    }
}

/// The route for `path` out of `ndev` in `net`.
fn route(net: *mut bindings::net, ndev: *mut bindings::net_device, path: &Path) -> Result<Dst> {
    // SAFETY: `net` is valid under the caller's RCU read lock, `ndev` is
    // held; the addresses are arrays of the sizes the glue reads; the
    // lookup returns a referenced route or an `ERR_PTR`.
    unsafe {
        match (path.src, path.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                Dst::from_lookup(bindings::rxe_rs_route4(net, ndev, s.as_ptr(), d.as_ptr()))
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => Dst::from_lookup(bindings::rxe_rs_route6(
                net,
                ndev,
                s.as_ptr(),
                d.as_ptr(),
                path.traffic_class,
                path.flow_label,
            )),
            _ => Err(EINVAL),
        }
    }
}

/// Pushes the UDP header: `path`'s source port to the RoCEv2 port, the
/// length, and no checksum (the ICRC covers the packet), as rxe sends it.
fn push_udp(skb: &mut TxSkb, path: &Path) -> Result {
    let len = u16::try_from(skb.len() + UDP_HDR_LEN).map_err(|_| EMSGSIZE)?;
    // SAFETY: `send` reserved room for the UDP and IP headers.
    unsafe { skb.push_transport(UDP_HDR_LEN as u32) };
    *skb.data_mut()
        .first_chunk_mut::<UDP_HDR_LEN>()
        .ok_or(EINVAL)? = udp_header(path.src_port, len);
    Ok(())
}

/// Pushes the IP header of `version`. The IPv4 header checksum is left to
/// `ip_local_out` (the ICRC does not cover it); its other fields are final
/// here, as the ICRC covers them.
fn push_ip(skb: &mut TxSkb, net: *mut bindings::net, path: &Path, version: IpVersion) -> Result {
    let total = skb.len() + version.hdr_len();
    match (version, path.src, path.dst) {
        (IpVersion::V4, IpAddr::V4(s), IpAddr::V4(d)) => {
            let tot_len = u16::try_from(total).map_err(|_| EMSGSIZE)?;
            // SAFETY: `send` reserved room for the IP header.
            unsafe { skb.push_network(IPV4_HDR_LEN as u32, bindings::ETH_P_IP as u16) };
            let hdr = skb
                .data_mut()
                .first_chunk_mut::<IPV4_HDR_LEN>()
                .ok_or(EINVAL)?;
            *hdr = ipv4_header(path.traffic_class, path.hop_limit, tot_len, s, d);
            // SAFETY: `hdr` is the packet's IPv4 header; `net` is valid
            // under the caller's RCU read lock. One segment.
            unsafe { bindings::__ip_select_ident(net, hdr.as_mut_ptr().cast(), 1) };
        }
        (IpVersion::V6, IpAddr::V6(s), IpAddr::V6(d)) => {
            let payload_len = u16::try_from(total - IPV6_HDR_LEN).map_err(|_| EMSGSIZE)?;
            // SAFETY: `send` reserved room for the IP header.
            unsafe { skb.push_network(IPV6_HDR_LEN as u32, bindings::ETH_P_IPV6 as u16) };
            let hdr = skb
                .data_mut()
                .first_chunk_mut::<IPV6_HDR_LEN>()
                .ok_or(EINVAL)?;
            *hdr = ipv6_header(
                path.traffic_class,
                path.flow_label,
                path.hop_limit,
                payload_len,
                &s,
                &d,
            );
        }
        _ => return Err(EINVAL),
    }
    Ok(())
}

/// Computes the ICRC over the final IP and UDP headers and the packet, and
/// writes it into the packet's last `ICRC_LEN` bytes.
fn fill_icrc(skb: &mut TxSkb, version: IpVersion) -> Result {
    let data = skb.data_mut();
    let (ip, rest) = data.split_at_mut_checked(version.hdr_len()).ok_or(EINVAL)?;
    let (udp, payload) = rest.split_at_mut_checked(UDP_HDR_LEN).ok_or(EINVAL)?;
    let ip = match version {
        IpVersion::V4 => IpHdr::V4(ip),
        IpVersion::V6 => IpHdr::V6(ip),
    };
    icrc_fill(ip, udp, payload).map(|_| ()).ok_or(EINVAL)
}
