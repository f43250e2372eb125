// SPDX-License-Identifier: GPL-2.0

//! One rxe-rs device: the `ib_device` the RDMA core sees, the netdev under
//! it, and the attributes behind the device and port queries.
//!
//! A device is born in [`create`] (called for `rdma link add`) and dies in
//! [`dealloc_driver`], which the RDMA core calls exactly once, whether the
//! device goes away through `rdma link del`, the netdev's unregistration,
//! the module's unloading or a failed registration.

use core::ptr::{addr_of_mut, NonNull};

use kernel::{
    error::to_result,
    prelude::*,
    sync::{
        atomic::{Atomic, Full, Relaxed},
        Arc,
    },
};

use crate::{
    bindings,
    net::{netdev::NetdevRef, netns, registry},
    proto::{guid, mtu::IbMtu, params},
    transport::qp::Qp,
    verbs,
    verbs::{
        ah::AhInner,
        counters::Counters,
        mr::Mr,
        pool::{IdTable, Limit},
        srq::Srq,
    },
};

/// The driver's part of a device, after the RDMA core's.
#[pin_data]
pub(crate) struct DevState {
    /// The netdev's hardware address (or a random one for a netdev with
    /// none): the source of the node, port and system image GUIDs.
    mac: [u8; 6],
    /// Device attributes, fixed at creation.
    attr: bindings::ib_device_attr,
    /// The port's active MTU, an `enum ib_mtu` value; follows the netdev.
    active_mtu: Atomic<u32>,
    /// The QP whose doorbell rang last, and until when (jiffies) doorbells
    /// count as those of several QPs ([`RxeDev::doorbell_alone`]).
    last_doorbell: Atomic<u32>,
    mixed_until: Atomic<u64>,
    /// Set once the netdev is being unregistered: the device must follow it.
    netdev_gone: Atomic<bool>,
    /// User contexts and protection domains in use, against their limits.
    pub(crate) ucontexts: Limit,
    pub(crate) pds: Limit,
    pub(crate) cqs: Limit,
    pub(crate) mr_count: Limit,
    pub(crate) qp_count: Limit,
    pub(crate) ah_count: Limit,
    pub(crate) srq_count: Limit,
    /// SRQs by number.
    #[pin]
    srqs: IdTable<Arc<Srq>>,
    /// User AHs by number.
    #[pin]
    ahs: IdTable<Arc<AhInner>>,
    /// QPs by QPN.
    #[pin]
    qps: IdTable<Arc<Qp>>,
    /// MRs by key index.
    #[pin]
    mrs: IdTable<Arc<Mr>>,
    /// The hardware counters (`rdma statistic`).
    counters: Counters,
    /// The count on the namespace whose tunnel sockets receive for us.
    _netns: netns::Membership,
    /// The netdev under the device, held until the device is freed. Last,
    /// so dropped last: the fields above may still use it when they go.
    ///
    /// Not let go earlier, when the netdev is unregistered, although the
    /// netdev's unregistration then waits for the device's (which on a
    /// debug kernel under emulation can take long enough for the network
    /// stack to log that it is waiting): a namespace being deleted must
    /// not get past its netdevs while the RDMA core still removes the
    /// device's per-namespace compat devices, whose removal announces
    /// itself on the namespace's uevent socket (freed once the namespace
    /// gets past them). The C rxe's reference, the core's, goes right after
    /// those compat devices.
    ndev: NetdevRef,
}

/// An rxe-rs device.
///
/// INVARIANT: `state` is initialized from the end of [`create`]'s
/// `init_state` until [`dealloc_driver`] drops it; the RDMA core only calls
/// the device's ops in between.
#[repr(C)]
pub(crate) struct RxeDev {
    /// Must be first: the RDMA core allocates and frees the whole struct
    /// through this member (`_ib_alloc_device` with our size).
    ibdev: bindings::ib_device,
    state: DevState,
}

// SAFETY: The RDMA core calls a device's ops from any thread; every field of
// `DevState` that changes after creation is atomic, the rest is read-only.
unsafe impl Sync for RxeDev {}
// SAFETY: As above; nothing in it is tied to a thread.
unsafe impl Send for RxeDev {}

