// SPDX-License-Identifier: GPL-2.0

//! Netdev events: a device follows the netdev under it. The port goes up
//! and down with the link, the MTU follows, and the device goes away when
//! the netdev does (also when its network namespace is deleted). Also the
//! counted reference a device keeps on its netdev ([`NetdevRef`]).

use core::ptr::NonNull;

use kernel::{error::to_result, prelude::*, types::Opaque};

use crate::{
    bindings,
    net::registry,
    verbs::{counters::Counter, device::RxeDev},
};

/// The registered netdev notifier.
///
/// INVARIANT: `nb` is registered with the network stack from `new` until
/// `drop`.
#[pin_data(PinnedDrop)]
pub(crate) struct Notifier {
    #[pin]
    nb: Opaque<bindings::notifier_block>,
}

// SAFETY: The notifier block is only touched by the network stack (under its
// own locking) and by `new`/`drop`, which own it.
unsafe impl Sync for Notifier {}
// SAFETY: As above.
unsafe impl Send for Notifier {}

impl Notifier {
    /// Registers the notifier.
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        try_pin_init!(Notifier {
            nb <- Opaque::try_ffi_init(|nb: *mut bindings::notifier_block| {
                // SAFETY: `nb` is valid, pinned memory for a notifier block;
                // zeroes are a valid start for it.
                unsafe {
                    nb.write(core::mem::zeroed());
                    (*nb).notifier_call = Some(notify);
                    to_result(bindings::register_netdevice_notifier(nb))
                }
            }),
        }? Error)
    }
}

#[pinned_drop]
impl PinnedDrop for Notifier {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered in `new` (type invariant).
        unsafe { bindings::unregister_netdevice_notifier(self.nb.get()) };
    }
}

/// The notifier callback; runs under RTNL.
///
/// # Safety
///
/// Called by the network stack with `arg` a `netdev_notifier_info`.
unsafe extern "C" fn notify(
    _nb: *mut bindings::notifier_block,
    event: kernel::ffi::c_ulong,
    arg: *mut kernel::ffi::c_void,
) -> kernel::ffi::c_int {
    // SAFETY: `arg` is the notifier info of a netdev event (caller).
    let ndev = unsafe { bindings::rxe_rs_netdev_notifier_info_to_dev(arg) };
    let Ok(event) = u32::try_from(event) else {
        return bindings::NOTIFY_DONE as i32;
    };
    registry::with_netdev(ndev, |dev| match event {
        bindings::NETDEV_UNREGISTER => dev.netdev_unregistering(),
        bindings::NETDEV_CHANGEMTU => {
            // SAFETY: The netdev of an event is live while it is notified.
            dev.set_netdev_mtu(unsafe { bindings::rxe_rs_netdev_mtu(ndev) })
        }
        bindings::NETDEV_UP => dev.port_state_changed(),
        bindings::NETDEV_DOWN | bindings::NETDEV_CHANGE => {
            count_link_down(dev, ndev);
            dev.port_state_changed()
        }
        _ => {}
    });
    bindings::NOTIFY_DONE as i32
}

/// Counts `link_downed` if the port is down after a netdev going down or
/// changing carrier, as rxe does.
fn count_link_down(dev: &RxeDev, ndev: *mut bindings::net_device) {
    // SAFETY: The device holds a reference on its netdev.
    if unsafe { bindings::rxe_rs_port_state(ndev) } == bindings::IB_PORT_DOWN {
        dev.counters().inc(Counter::LinkDowned);
    }
}

/// A reference on a netdev, recorded with the kernel's netdev reference
/// tracker (`CONFIG_NET_DEV_REFCNT_TRACKER`), so that a netdev that cannot
/// be unregistered names this holder, with the stack that took it.
///
/// INVARIANT: holds a reference on `ndev`, taken with `tracker`.
pub(crate) struct NetdevRef {
    ndev: NonNull<bindings::net_device>,
    tracker: bindings::netdevice_tracker,
}

// SAFETY: A netdev reference may be taken and dropped on any thread.
unsafe impl Send for NetdevRef {}
// SAFETY: `&NetdevRef` only gives out the pointer.
unsafe impl Sync for NetdevRef {}

impl NetdevRef {
    /// Takes a reference on `ndev`; may sleep.
    ///
    /// # Safety
    ///
    /// `ndev` must be a live netdev for the duration of the call.
    pub(crate) unsafe fn new(ndev: NonNull<bindings::net_device>) -> Self {
        // SAFETY: A tracker is a pointer or an empty struct (without the
        // tracker): all zeroes is its unused state.
        let mut tracker: bindings::netdevice_tracker = unsafe { core::mem::zeroed() };
        // SAFETY: `ndev` is live (caller). The tracker records a pointer to
        // its own allocation, not to `tracker`'s address, so it may move.
        unsafe { bindings::rxe_rs_netdev_hold(ndev.as_ptr(), &mut tracker) };
        // INVARIANT: Taken just above.
        NetdevRef { ndev, tracker }
    }

    /// The netdev (live while `self` is).
    pub(crate) fn as_ptr(&self) -> *mut bindings::net_device {
        self.ndev.as_ptr()
    }
}

impl Drop for NetdevRef {
    fn drop(&mut self) {
        // SAFETY: The reference and tracker taken in `new` (type invariant),
        // put once.
        unsafe { bindings::rxe_rs_netdev_put(self.ndev.as_ptr(), &mut self.tracker) };
    }
}
