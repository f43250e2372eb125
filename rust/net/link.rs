// SPDX-License-Identifier: GPL-2.0

//! The RDMA link type: `rdma link add NAME type rxe netdev DEV` lands in
//! [`newlink`], `rdma link del NAME` in [`dellink`].
//!
//! The type name comes from the `link_type` module parameter ("rxe" by
//! default), so that rxe-rs can live beside the C `rdma_rxe` in one kernel.
//! The RDMA core WARNs when a type is registered twice, so a taken name is
//! detected first and refused with one clear message.

use core::ptr::{addr_of_mut, NonNull};

use kernel::{prelude::*, types::Opaque};

use crate::{bindings, net::registry, proto, verbs::device};

/// Name of the short-lived entry used to look at the registered types.
const PROBE_TYPE: &CStr = c"rxe-rs-probe";

/// The registered link type.
///
/// INVARIANT: `ops` is on the RDMA core's list of link types from `new`
/// until drop; `name` outlives it (module parameter storage, which lives as
/// long as the module).
#[pin_data(PinnedDrop)]
pub(crate) struct LinkType {
    #[pin]
    ops: Opaque<bindings::rdma_link_ops>,
    name: &'static CStr,
}

// SAFETY: The ops are only touched by the RDMA core under its lock, and by
// `new`/`unregister`, which own them.
unsafe impl Sync for LinkType {}
// SAFETY: As above.
unsafe impl Send for LinkType {}

/// The `link_type` module parameter, validated.
fn link_type_param() -> Result<&'static CStr> {
    // SAFETY: The parameter is a NUL-terminated string (the C side never
    // returns NULL) stored for the module's lifetime; it is read-only
    // (mode 0444), so it cannot change under us.
    let name = unsafe { CStr::from_char_ptr(bindings::rxe_rs_link_type()) };
    if !proto::link::valid_link_type(name.to_bytes()) {
        pr_err!(
            "link_type {:?} is not valid: use 1 to {} lowercase letters, digits, '_' or '-', starting with a letter\n",
            name,
            proto::link::MAX_LINK_TYPE_LEN
        );
        return Err(EINVAL);
    }
    Ok(name)
}

/// Whether a link type named `name` is registered.
///
/// The core keeps its types on a list it exports no lookup for. Registering
/// a probe entry with a name nobody else uses puts us on that list; the
/// list head is then our predecessor, and one lap around the ring visits
/// every other type. The list only changes when a module registers or
/// unregisters a link type, and registration order between modules that
/// load at the same instant is not something this check can settle anyway.
fn type_registered(name: &CStr) -> bool {
    // SAFETY: Zeroes are a valid `rdma_link_ops` (no type, no callbacks).
    let mut probe: bindings::rdma_link_ops = unsafe { core::mem::zeroed() };
    probe.type_ = PROBE_TYPE.as_char_ptr();
    probe.newlink = Some(probe_newlink);
    let probe_ptr = addr_of_mut!(probe);
    // SAFETY: `probe` is a valid ops struct whose name is unique to us and
    // static, and whose `newlink` refuses; it stays in place (on this stack
    // frame) until unregistered below.
    unsafe { bindings::rdma_link_register(probe_ptr) };
    let mut found = false;
    // SAFETY: `probe` was just added at the head of the core's list: its
    // `prev` is the list head, every other node is the `list` member of a
    // registered `rdma_link_ops` whose `type_` is a NUL-terminated string.
    unsafe {
        let me = addr_of_mut!((*probe_ptr).list);
        let head = (*me).prev;
        let mut node = (*me).next;
        while node != head && node != me {
            let ops = node.cast::<bindings::rdma_link_ops>();
            let ty = (*ops).type_;
            if !ty.is_null() && CStr::from_char_ptr(ty) == name {
                found = true;
                break;
            }
            node = (*node).next;
        }
        bindings::rdma_link_unregister(probe_ptr);
    }
    found
}

/// `newlink` of the probe entry: someone typed its name; refuse.
///
/// # Safety
///
/// Called by the RDMA core (or the network stack) with valid pointers to
/// live objects of one of our devices, as its C prototype requires.
unsafe extern "C" fn probe_newlink(
    _ibdev_name: *const kernel::ffi::c_char,
    _ndev: *mut bindings::net_device,
) -> kernel::ffi::c_int {
    EOPNOTSUPP.to_errno()
}

