// SPDX-License-Identifier: GPL-2.0

//! The device's ops: the `ib_device_ops` table the RDMA core calls, and
//! the device- and port-level verbs (queries, user contexts, protection
//! domains). Each op is a thin `extern "C"` shim that finds the device and
//! returns an errno; the object types live in files of their own.

use kernel::prelude::*;

use crate::{
    bindings,
    mig::restore,
    proto::params,
    verbs::{
        ah, counters, cq,
        device::{self, RxeDev},
        errno, mmap, mr, qp, srq, ucontext,
    },
};

/// The rxe user ABI version (`RXE_UVERBS_ABI_VERSION`), which the rdma-core
/// rxe provider checks.
const UVERBS_ABI_VERSION: u32 = 2;

/// A protection domain.
#[repr(C)]
struct RxePd {
    /// Must be first: the core allocates the object with our size.
    ibpd: bindings::ib_pd,
}

/// Installs the ops on a device being created.
pub(crate) fn set_ops(ibdev: &mut bindings::ib_device) {
    // SAFETY: `ib_device_ops` is plain data (sizes, flags, `Option`al
    // function pointers); all zeroes means "no op".
    let mut ops: bindings::ib_device_ops = unsafe { core::mem::zeroed() };
    ops.owner = module_ptr();
    ops.driver_id = bindings::RDMA_DRIVER_RXE;
    ops.uverbs_abi_ver = UVERBS_ABI_VERSION;

    ops.dealloc_driver = Some(device::dealloc_driver);
    // A static attribute group defined by the C glue.
    ops.device_group = &raw const bindings::rxe_rs_attr_group;
    ops.get_netdev = Some(get_netdev);
    ops.get_link_layer = Some(get_link_layer);
    ops.get_port_immutable = Some(get_port_immutable);
    ops.query_device = Some(query_device);
    ops.query_port = Some(query_port);
    ops.query_pkey = Some(query_pkey);
    ops.alloc_ucontext = Some(ucontext::alloc_ucontext);
    ops.dealloc_ucontext = Some(ucontext::dealloc_ucontext);
    ops.disassociate_ucontext = Some(ucontext::disassociate_ucontext);
    ops.alloc_pd = Some(alloc_pd);
    ops.dealloc_pd = Some(dealloc_pd);
    ops.mmap = Some(mmap::mmap);
    ops.mmap_free = Some(mmap::mmap_free);
    ops.create_cq = Some(cq::create_cq);
    ops.destroy_cq = Some(cq::destroy_cq);
    ops.resize_user_cq = Some(cq::resize_cq);
    ops.poll_cq = Some(cq::poll_cq);
    ops.peek_cq = Some(cq::peek_cq);
    ops.req_notify_cq = Some(cq::req_notify_cq);
    ops.get_dma_mr = Some(mr::get_dma_mr);
    ops.reg_user_mr = Some(mr::reg_user_mr);
    ops.dereg_mr = Some(mr::dereg_mr);
    ops.rereg_user_mr = Some(mr::rereg_user_mr);
    ops.alloc_mr = Some(mr::alloc_mr);
    ops.map_mr_sg = Some(mr::map_mr_sg);
    ops.create_qp = Some(qp::create_qp);
    ops.modify_qp = Some(qp::modify_qp);
    ops.query_qp = Some(qp::query_qp);
    ops.destroy_qp = Some(qp::destroy_qp);
    ops.fill_res_qp_entry = Some(super::restrack::fill_res_qp_entry);
    ops.post_send = Some(qp::post_send);
    ops.create_srq = Some(srq::create_srq);
    ops.modify_srq = Some(srq::modify_srq);
    ops.query_srq = Some(srq::query_srq);
    ops.destroy_srq = Some(srq::destroy_srq);
    ops.post_srq_recv = Some(srq::post_srq_recv);
    ops.size_ib_srq = size_of::<srq::RxeSrq>();
    ops.create_ah = Some(ah::create_ah);
    ops.create_user_ah = Some(ah::create_ah);
    ops.query_ah = Some(ah::query_ah);
    ops.destroy_ah = Some(ah::destroy_ah);
    ops.size_ib_ah = size_of::<ah::RxeAh>();
    ops.post_recv = Some(qp::post_recv);
    ops.size_ib_qp = size_of::<qp::RxeQp>();
    ops.alloc_hw_port_stats = Some(counters::alloc_hw_port_stats);
    ops.get_hw_stats = Some(counters::get_hw_stats);
    ops.size_ib_ucontext = ucontext::SIZE;
    ops.size_ib_pd = size_of::<RxePd>();
    ops.size_ib_cq = size_of::<cq::RxeCq>();

    // SAFETY: `ibdev` is a device being set up; the core copies the ops.
    unsafe { bindings::ib_set_device_ops(ibdev, &ops) };
}

