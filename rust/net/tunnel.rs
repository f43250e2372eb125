// SPDX-License-Identifier: GPL-2.0

//! The UDP tunnel sockets of one network namespace: one on the RoCEv2 port
//! for IPv4 and one for IPv6 (v6only), as rxe_net.c sets them up. Their
//! encapsulation callback runs in softirq context for every datagram; it
//! takes the packet over and hands it to the receive path (`recv`), which
//! queues it on its QP.

use core::ptr::NonNull;

use kernel::{error::to_result, prelude::*, sync::rcu};

use crate::{
    bindings,
    net::{recv, skb::RxSkb},
    proto::ip::ROCE_V2_UDP_PORT,
};

/// The encapsulation type rxe gives its sockets (any non-zero value makes
/// the UDP layer call `encap_rcv`).
const ENCAP_TYPE: u8 = 1;

/// A kernel UDP socket bound to the RoCEv2 port, set up as a tunnel.
///
/// INVARIANT: `0` is a socket from `udp_sock_create4/6` set up with
/// `setup_udp_tunnel_sock`, whose user data is [`OPEN`] until it is
/// released by the `drop` of the [`Tunnel`] that owns it.
struct Sock(NonNull<bindings::socket>);

impl Sock {
    /// Creates and sets up the socket of address family `family` in `net`.
    ///
    /// # Safety
    ///
    /// `net` must be a namespace the caller holds a reference on.
    unsafe fn open(net: *mut bindings::net, family: u32) -> Result<Self> {
        // SAFETY: Plain data; zeroes are its defaults (any local address,
        // no peer, no checksum options).
        let mut cfg: bindings::udp_port_cfg = unsafe { core::mem::zeroed() };
        cfg.family = family as u8;
        cfg.local_udp_port = ROCE_V2_UDP_PORT.to_be();
        let mut sock: *mut bindings::socket = core::ptr::null_mut();
        // SAFETY: `net` is live (caller); `cfg` and `sock` are valid for
        // the call, which fills `sock` on success.
        let ret = unsafe {
            if family == bindings::AF_INET6 {
                cfg.set_ipv6_v6only(1);
                bindings::udp_sock_create6(net, &mut cfg, &mut sock)
            } else {
                bindings::udp_sock_create4(net, &mut cfg, &mut sock)
            }
        };
        to_result(ret)?;
        let sock = NonNull::new(sock).ok_or(EINVAL)?;
        // SAFETY: Plain data; zeroes mean no callbacks.
        let mut tcfg: bindings::udp_tunnel_sock_cfg = unsafe { core::mem::zeroed() };
        tcfg.sk_user_data = core::ptr::from_ref(&OPEN).cast_mut().cast();
        tcfg.encap_type = ENCAP_TYPE;
        tcfg.encap_rcv = Some(encap_rcv);
        // SAFETY: `sock` is the fresh socket; `net` is its namespace. From
        // here on `encap_rcv` may run.
        unsafe {
            bindings::setup_udp_tunnel_sock(
                net,
                bindings::rxe_rs_socket_sk(sock.as_ptr()),
                &mut tcfg,
            )
        };
        // INVARIANT: Set up as described; owned by the caller's tunnel.
        Ok(Sock(sock))
    }

    /// Clears the user data, shuts the socket down and releases it. Calls
    /// of `encap_rcv` that read the user data before may still run: see
    /// [`Tunnel`]'s drop.
    fn release(self) {
        // SAFETY: Our socket (type invariant), released once (by value).
        unsafe { bindings::udp_tunnel_sock_release(bindings::rxe_rs_socket_sk(self.0.as_ptr())) };
    }
}

/// What an open socket's user data points to: a socket being released has
/// none, and its `encap_rcv` drops what it is still handed. (Aligned: the
/// socket layer keeps flags in the pointer's low bits.)
static OPEN: u64 = 0;

/// The tunnel sockets of one namespace.
pub(crate) struct Tunnel {
    v4: Option<Sock>,
    v6: Option<Sock>,
}

// SAFETY: The sockets are only used to be released, which any thread may
// do.
unsafe impl Send for Tunnel {}

impl Tunnel {
    /// Opens the sockets in `net`. `EADDRINUSE` if the
    /// port is taken there, for IPv4 or IPv6. A kernel without IPv6 (or a
    /// namespace where it is off) gets the IPv4 socket only, as with rxe.
    ///
    /// # Safety
    ///
    /// `net` must be a namespace the caller holds a reference on.
    pub(crate) unsafe fn open(net: *mut bindings::net) -> Result<Self> {
        let mut t = Tunnel { v4: None, v6: None };
        // SAFETY: `net` is held (caller).
        t.v4 = Some(unsafe { Sock::open(net, bindings::AF_INET)? });
        // SAFETY: As above.
        match unsafe { Sock::open(net, bindings::AF_INET6) } {
            Ok(s) => t.v6 = Some(s),
            Err(e) if e == EAFNOSUPPORT => {}
            Err(e) => return Err(e),
        }
        Ok(t)
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        let socks = [self.v4.take(), self.v6.take()];
        if socks.iter().all(Option::is_none) {
            return;
        }
        for s in socks.into_iter().flatten() {
            s.release();
        }
        // The receive path calls `encap_rcv` under RCU: once a grace period
        // has passed, none is still running on these sockets (nor, at
        // module unload, in the module's code).
        // SAFETY: No preconditions; we hold no RCU read lock.
        unsafe { bindings::synchronize_rcu() };
    }
}

/// The sockets' `encap_rcv`, in softirq context: hands the packet to the
/// receive path. Always consumes it (returns 0).
///
/// # Safety
///
/// Called by the UDP layer for one of our sockets, with a packet whose data
/// starts at the UDP header, which it hands over.
unsafe extern "C" fn encap_rcv(
    sk: *mut bindings::sock,
    skb: *mut bindings::sk_buff,
) -> kernel::ffi::c_int {
    let Some(skb) = NonNull::new(skb) else {
        return 0;
    };
    let _rcu = rcu::read_lock();
    // SAFETY: A received packet handed over to us, under RCU (caller).
    let Some(skb) = (unsafe { RxSkb::from_encap(skb) }) else {
        return 0;
    };
    // SAFETY: `sk` is our socket; the RCU read lock is held.
    if unsafe { bindings::rxe_rs_sk_user_data(sk) }.is_null() {
        // Being released.
        return 0;
    }
    recv::dispatch(skb);
    0
}