impl LinkType {
    /// Registers the link type named by the `link_type` parameter, unless
    /// that name is invalid or taken.
    pub(crate) fn new() -> Result<impl PinInit<Self, Error>> {
        let name = link_type_param()?;
        if type_registered(name) {
            pr_err!(
                "RDMA link type {:?} is already registered (is rdma_rxe loaded?); load with link_type=<another name>\n",
                name
            );
            return Err(EEXIST);
        }
        Ok(try_pin_init!(LinkType {
            name,
            ops <- Opaque::ffi_init(move |ops: *mut bindings::rdma_link_ops| {
                // SAFETY: `ops` is valid pinned memory for the struct; it is
                // registered with a name that outlives it and callbacks that
                // stay valid while the module is loaded, and unregistered on
                // drop.
                unsafe {
                    ops.write(core::mem::zeroed());
                    (*ops).type_ = name.as_char_ptr();
                    (*ops).newlink = Some(newlink);
                    (*ops).dellink = Some(dellink);
                    bindings::rdma_link_register(ops);
                }
            }),
        }? Error))
    }

    /// The link type's name.
    pub(crate) fn name(&self) -> &CStr {
        self.name
    }
}

#[pinned_drop]
impl PinnedDrop for LinkType {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: Registered in `new` (type invariant). Waits for `newlink`
        // calls in flight.
        unsafe { bindings::rdma_link_unregister(self.ops.get()) };
    }
}

/// Says why a `rdma link add` was refused, rate-limited: the caller only
/// gets an errno, an administrator wants to know which rule it broke.
fn refuse(err: Error, why: core::fmt::Arguments<'_>) -> kernel::ffi::c_int {
    // SAFETY: No preconditions.
    if unsafe { bindings::rxe_rs_ratelimit() } {
        pr_info!("{}\n", why);
    }
    err.to_errno()
}

/// `rdma link add NAME type <link_type> netdev DEV`.
///
/// # Safety
///
/// Called by the RDMA core with a NUL-terminated `ibdev_name` and a netdev
/// it holds a reference on for the duration of the call.
unsafe extern "C" fn newlink(
    ibdev_name: *const kernel::ffi::c_char,
    ndev: *mut bindings::net_device,
) -> kernel::ffi::c_int {
    let Some(ndev) = NonNull::new(ndev) else {
        return EINVAL.to_errno();
    };
    // SAFETY: NUL-terminated (caller).
    let name = unsafe { CStr::from_char_ptr(ibdev_name) };
    // SAFETY: `ndev` is live (caller).
    let ndev_name = unsafe { CStr::from_char_ptr(bindings::rxe_rs_netdev_name(ndev.as_ptr())) };

    // SAFETY: `ndev` is live.
    if unsafe { bindings::rxe_rs_is_vlan_dev(ndev.as_ptr()) } {
        return refuse(
            EPERM,
            format_args!(
                "{name:?}: {ndev_name:?} is a VLAN device; create the device on the real one"
            ),
        );
    }
    if registry::has_netdev(ndev.as_ptr()) || c_rxe_on(ndev) {
        return refuse(
            EEXIST,
            format_args!("{name:?}: {ndev_name:?} already has an rxe device"),
        );
    }
    // SAFETY: `ndev` is live for the call (caller).
    match unsafe { device::create(name, ndev) } {
        Ok(()) => 0,
        Err(e) if e == EEXIST => refuse(
            e,
            format_args!("{name:?}: name or netdev {ndev_name:?} already in use"),
        ),
        Err(e) if e == EADDRINUSE => refuse(
            e,
            format_args!(
                "{name:?}: UDP port {} is already in use in the network namespace of {ndev_name:?} (by rdma_rxe?)",
                proto::ip::ROCE_V2_UDP_PORT
            ),
        ),
        Err(e) => refuse(
            e,
            format_args!(
                "{name:?}: cannot create on {ndev_name:?}: error {}",
                e.to_errno()
            ),
        ),
    }
}

/// Whether the C `rdma_rxe` has a device on `ndev` (it shares our driver
/// id, so the core can tell us).
fn c_rxe_on(ndev: NonNull<bindings::net_device>) -> bool {
    // SAFETY: `ndev` is live; a device found comes with a reference.
    let ibdev =
        unsafe { bindings::ib_device_get_by_netdev(ndev.as_ptr(), bindings::RDMA_DRIVER_RXE) };
    if ibdev.is_null() {
        return false;
    }
    // SAFETY: The reference taken by the lookup.
    unsafe { bindings::ib_device_put(ibdev) };
    true
}

/// `rdma link del NAME`: nothing to do before the core unregisters the
/// device; `dealloc_driver` releases everything.
///
/// # Safety
///
/// Called by the RDMA core (or the network stack) with valid pointers to
/// live objects of one of our devices, as its C prototype requires.
unsafe extern "C" fn dellink(_ibdev: *mut bindings::ib_device) -> kernel::ffi::c_int {
    0
}