impl RxeDev {
    /// The rxe-rs device behind an `ib_device` of ours.
    ///
    /// # Safety
    ///
    /// `ibdev` must be the `ibdev` field of a live `RxeDev` whose state is
    /// initialized (any `ib_device` the RDMA core passes to our ops).
    pub(crate) unsafe fn from_ibdev<'a>(ibdev: *mut bindings::ib_device) -> &'a RxeDev {
        // SAFETY: `ibdev` is the first field of a `#[repr(C)]` `RxeDev`, so
        // the pointers are equal; the caller promises it is live.
        unsafe { &*ibdev.cast::<RxeDev>() }
    }

    /// The `ib_device` for calls into the RDMA core.
    pub(crate) fn ibdev(&self) -> *mut bindings::ib_device {
        core::ptr::from_ref(&self.ibdev).cast_mut()
    }

    /// The netdev under the device (a reference is held while it lives).
    pub(crate) fn ndev(&self) -> *mut bindings::net_device {
        self.state.ndev.as_ptr()
    }

    /// The device attributes reported by `query_device`.
    pub(crate) fn attr(&self) -> &bindings::ib_device_attr {
        &self.state.attr
    }

    /// The port's active MTU as an `enum ib_mtu` value.
    pub(crate) fn active_mtu(&self) -> u32 {
        self.state.active_mtu.load(Relaxed)
    }

    /// Follows a change of the netdev's MTU.
    pub(crate) fn set_netdev_mtu(&self, netdev_mtu: u32) {
        self.state
            .active_mtu
            .store(IbMtu::for_netdev(netdev_mtu) as u32, Relaxed);
    }

    /// The MR table.
    pub(crate) fn mrs(&self) -> &IdTable<Arc<Mr>> {
        &self.state.mrs
    }

    /// The user AH table.
    pub(crate) fn ahs(&self) -> &IdTable<Arc<AhInner>> {
        &self.state.ahs
    }

    /// The SRQ table.
    pub(crate) fn srqs(&self) -> &IdTable<Arc<Srq>> {
        &self.state.srqs
    }

    /// The QP table.
    pub(crate) fn qps(&self) -> &IdTable<Arc<Qp>> {
        &self.state.qps
    }

    /// The hardware counters.
    pub(crate) fn counters(&self) -> &Counters {
        &self.state.counters
    }

    /// Counters of objects in use.
    pub(crate) fn state(&self) -> &DevState {
        &self.state
    }

    /// Whether the netdev is going away (its unregistration has begun).
    pub(crate) fn netdev_gone(&self) -> bool {
        self.state.netdev_gone.load(Relaxed)
    }

    /// Notes a doorbell of QP `qpn`; whether it seems to be the only QP of
    /// the device in use: no other QP's doorbell rang in the last two
    /// ticks. A heuristic: it decides where the engines run (see
    /// `Qp::doorbell`), never what they do.
    pub(crate) fn doorbell_alone(&self, qpn: u32) -> bool {
        // SAFETY: No preconditions.
        let now = unsafe { bindings::rxe_rs_jiffies() } as u64;
        if self.state.last_doorbell.xchg(qpn, Relaxed) != qpn {
            self.state.mixed_until.store(now.wrapping_add(2), Relaxed);
            return false;
        }
        // Jiffies wrap: compared as a signed distance.
        (now.wrapping_sub(self.state.mixed_until.load(Relaxed)) as i64) > 0
    }

    /// The netdev is going away: so does the device. Called under RTNL from
    /// the netdev notifier.
    pub(crate) fn netdev_unregistering(&self) {
        // Set before queueing: `create` checks it after registering, so a
        // netdev that goes away while the device registers is not missed.
        self.state.netdev_gone.xchg(true, Full);
        self.queue_unregister();
    }

    /// Asks the RDMA core to unregister the device from a work item, if it is
    /// registered and not already on its way out.
    fn queue_unregister(&self) {
        // SAFETY: Registered (the reference we hold says so); queueing a
        // device without a reference on it would WARN.
        self.while_registered(|ibdev| unsafe { bindings::ib_unregister_device_queued(ibdev) });
    }

    /// Tells the RDMA core (and so its users) that the port went up or down.
    pub(crate) fn port_state_changed(&self) {
        let ndev = self.ndev();
        // SAFETY: Registered, so the core's port data exist; `ndev` is live.
        self.while_registered(|ibdev| unsafe {
            bindings::ib_dispatch_port_state_event(ibdev, ndev)
        });
    }

    /// Runs `f` with a reference on the device if it is registered (not
    /// still registering, nor unregistering).
    fn while_registered(&self, f: impl FnOnce(*mut bindings::ib_device)) {
        let ibdev = self.ibdev();
        // SAFETY: `&self` exists, so the memory is live.
        unsafe { with_registered(ibdev, |_| f(ibdev)) };
    }
}

