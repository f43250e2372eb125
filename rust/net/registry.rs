// SPDX-License-Identifier: GPL-2.0

//! The devices this module created.
//!
//! The netdev notifier and the receive path look devices up here by
//! netdev, and unloading takes every one of them down. The RDMA core's own lookups cannot serve: they
//! match by driver id, which the C `rdma_rxe` shares, and a device of the
//! other driver must never be mistaken for one of ours.

use core::{ops::Deref, ptr::NonNull};

use kernel::{prelude::*, sync::global_lock};

use crate::{bindings, verbs::device::RxeDev};

/// A device on the registry.
///
/// INVARIANT: points to an `RxeDev` whose state is initialized; the entry
/// is removed from both lists, under their locks, by `dealloc_driver`
/// before the state is dropped and the RDMA core frees the memory.
#[derive(Clone, Copy)]
pub(crate) struct DevPtr(NonNull<RxeDev>);

// SAFETY: A `DevPtr` is only dereferenced under the lock of a list it is
// on, which keeps the device alive (type invariant); `RxeDev` is `Sync`.
unsafe impl Send for DevPtr {}

impl DevPtr {
    /// # Safety
    ///
    /// `dev`'s state must be initialized and stay so until `dealloc_driver`.
    pub(crate) unsafe fn new(dev: NonNull<RxeDev>) -> Self {
        DevPtr(dev)
    }

    fn dev(&self) -> &RxeDev {
        // SAFETY: Live while on the registry (type invariant); callers hold
        // the registry lock.
        unsafe { self.0.as_ref() }
    }
}

global_lock! {
    // SAFETY: Initialized by `init` in module initialization, before any use.
    unsafe(uninit) static DEVICES: Mutex<KVec<DevPtr>> = KVec::new();
}

global_lock! {
    // SAFETY: As above.
    unsafe(uninit) static BY_NETDEV: SpinLockIrq<KVec<DevPtr>> = KVec::new();
}

/// Makes the receive path's copy of the list the same as `devices` (which
/// the caller holds locked): a new copy, swapped in under the spinlock, so
/// that nothing allocates or frees under it.
fn publish(devices: &KVec<DevPtr>) -> Result {
    let mut copy = KVec::with_capacity(devices.len(), GFP_KERNEL)?;
    for d in devices.iter() {
        copy.push(*d, GFP_KERNEL)?;
    }
    let old = core::mem::replace(&mut *BY_NETDEV.lock(), copy);
    drop(old);
    Ok(())
}

/// The registry while the module is loaded: dropping it unregisters every
/// device left.
pub(crate) struct Devices(());

impl Devices {
    /// Initializes the registry. Called once, first thing at module load.
    pub(crate) fn init() -> Self {
        // SAFETY: Called exactly once, from module initialization.
        unsafe { DEVICES.init() };
        // SAFETY: As above.
        unsafe { BY_NETDEV.init() };
        Devices(())
    }
}

impl Drop for Devices {
    fn drop(&mut self) {
        unregister_all();
        // The statics are never dropped: free the lists' buffers.
        *DEVICES.lock() = KVec::new();
        let old = core::mem::take(&mut *BY_NETDEV.lock());
        drop(old);
    }
}

/// RTNL held for the life of the guard.
struct Rtnl;

impl Rtnl {
    fn lock() -> Self {
        // SAFETY: No preconditions; released in `drop`.
        unsafe { bindings::rtnl_lock() };
        Rtnl
    }
}

impl Drop for Rtnl {
    fn drop(&mut self) {
        // SAFETY: Taken in `lock`.
        unsafe { bindings::rtnl_unlock() };
    }
}

/// Adds a device, unless its netdev already has one of ours or is going
/// away. Under RTNL, so that the netdev notifier (which runs under RTNL)
/// either sees the device or has finished before the netdev is checked.
pub(crate) fn add(entry: DevPtr) -> Result {
    let ndev = entry.dev().ndev();
    let _rtnl = Rtnl::lock();
    // SAFETY: The device holds a reference on `ndev`.
    if !unsafe { bindings::rxe_rs_netdev_registered(ndev) } {
        return Err(ENODEV);
    }
    let mut devices = DEVICES.lock();
    if devices.iter().any(|d| d.dev().ndev() == ndev) {
        return Err(EEXIST);
    }
    devices.push(entry, GFP_KERNEL)?;
    if let Err(e) = publish(&devices) {
        devices.pop();
        return Err(e);
    }
    Ok(())
}

