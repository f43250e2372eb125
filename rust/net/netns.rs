// SPDX-License-Identifier: GPL-2.0

//! Per-network-namespace state: the UDP tunnel sockets (tunnel.rs) of every
//! namespace that has rxe-rs devices.
//!
//! # Lifetime
//!
//! A namespace's sockets are opened when the first device whose netdev
//! lives there is created, and released when the last such device is
//! deallocated: each device holds a [`Membership`], a count on its
//! namespace's entry, taken in `create` and dropped in `dealloc_driver`.
//! The entries live on one list under one mutex, which serializes opening
//! and releasing: a device created right after the last one of its
//! namespace went away finds the port free again, never half released.
//!
//! Entries are keyed by the namespace's cookie, which is unique and never
//! reused while the system runs, and a device remembers only that cookie,
//! never a pointer to the entry or to the namespace. So nothing dangles
//! when
//!
//! - the namespace is deleted: our pernet `exit` callback releases its
//!   entry, whatever its count (netns cleanup first waits for the netdev
//!   references our devices hold, so normally nothing is left by then);
//!   a device that still counts on it later finds no entry and does
//!   nothing;
//! - the netdev moves to another namespace (which does not wait for our
//!   references): the device's count stays with the namespace it was
//!   created in, and is dropped there (the device itself is unregistered,
//!   as the netdev notifier treats the move as an unregistration);
//! - the module is unloaded: unregistering the pernet operations runs
//!   `exit` for every namespace, releasing every entry left.
//!
//! Releasing takes the sockets out of the UDP layer and waits for an RCU
//! grace period (no `encap_rcv` runs on them afterwards); packets already
//! queued on their QPs are processed, or dropped, by the QPs' work.

use core::ptr::NonNull;

use kernel::{
    error::to_result,
    prelude::*,
    sync::{global_lock, rcu},
    types::Opaque,
};

use crate::{bindings, net::tunnel::Tunnel};

/// A namespace's entry.
struct Entry {
    /// The namespace's cookie.
    cookie: u64,
    /// Devices created in the namespace and not yet deallocated.
    users: usize,
    /// Held for its sockets, released when the entry goes.
    _tunnel: Tunnel,
}

/// Everything under the mutex.
struct Nets {
    entries: KVec<Entry>,
}

global_lock! {
    // SAFETY: Initialized by `Subsys::new` at module load, before any use.
    unsafe(uninit) static NETS: Mutex<Nets> = Nets {
        entries: KVec::new(),
    };
}

/// A reference on a network namespace.
///
/// INVARIANT: holds a reference on `0` (`maybe_get_net`).
struct NetRef(NonNull<bindings::net>);

impl NetRef {
    /// The namespace `ndev` is in now, unless it is being dismantled.
    ///
    /// # Safety
    ///
    /// `ndev` must be a live netdev.
    unsafe fn of_netdev(ndev: NonNull<bindings::net_device>) -> Option<Self> {
        let _rcu = rcu::read_lock();
        // SAFETY: `ndev` is live (caller); under RCU its namespace is too.
        let net = unsafe { bindings::rxe_rs_dev_net_rcu(ndev.as_ptr()) };
        // SAFETY: As above; fails if the namespace's count is already 0.
        // INVARIANT: A reference, if not NULL.
        NonNull::new(unsafe { bindings::rxe_rs_maybe_get_net(net) }).map(NetRef)
    }

    fn as_ptr(&self) -> *mut bindings::net {
        self.0.as_ptr()
    }

    fn cookie(&self) -> u64 {
        // SAFETY: Held (type invariant).
        unsafe { bindings::rxe_rs_net_cookie(self.as_ptr()) }
    }
}

impl Drop for NetRef {
    fn drop(&mut self) {
        // SAFETY: The reference held (type invariant).
        unsafe { bindings::rxe_rs_put_net(self.as_ptr()) };
    }
}

/// A device's count on the namespace its netdev was in at creation.
///
/// INVARIANT: counts once in the `users` of the entry with cookie
/// `cookie`, while that entry exists.
pub(crate) struct Membership {
    cookie: u64,
}