/// Runs `f` on the device behind `ibdev` if it is registered, holding a
/// reference that keeps it registered (and so its state initialized) while
/// `f` runs.
///
/// # Safety
///
/// `ibdev` must be the `ib_device` of an `RxeDev` whose memory is live (the
/// caller holds a device reference, or reached it through the registry).
unsafe fn with_registered(ibdev: *mut bindings::ib_device, f: impl FnOnce(&RxeDev)) {
    // SAFETY: The memory is live (caller); `try_get` fails unless the device
    // is registered, i.e. between the end of registration and the start of
    // unregistration, when the state is initialized.
    if unsafe { bindings::rxe_rs_ib_device_try_get(ibdev) } {
        // SAFETY: Registered and held: `dealloc_driver` cannot run until the
        // reference is dropped below.
        f(unsafe { RxeDev::from_ibdev(ibdev) });
        // SAFETY: The reference taken above.
        unsafe { bindings::ib_device_put(ibdev) };
    }
}

/// The device attributes of the C rxe (rxe_init_device_param), so that
/// software sees the same device on either driver - except for what
/// rxe-rs does not implement yet, which it does not advertise: memory
/// windows (`max_mw` 0), flush and atomic write. Consumers that look for
/// them (rdma_cm's flush access flags, say) then leave them alone.
fn device_attr(mac: [u8; 6]) -> bindings::ib_device_attr {
    // SAFETY: `ib_device_attr` is plain data; all zeroes is valid for it.
    let mut a: bindings::ib_device_attr = unsafe { core::mem::zeroed() };
    a.vendor_id = params::VENDOR_ID;
    a.max_mr_size = params::MAX_MR_SIZE;
    a.page_size_cap = params::PAGE_SIZE_CAP;
    a.max_qp = params::MAX_QP;
    a.max_qp_wr = params::MAX_QP_WR;
    a.device_cap_flags = (bindings::IB_DEVICE_BAD_PKEY_CNTR
        | bindings::IB_DEVICE_BAD_QKEY_CNTR
        | bindings::IB_DEVICE_AUTO_PATH_MIG
        | bindings::IB_DEVICE_CHANGE_PHY_PORT
        | bindings::IB_DEVICE_UD_AV_PORT_ENFORCE
        | bindings::IB_DEVICE_PORT_ACTIVE_EVENT
        | bindings::IB_DEVICE_SYS_IMAGE_GUID
        | bindings::IB_DEVICE_RC_RNR_NAK_GEN
        | bindings::IB_DEVICE_SRQ_RESIZE
        | bindings::IB_DEVICE_MEM_MGT_EXTENSIONS) as u64;
    a.kernel_cap_flags = u64::from(bindings::IBK_ALLOW_USER_UNREG);
    a.max_send_sge = params::MAX_SGE;
    a.max_recv_sge = params::MAX_SGE;
    a.max_sge_rd = params::MAX_SGE_RD;
    a.max_cq = params::MAX_CQ;
    a.max_cqe = params::MAX_CQE;
    a.max_mr = params::MAX_MR;
    a.max_mw = 0;
    a.max_pd = params::MAX_PD;
    a.max_qp_rd_atom = params::MAX_QP_RD_ATOM;
    a.max_res_rd_atom = params::MAX_RES_RD_ATOM;
    a.max_qp_init_rd_atom = params::MAX_QP_INIT_RD_ATOM;
    a.atomic_cap = bindings::IB_ATOMIC_HCA;
    a.max_mcast_grp = params::MAX_MCAST_GRP;
    a.max_mcast_qp_attach = params::MAX_MCAST_QP_ATTACH;
    a.max_total_mcast_qp_attach = params::MAX_TOT_MCAST_QP_ATTACH;
    a.max_ah = params::MAX_AH;
    a.max_srq = params::MAX_SRQ;
    a.max_srq_wr = params::MAX_SRQ_WR;
    a.max_srq_sge = params::MAX_SRQ_SGE;
    a.max_fast_reg_page_list_len = params::MAX_FMR_PAGE_LIST_LEN;
    a.max_pkeys = params::MAX_PKEYS;
    a.local_ca_ack_delay = params::LOCAL_CA_ACK_DELAY;
    a.sys_image_guid = guid::guid_to_be64_raw(guid::eui64_from_mac(mac));
    a
}