/// Removes a device (from `dealloc_driver`); absent entries are fine.
pub(crate) fn remove(dev: NonNull<RxeDev>) {
    let mut devices = DEVICES.lock();
    let Some(i) = devices.iter().position(|d| d.0 == dev) else {
        return;
    };
    // Out of the receive path's list first: a copy without the device, or,
    // without memory for one, an empty list until the next change (packets
    // for the other devices are dropped meanwhile; the device must go).
    let mut copy = KVec::new();
    for d in devices.iter().filter(|d| d.0 != dev) {
        if copy.push(*d, GFP_KERNEL).is_err() {
            copy = KVec::new();
            break;
        }
    }
    let old = core::mem::replace(&mut *BY_NETDEV.lock(), copy);
    drop(old);
    // `i` is in bounds: `position` found it.
    let _ = devices.remove(i);
}

/// Whether one of our devices sits on `ndev`.
pub(crate) fn has_netdev(ndev: *mut bindings::net_device) -> bool {
    DEVICES.lock().iter().any(|d| d.dev().ndev() == ndev)
}

/// Calls `f` for our device on `ndev`, if any, with the registry locked.
pub(crate) fn with_netdev(ndev: *mut bindings::net_device, f: impl FnOnce(&RxeDev)) {
    let devices = DEVICES.lock();
    if let Some(d) = devices.iter().find(|d| d.dev().ndev() == ndev) {
        f(d.dev());
    }
}

/// One of our devices, registered and held there: while this lives, the
/// device cannot be unregistered, so its state cannot go.
///
/// INVARIANT: `0` is one of our devices, on which this holds an
/// `ib_device` reference taken by `ib_device_try_get`.
pub(crate) struct DevRef(NonNull<RxeDev>);

impl Deref for DevRef {
    type Target = RxeDev;

    fn deref(&self) -> &RxeDev {
        // SAFETY: The reference keeps the device registered (type
        // invariant), and registered devices are initialized.
        unsafe { self.0.as_ref() }
    }
}

impl Drop for DevRef {
    fn drop(&mut self) {
        // SAFETY: The reference taken in `get` (type invariant).
        unsafe { bindings::ib_device_put(self.ibdev()) };
    }
}

/// Our device on `ndev`, if there is one and it is registered (not still
/// registering, nor unregistering), held. Any context (the receive path
/// looks up in softirq); the list's spinlock is only held for the lookup.
pub(crate) fn get(ndev: *mut bindings::net_device) -> Option<DevRef> {
    let devices = BY_NETDEV.lock();
    let d = devices.iter().find(|d| d.dev().ndev() == ndev)?;
    // SAFETY: Live while on the registry, which we hold locked.
    if !unsafe { bindings::rxe_rs_ib_device_try_get(d.dev().ibdev()) } {
        return None;
    }
    // INVARIANT: Ours, and held by the reference just taken.
    Some(DevRef(d.0))
}

/// Unregisters every device (module unload). New devices cannot appear: the
/// link type is gone by then.
fn unregister_all() {
    loop {
        let ibdev = {
            let devices = DEVICES.lock();
            let Some(d) = devices.first() else { break };
            let ibdev = d.dev().ibdev();
            // SAFETY: Live under the lock; the device reference keeps the
            // memory after the lock is dropped.
            unsafe { bindings::get_device(bindings::rxe_rs_ibdev_device(ibdev)) };
            ibdev
        };
        // SAFETY: We hold a device reference. Unregistering runs
        // `dealloc_driver` (which removes the entry) or waits for the
        // unregistration already running to do so.
        unsafe {
            bindings::ib_unregister_device(ibdev);
            bindings::put_device(bindings::rxe_rs_ibdev_device(ibdev));
        }
    }
}