impl Membership {
    /// Counts a new device on `ndev` in its namespace, opening the
    /// namespace's sockets if it is the first. `EADDRINUSE` if the RoCEv2
    /// port is already bound there (say, by the C `rdma_rxe`); `ENODEV` if
    /// the namespace is going away.
    ///
    /// # Safety
    ///
    /// `ndev` must be a live netdev.
    pub(crate) unsafe fn join(ndev: NonNull<bindings::net_device>) -> Result<Self> {
        // Declared first, dropped last: after the lock is released.
        // SAFETY: `ndev` is live (caller).
        let net = unsafe { NetRef::of_netdev(ndev) }.ok_or(ENODEV)?;
        let cookie = net.cookie();
        let mut nets = NETS.lock();
        if let Some(e) = nets.entries.iter_mut().find(|e| e.cookie == cookie) {
            e.users += 1;
            // INVARIANT: Counted.
            return Ok(Membership { cookie });
        }
        // Room first, so that nothing can fail once the sockets are open.
        nets.entries.reserve(1, GFP_KERNEL)?;
        // SAFETY: `net` is held.
        let tunnel = unsafe { Tunnel::open(net.as_ptr())? };
        nets.entries.push(
            Entry {
                cookie,
                users: 1,
                _tunnel: tunnel,
            },
            GFP_KERNEL,
        )?;
        // INVARIANT: Counted in the new entry.
        Ok(Membership { cookie })
    }
}

impl Drop for Membership {
    fn drop(&mut self) {
        let mut nets = NETS.lock();
        let Some(i) = nets.entries.iter().position(|e| e.cookie == self.cookie) else {
            // The namespace went away first.
            return;
        };
        let Some(e) = nets.entries.get_mut(i) else {
            return;
        };
        e.users -= 1;
        if e.users == 0 {
            // Released under the lock: see the module documentation.
            drop(nets.entries.remove(i));
        }
    }
}

/// The pernet `exit` callback: a namespace is being dismantled (or the
/// module unloaded); its sockets go, whoever still counts on them.
///
/// # Safety
///
/// Called by the network namespace code with a namespace that is still
/// valid.
unsafe extern "C" fn exit(net: *mut bindings::net) {
    // SAFETY: Valid for the call (caller).
    let cookie = unsafe { bindings::rxe_rs_net_cookie(net) };
    let mut nets = NETS.lock();
    if let Some(i) = nets.entries.iter().position(|e| e.cookie == cookie) {
        drop(nets.entries.remove(i));
    }
}

/// The registered pernet operations, for as long as the module is loaded.
///
/// INVARIANT: `ops` is registered with `register_pernet_subsys` from `new`
/// until drop.
#[pin_data(PinnedDrop)]
pub(crate) struct Subsys {
    #[pin]
    ops: Opaque<bindings::pernet_operations>,
}

// SAFETY: The operations are only touched by the namespace code (under its
// own locking) and by `new`/`drop`, which own them.
unsafe impl Sync for Subsys {}
// SAFETY: As above.
unsafe impl Send for Subsys {}

impl Subsys {
    /// Initializes the namespace list and registers the pernet operations.
    /// Called once, at module load, before any device can be created.
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        // SAFETY: Called once, from module initialization.
        unsafe { NETS.init() };
        try_pin_init!(Subsys {
            ops <- Opaque::try_ffi_init(|ops: *mut bindings::pernet_operations| {
                // SAFETY: `ops` is valid, pinned memory that stays
                // registered until drop; zeroes mean no other callback and
                // no per-namespace storage (we keep our own list).
                unsafe {
                    ops.write(core::mem::zeroed());
                    (*ops).exit = Some(exit);
                    to_result(bindings::register_pernet_subsys(ops))
                }
            }),
        }? Error)
    }
}

#[pinned_drop]
impl PinnedDrop for Subsys {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered in `new` (type invariant). Runs `exit` for
        // every namespace, which releases every entry left.
        unsafe { bindings::unregister_pernet_subsys(self.ops.get()) };
        // The static is never dropped: free the list's buffer.
        NETS.lock().entries = KVec::new();
    }
}