/// The netdev's hardware address, or a random one when it has none: the
/// connection manager needs a unique GID either way.
fn netdev_mac(ndev: NonNull<bindings::net_device>) -> [u8; 6] {
    let mut mac = [0u8; 6];
    // SAFETY: `ndev` is a live netdev (the caller holds a reference) and
    // `mac` has room for the 6 bytes asked for.
    let len = unsafe { bindings::rxe_rs_netdev_addr(ndev.as_ptr(), mac.as_mut_ptr(), 6) };
    if len == 0 {
        // SAFETY: `mac` is 6 writable bytes.
        unsafe { bindings::rxe_rs_random_mac(mac.as_mut_ptr()) };
    }
    mac
}

impl DevState {
    /// The state of a new device on `ndev`.
    ///
    /// # Safety
    ///
    /// `ndev` must be a live netdev the caller holds a reference on while
    /// the initializer runs.
    unsafe fn new(ndev: NonNull<bindings::net_device>) -> impl PinInit<Self, Error> {
        let mac = netdev_mac(ndev);
        let attr = device_attr(mac);
        // SAFETY: `ndev` is live (the caller holds a reference).
        let mtu = unsafe { bindings::rxe_rs_netdev_mtu(ndev.as_ptr()) };
        // Inside the initializer, `ndev` names the field.
        let netdev = ndev;
        try_pin_init!(DevState {
            mac,
            attr,
            active_mtu: Atomic::new(IbMtu::for_netdev(mtu) as u32),
            netdev_gone: Atomic::new(false),
            last_doorbell: Atomic::new(0),
            mixed_until: Atomic::new(0),
            ucontexts: Limit::new(params::MAX_UCONTEXT),
            pds: Limit::new(params::MAX_PD),
            cqs: Limit::new(params::MAX_CQ),
            mr_count: Limit::new(params::MAX_MR),
            qp_count: Limit::new(params::MAX_QP),
            ah_count: Limit::new(params::MAX_AH),
            srq_count: Limit::new(params::MAX_SRQ),
            srqs <- IdTable::new(crate::verbs::srq::num_range().0, crate::verbs::srq::num_range().1),
            ahs <- IdTable::new(1, params::MAX_AH),
            qps <- IdTable::new(params::MIN_QP_INDEX, params::DEFAULT_MAX_VALUE),
            mrs <- IdTable::new(params::MIN_MR_INDEX, params::MAX_MR_INDEX),
            counters: Counters::new(),
            // SAFETY: `ndev` is live (the caller holds a reference).
            _netns: unsafe { netns::Membership::join(netdev)? },
            // SAFETY: `ndev` is live (the caller holds a reference).
            ndev: unsafe { NetdevRef::new(netdev) },
        }? Error)
    }
}

/// Fills in what the RDMA core reads from `ib_device` itself.
///
/// # Safety
///
/// `dev` must point to an `RxeDev` fresh from `_ib_alloc_device`, with its
/// state initialized, not yet registered.
unsafe fn init_ibdev(dev: *mut RxeDev) {
    // SAFETY: The caller guarantees exclusive access to a valid device.
    let ib = unsafe { &mut *addr_of_mut!((*dev).ibdev) };
    // SAFETY: As above; the state is initialized.
    let mac = unsafe { (*dev).state.mac };
    for (d, s) in ib.node_desc.iter_mut().zip(params::NODE_DESC.iter()) {
        *d = *s as kernel::ffi::c_char;
    }
    ib.node_type = bindings::RDMA_NODE_IB_CA as u8;
    ib.phys_port_cnt = 1;
    // SAFETY: No preconditions.
    ib.num_comp_vectors = unsafe { bindings::rxe_rs_num_possible_cpus() } as i32;
    ib.local_dma_lkey = 0;
    ib.node_guid = guid::guid_to_be64_raw(guid::eui64_from_mac(mac));
    ib.uverbs_cmd_mask |= (1u64 << bindings::IB_USER_VERBS_CMD_POST_SEND)
        | (1u64 << bindings::IB_USER_VERBS_CMD_REQ_NOTIFY_CQ);
    verbs::ops::set_ops(ib);
    // SAFETY: Not registered yet; the tables are static.
    unsafe { bindings::rxe_rs_set_driver_def(ib) };
}