/// This module, as the ops' owner: the core pins the module while a user
/// context of one of its devices is open. (`THIS_MODULE` is `__this_module`,
/// valid for as long as the module is loaded.)
fn module_ptr() -> *mut bindings::module {
    <crate::RxeModule as kernel::ModuleMetadata>::THIS_MODULE
        .as_ptr()
        .cast()
}

/// The device behind an op's `ib_device`.
///
/// # Safety
///
/// `ibdev` must be one of our devices, passed by the RDMA core to an op.
unsafe fn dev<'a>(ibdev: *mut bindings::ib_device) -> &'a RxeDev {
    // SAFETY: The core only calls ops of registered (or registering)
    // devices, whose state is initialized.
    unsafe { RxeDev::from_ibdev(ibdev) }
}

/// The `get_netdev` callback.
///
/// # Safety
///
/// Called by the RDMA core (or the network stack) with valid pointers to
/// live objects of one of our devices, as its C prototype requires.
unsafe extern "C" fn get_netdev(
    ibdev: *mut bindings::ib_device,
    port_num: u32,
) -> *mut bindings::net_device {
    // SAFETY: Called by the core for our device.
    let dev = unsafe { dev(ibdev) };
    if port_num != 1 || dev.netdev_gone() {
        return core::ptr::null_mut();
    }
    let ndev = dev.ndev();
    // SAFETY: The device holds a reference, so `ndev` is live; the caller
    // gets one of its own and drops it.
    unsafe { bindings::rxe_rs_dev_hold(ndev) };
    ndev
}

/// The `get_link_layer` callback.
///
/// # Safety
///
/// Called by the RDMA core (or the network stack) with valid pointers to
/// live objects of one of our devices, as its C prototype requires.
unsafe extern "C" fn get_link_layer(
    _ibdev: *mut bindings::ib_device,
    _port_num: u32,
) -> bindings::rdma_link_layer {
    bindings::IB_LINK_LAYER_ETHERNET
}

/// The `get_port_immutable` callback.
///
/// # Safety
///
/// Called by the RDMA core (or the network stack) with valid pointers to
/// live objects of one of our devices, as its C prototype requires.
unsafe extern "C" fn get_port_immutable(
    ibdev: *mut bindings::ib_device,
    port_num: u32,
    immutable: *mut bindings::ib_port_immutable,
) -> kernel::ffi::c_int {
    if port_num != 1 {
        return EINVAL.to_errno();
    }
    // SAFETY: Plain data; zeroes are valid.
    let mut attr: bindings::ib_port_attr = unsafe { core::mem::zeroed() };
    // SAFETY: Our registering device; `attr` is writable.
    let ret = unsafe { bindings::ib_query_port(ibdev, port_num, &mut attr) };
    if ret != 0 {
        return ret;
    }
    // SAFETY: The core passes a writable struct.
    let im = unsafe { &mut *immutable };
    im.core_cap_flags = bindings::RDMA_CORE_PORT_IBA_ROCE_UDP_ENCAP;
    im.pkey_tbl_len = attr.pkey_tbl_len.into();
    im.gid_tbl_len = attr.gid_tbl_len;
    im.max_mad_size = bindings::IB_MGMT_MAD_SIZE;
    0
}

/// The `query_device` callback.
///
/// # Safety
///
/// Called by the RDMA core (or the network stack) with valid pointers to
/// live objects of one of our devices, as its C prototype requires.
unsafe extern "C" fn query_device(
    ibdev: *mut bindings::ib_device,
    attr: *mut bindings::ib_device_attr,
    udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    // SAFETY: `udata` is NULL or the caller's udata.
    let ret = unsafe { bindings::rxe_rs_no_udata_io(udata) };
    if ret != 0 {
        return ret;
    }
    // SAFETY: Our device; the core passes a writable struct.
    unsafe { *attr = *dev(ibdev).attr() };
    0
}