/// Creates and registers a device named `name` on `ndev`.
///
/// # Safety
///
/// `ndev` must be a live netdev the caller holds a reference on for the
/// duration of the call.
pub(crate) unsafe fn create(name: &CStr, ndev: NonNull<bindings::net_device>) -> Result {
    // Born in the initial namespace, as rxe's are; in exclusive netns mode
    // the administrator moves it with `rdma dev set NAME netns NS`.
    // SAFETY: The size covers `RxeDev`; the core zero-fills the allocation.
    let ibdev =
        unsafe { bindings::_ib_alloc_device(size_of::<RxeDev>(), bindings::rxe_rs_init_net()) };
    let dev = NonNull::new(ibdev.cast::<RxeDev>()).ok_or(ENOMEM)?.as_ptr();

    // SAFETY: `state` is uninitialized memory inside the fresh allocation,
    // never moved (the core owns the allocation until `ib_dealloc_device`);
    // `ndev` is live and held (caller).
    if let Err(e) = unsafe { DevState::new(ndev).__init(addr_of_mut!((*dev).state)) } {
        // SAFETY: No ops are set, so `ib_dealloc_device` only frees the
        // allocation.
        unsafe { bindings::ib_dealloc_device(ibdev) };
        return Err(e);
    }
    // From here on `dealloc_driver` is set and undoes all of the above.
    // SAFETY: `dev` is fresh, initialized and not registered.
    unsafe { init_ibdev(dev) };

    // SAFETY: `dev`'s state is initialized and stays so until
    // `dealloc_driver`, which removes it from the registry first.
    let entry = unsafe { registry::DevPtr::new(NonNull::new_unchecked(dev)) };
    if let Err(e) = registry::add(entry) {
        // SAFETY: Not registered: freeing is ours, and calls `dealloc_driver`.
        unsafe { bindings::ib_dealloc_device(ibdev) };
        return Err(e);
    }

    // A device reference keeps the memory (not the state) ours to look at
    // after registering, even if someone unregisters the device at once.
    // SAFETY: `_ib_alloc_device` initialized the embedded `struct device`.
    let devref = unsafe { bindings::rxe_rs_ibdev_device(ibdev) };
    // SAFETY: As above.
    unsafe { bindings::get_device(devref) };
    // SAFETY: `ibdev` is a fully set-up, unregistered device; `name` is a
    // NUL-terminated string; no DMA device (rxe uses virtual DMA).
    let ret =
        unsafe { bindings::ib_register_device(ibdev, name.as_char_ptr(), core::ptr::null_mut()) };
    let res = match to_result(ret) {
        Err(e) => {
            // SAFETY: A failed registration leaves freeing to the caller.
            unsafe { bindings::ib_dealloc_device(ibdev) };
            // The core says ENFILE when the name is taken; say what happened.
            Err(if e == ENFILE { EEXIST } else { e })
        }
        Ok(()) => {
            let mut res = Ok(());
            // SAFETY: Our reference keeps the memory live.
            unsafe { with_registered(ibdev, |dev| res = dev.registered()) };
            res
        }
    };
    // SAFETY: The reference taken above.
    unsafe { bindings::put_device(devref) };
    res
}

impl RxeDev {
    /// The last step of creation, on the registered device.
    fn registered(&self) -> Result {
        // Pairs with the fully ordered `xchg` in `netdev_unregistering`:
        // either the notifier saw the device registered, or we see its flag.
        kernel::sync::barrier::smp_mb(kernel::sync::barrier::Full);
        if self.netdev_gone() {
            // The netdev started going away while we registered; the
            // notifier's request came before there was anything to
            // unregister.
            self.queue_unregister();
            return Err(ENODEV);
        }
        self.port_state_changed();
        Ok(())
    }
}

/// The RDMA core's last call for a device: undoes [`create`].
///
/// # Safety
///
/// Called by the RDMA core (the `dealloc_driver` op) exactly once, for a
/// device of ours, after which it frees the memory.
pub(crate) unsafe extern "C" fn dealloc_driver(ibdev: *mut bindings::ib_device) {
    let dev = ibdev.cast::<RxeDev>();
    // SAFETY: `dev` is ours and its state initialized (the op is only set
    // after initialization); removing it from the registry ends every other
    // use.
    registry::remove(unsafe { NonNull::new_unchecked(dev) });
    // SAFETY: The state is initialized and nobody else can reach it now;
    // this also puts the netdev.
    unsafe { core::ptr::drop_in_place(addr_of_mut!((*dev).state)) };
}