/// The `query_port` callback.
///
/// # Safety
///
/// Called by the RDMA core (or the network stack) with valid pointers to
/// live objects of one of our devices, as its C prototype requires.
unsafe extern "C" fn query_port(
    ibdev: *mut bindings::ib_device,
    port_num: u32,
    attr: *mut bindings::ib_port_attr,
) -> kernel::ffi::c_int {
    if port_num != 1 {
        return EINVAL.to_errno();
    }
    // SAFETY: Our device.
    let dev = unsafe { dev(ibdev) };
    // The netdev the device holds a reference on, even while it goes away:
    // the port reads as down then rather than failing the query.
    let ndev = dev.ndev();
    // SAFETY: The core passes a writable struct.
    let a = unsafe { &mut *attr };
    fill_port_attr(dev, a);
    // SAFETY: Our device; the speed fields are writable.
    let speed = unsafe {
        bindings::ib_get_eth_speed(ibdev, port_num, &mut a.active_speed, &mut a.active_width)
    };
    if speed != 0 {
        // The netdev is going away (or reports no speed): the port reads as
        // down with the default speed rather than failing the query, which
        // the core's clients would log.
        a.active_width = bindings::IB_WIDTH_1X as u8;
        a.active_speed = 1;
    }
    // SAFETY: `ndev` is held by the device.
    a.state = unsafe { bindings::rxe_rs_port_state(ndev) };
    a.phys_state = if a.state == bindings::IB_PORT_ACTIVE {
        bindings::IB_PORT_PHYS_STATE_LINK_UP
    // SAFETY: `ndev` is held by the device.
    } else if unsafe { bindings::netif_get_flags(ndev) } & bindings::IFF_UP != 0 {
        bindings::IB_PORT_PHYS_STATE_POLLING
    } else {
        bindings::IB_PORT_PHYS_STATE_DISABLED
    } as u8;
    0
}

/// The port attributes of the C rxe (rxe_init_port_param); the link state
/// and speed are filled in from the netdev by the caller.
fn fill_port_attr(dev: &RxeDev, a: &mut bindings::ib_port_attr) {
    a.state = bindings::IB_PORT_DOWN;
    a.max_mtu = bindings::IB_MTU_4096;
    a.active_mtu = dev.active_mtu();
    a.gid_tbl_len = params::PORT_GID_TBL_LEN as i32;
    a.port_cap_flags = bindings::IB_PORT_CM_SUP;
    a.max_msg_sz = params::PORT_MAX_MSG_SZ;
    a.pkey_tbl_len = params::PORT_PKEY_TBL_LEN;
    a.max_vl_num = params::PORT_MAX_VL_NUM;
    a.active_width = bindings::IB_WIDTH_1X as u8;
    a.active_speed = 1;
    a.phys_state = bindings::IB_PORT_PHYS_STATE_POLLING as u8;
}

/// The `query_pkey` callback.
///
/// # Safety
///
/// Called by the RDMA core (or the network stack) with valid pointers to
/// live objects of one of our devices, as its C prototype requires.
unsafe extern "C" fn query_pkey(
    _ibdev: *mut bindings::ib_device,
    _port_num: u32,
    index: u16,
    pkey: *mut u16,
) -> kernel::ffi::c_int {
    if index != 0 {
        return EINVAL.to_errno();
    }
    // SAFETY: The core passes a writable `u16`.
    unsafe { *pkey = params::DEFAULT_PKEY_FULL };
    0
}

/// The `alloc_pd` callback.
///
/// # Safety
///
/// Called by the RDMA core (or the network stack) with valid pointers to
/// live objects of one of our devices, as its C prototype requires.
unsafe extern "C" fn alloc_pd(
    ibpd: *mut bindings::ib_pd,
    udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    errno((|| {
        // SAFETY: The core's udata for the call, NULL for a kernel PD; the
        // core set a user PD's uobject before calling us.
        let claim = unsafe {
            let handle = (!udata.is_null()).then(|| bindings::rxe_rs_pd_handle(ibpd));
            restore::Claim::take(udata, ucontext::ObjKind::Pd, handle)
        }?;
        // SAFETY: As above.
        let slot = unsafe { ucontext::Slot::new(udata) }?;
        // SAFETY: The core passes a PD of our device.
        unsafe { dev((*ibpd).device) }.state().pds.take()?;
        // SAFETY: The PD is made; `dealloc_pd` forgets it.
        unsafe { slot.fill(ibpd.cast(), ucontext::ObjKind::Pd) };
        if let Some(c) = claim {
            c.done();
        }
        Ok(())
    })())
}

/// The `dealloc_pd` callback.
///
/// # Safety
///
/// Called by the RDMA core (or the network stack) with valid pointers to
/// live objects of one of our devices, as its C prototype requires.
unsafe extern "C" fn dealloc_pd(
    ibpd: *mut bindings::ib_pd,
    udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    // SAFETY: The core's udata for the call, on the PD's context.
    unsafe { ucontext::forget(udata, ibpd.cast()) };
    // SAFETY: The core passes a PD `alloc_pd` accounted.
    unsafe { dev((*ibpd).device) }.state().pds.give();
    0
}
