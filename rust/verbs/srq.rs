// SPDX-License-Identifier: GPL-2.0

//! Shared receive queues: one receive ring several QPs take their receive
//! WQEs from, user-mapped like a QP's, with the limit event that tells the
//! consumer the ring runs low.

use core::ptr::addr_of_mut;

use kernel::{
    new_mutex, new_spinlock_irq,
    prelude::*,
    sync::{Arc, Mutex, SpinLockIrq},
};

use crate::{
    bindings,
    mig::restore,
    proto::{params, wqe},
    verbs::{
        device::RxeDev,
        mmap::{self, MmInfo},
        queue::{End, Queue, RingProducer},
        ucontext, udata,
    },
};

/// The first SRQ number and the last (`RXE_MIN_SRQ_INDEX`,
/// `RXE_MAX_SRQ_INDEX`).
const MAX_SRQ_INDEX: u32 = 0x0004_0000;

/// The ring and its limit, under the SRQ's lock.
pub(crate) struct SrqCore {
    ring: Queue,
    max_sge: u32,
    /// Armed limit: when fewer WQEs remain, the limit event fires (once).
    limit: u32,
    destroyed: bool,
}

/// The driver's part of an SRQ.
///
/// INVARIANT: `ibsrq` is the core's SRQ until `destroy_srq`, which sets
/// `core.destroyed`; it is only used under `core` while that is clear.
#[pin_data]
pub(crate) struct Srq {
    pub(crate) num: u32,
    pub(crate) pd: usize,
    ibsrq: *mut bindings::ib_srq,
    #[pin]
    core: Mutex<SrqCore>,
    /// Kernel SRQs' post path.
    #[pin]
    kpost: SpinLockIrq<Option<RingProducer>>,
}

// SAFETY: `ibsrq` is only used under `core` (invariant); the rest is locked
// or immutable.
unsafe impl Send for Srq {}
// SAFETY: As above.
unsafe impl Sync for Srq {}

/// An SRQ as the RDMA core sees it.
#[repr(C)]
pub(crate) struct RxeSrq {
    /// Must be first: the core allocates the object with our size.
    ibsrq: bindings::ib_srq,
    srq: Option<Arc<Srq>>,
}

/// `struct rxe_create_srq_resp`.
#[repr(C)]
#[derive(Default)]
struct CreateSrqResp {
    mi: MmInfo,
    srq_num: u32,
    reserved: u32,
}

impl Srq {
    /// The SRQ behind an `ib_srq` of ours.
    ///
    /// # Safety
    ///
    /// `ibsrq` must be a live SRQ of ours.
    pub(crate) unsafe fn of<'a>(ibsrq: *mut bindings::ib_srq) -> Option<&'a Arc<Srq>> {
        // SAFETY: `ibsrq` is the first field of a `#[repr(C)]` `RxeSrq`.
        unsafe { (*ibsrq.cast::<RxeSrq>()).srq.as_ref() }
    }

    /// Takes the oldest receive WQE into `out`; `false` if there is none.
    /// Fires the limit event when the ring drops below the armed limit.
    pub(crate) fn take(&self, out: &mut [u8]) -> bool {
        let mut c = self.core.lock();
        if c.destroyed || !c.ring.peek(out) {
            return false;
        }
        c.ring.advance();
        if c.limit != 0 && c.ring.count() < c.limit {
            c.limit = 0;
            // SAFETY: Not destroyed, under `core` (invariant).
            unsafe { self.event(bindings::IB_EVENT_SRQ_LIMIT_REACHED) };
        }
        true
    }

    /// Runs `f` on the ring, its SGE limit and its armed limit, locked;
    /// `None` once destroyed.
    pub(crate) fn with_ring<R>(&self, f: impl FnOnce(&Queue, u32, u32) -> R) -> Option<R> {
        let c = self.core.lock();
        (!c.destroyed).then(|| f(&c.ring, c.max_sge, c.limit))
    }

    /// The size of a receive WQE slot.
    pub(crate) fn slot_size(&self) -> usize {
        self.core.lock().ring.elem_size()
    }

    /// The most SGEs a WQE may have.
    pub(crate) fn max_sge(&self) -> u32 {
        self.core.lock().max_sge
    }

    /// Reports an event to the SRQ's owner.
    ///
    /// # Safety
    ///
    /// Under `core`, not destroyed.
    unsafe fn event(&self, event: bindings::ib_event_type) {
        // SAFETY: Live (caller).
        let s = unsafe { &*self.ibsrq };
        if let Some(handler) = s.event_handler {
            // SAFETY: Plain data.
            let mut ev: bindings::ib_event = unsafe { core::mem::zeroed() };
            ev.device = s.device;
            ev.element.srq = self.ibsrq;
            ev.event = event;
            // SAFETY: The owner's handler with its context.
            unsafe { handler(&mut ev, s.srq_context) };
        }
    }
}

/// The size of a receive WQE with `max_sge` SGEs.
fn wqe_size(max_sge: u32) -> usize {
    wqe::RECV_WQE_SIZE + max_sge as usize * wqe::SGE_SIZE
}

/// The `create_srq` callback.
///
/// # Safety
///
/// Called by the RDMA core with a zeroed SRQ of our size on one of our
/// devices, its attributes, and the user's udata (NULL for kernel SRQs).
pub(crate) unsafe extern "C" fn create_srq(
    ibsrq: *mut bindings::ib_srq,
    init: *mut bindings::ib_srq_init_attr,
    udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    // SAFETY: As the core promises.
    crate::verbs::errno(unsafe { create(ibsrq, &mut *init, udata) })
}

/// # Safety
///
/// As for [`create_srq`].
unsafe fn create(
    ibsrq: *mut bindings::ib_srq,
    init: &mut bindings::ib_srq_init_attr,
    udata: *mut bindings::ib_udata,
) -> Result {
    // SAFETY: Our SRQ's device.
    let dev = unsafe { RxeDev::from_ibdev((*ibsrq).device) };
    if init.srq_type != bindings::IB_SRQT_BASIC {
        return Err(EOPNOTSUPP);
    }
    let a = &mut init.attr;
    if a.max_wr == 0 || a.max_wr > params::MAX_SRQ_WR || a.max_sge > params::MAX_SRQ_SGE {
        return Err(EINVAL);
    }
    a.max_sge = a.max_sge.max(1);
    // SAFETY: `udata` is NULL or the caller's.
    if !udata.is_null() && unsafe { udata::outlen(udata) } < size_of::<CreateSrqResp>() {
        return Err(EINVAL);
    }
    // SAFETY: `udata` is NULL or the caller's; the core set a user SRQ's
    // uobject before calling us.
    let claim = unsafe {
        let handle = (!udata.is_null()).then(|| bindings::rxe_rs_srq_handle(ibsrq));
        restore::Claim::take(udata, ucontext::ObjKind::Srq, handle)
    }?;
    let staged = claim.as_ref().map(|c| c.srq()).transpose()?;
    if let Some((s, _)) = &staged {
        // SAFETY: The core's SRQ and its PD.
        let pd = unsafe { bindings::rxe_rs_pd_handle((*ibsrq).pd) };
        if a.max_wr != s.ring.capacity || a.max_sge != s.max_sge || pd != s.pd {
            return Err(EINVAL);
        }
        a.srq_limit = s.limit;
        // SAFETY: The core's user SRQ being made.
        unsafe { bindings::rxe_rs_srq_set_events(ibsrq, s.async_events) };
    }
    // SAFETY: `udata` is NULL or the caller's.
    let slot = unsafe { ucontext::Slot::new(udata) }?;
    let (mut ring, cap) = Queue::new(a.max_wr, wqe_size(a.max_sge), End::Consumer)?;
    if let Some((s, bytes)) = &staged {
        ring.restore(bytes, s.ring.index)?;
    }
    let mut resp = CreateSrqResp::default();
    if !udata.is_null() {
        // SAFETY: A user SRQ has a user context.
        let uctx = unsafe { bindings::rxe_rs_udata_ucontext(udata) };
        // SAFETY: The live context of the call.
        resp.mi = unsafe { mmap::share(uctx, &mut ring) }?;
    }
    dev.state().srq_count.take()?;
    let core = SrqCore {
        ring,
        max_sge: a.max_sge,
        limit: a.srq_limit,
        destroyed: false,
    };
    // SAFETY: The core's SRQ.
    let pd = unsafe { (*ibsrq).pd } as usize;
    let make = |num| {
        Arc::pin_init(
            try_pin_init!(Srq {
                num,
                pd,
                ibsrq,
                core <- new_mutex!(core, "rxe_rs_srq"),
                kpost <- new_spinlock_irq!(None, "rxe_rs_srq_kpost"),
            }? Error),
            GFP_KERNEL,
        )
    };
    // A restored SRQ keeps its number if it is free (only XRC peers would
    // know it).
    let inserted = match &staged {
        Some((s, _)) => dev.srqs().insert_preferring(s.num, make),
        None => dev.srqs().insert_with(make),
    };
    let num = match inserted {
        Ok(n) => n,
        Err(e) => {
            dev.state().srq_count.give();
            return Err(e);
        }
    };
    let Some(srq) = dev.srqs().with(num, Arc::clone) else {
        dev.state().srq_count.give();
        return Err(EINVAL);
    };
    if !udata.is_null() {
        resp.srq_num = num;
        // SAFETY: The caller's udata, checked big enough.
        if let Err(e) = unsafe { udata::respond(udata, &resp) } {
            drop(dev.srqs().remove(num));
            dev.state().srq_count.give();
            return Err(e);
        }
    } else {
        let c = srq.core.lock();
        // SAFETY: `destroy_srq` empties `kpost` before detaching the ring;
        // the kernel consumer is the ring's only client.
        *srq.kpost.lock() = unsafe { c.ring.producer_view() };
    }
    a.max_wr = cap;
    let r = ibsrq.cast::<RxeSrq>();
    // SAFETY: Our part of the core's zeroed allocation.
    unsafe { addr_of_mut!((*r).srq).write(Some(srq)) };
    // SAFETY: The SRQ is made; `destroy_srq` forgets it.
    unsafe { slot.fill(ibsrq.cast(), ucontext::ObjKind::Srq) };
    if let Some(c) = claim {
        c.done();
    }
    Ok(())
}

/// The `destroy_srq` callback (the core refuses it while QPs use the SRQ).
///
/// # Safety
///
/// Called by the RDMA core once for an SRQ `create_srq` made.
pub(crate) unsafe extern "C" fn destroy_srq(
    ibsrq: *mut bindings::ib_srq,
    udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    // SAFETY: The core's udata for the call, on the SRQ's context.
    unsafe { ucontext::forget(udata, ibsrq.cast()) };
    let r = ibsrq.cast::<RxeSrq>();
    // SAFETY: Ours; taking leaves `None`.
    let Some(srq) = (unsafe { (*r).srq.take() }) else {
        return 0;
    };
    // SAFETY: Our SRQ's device.
    let dev = unsafe { RxeDev::from_ibdev((*ibsrq).device) };
    drop(dev.srqs().remove(srq.num));
    *srq.kpost.lock() = None;
    {
        let mut c = srq.core.lock();
        c.destroyed = true;
        c.ring.detach();
    }
    dev.state().srq_count.give();
    0
}

/// The `query_srq` callback.
///
/// # Safety
///
/// Called by the RDMA core for a live SRQ of ours.
pub(crate) unsafe extern "C" fn query_srq(
    ibsrq: *mut bindings::ib_srq,
    attr: *mut bindings::ib_srq_attr,
) -> kernel::ffi::c_int {
    // SAFETY: Live SRQ of ours.
    let Some(srq) = (unsafe { Srq::of(ibsrq) }) else {
        return EINVAL.to_errno();
    };
    let c = srq.core.lock();
    // SAFETY: Writable (the core).
    unsafe {
        (*attr).max_wr = c.ring.capacity();
        (*attr).max_sge = c.max_sge;
        (*attr).srq_limit = c.limit;
    }
    0
}

/// `struct rxe_modify_srq_cmd`.
#[repr(C)]
#[derive(Default)]
struct ModifySrqCmd {
    mmap_info_addr: u64,
}

/// The `modify_srq` callback: arms the limit, or resizes the ring (user
/// space passes where to write the new ring's `mminfo`, as the rxe ABI
/// has it).
///
/// # Safety
///
/// Called by the RDMA core for a live SRQ of ours.
pub(crate) unsafe extern "C" fn modify_srq(
    ibsrq: *mut bindings::ib_srq,
    attr: *mut bindings::ib_srq_attr,
    mask: bindings::ib_srq_attr_mask,
    udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    // SAFETY: As the core promises.
    crate::verbs::errno(unsafe { modify(ibsrq, &mut *attr, mask, udata) })
}

/// # Safety
///
/// As for [`modify_srq`].
unsafe fn modify(
    ibsrq: *mut bindings::ib_srq,
    attr: &mut bindings::ib_srq_attr,
    mask: u32,
    udata: *mut bindings::ib_udata,
) -> Result {
    // SAFETY: Live SRQ of ours.
    let srq = unsafe { Srq::of(ibsrq) }.ok_or(EINVAL)?;
    let mut cmd = ModifySrqCmd::default();
    if !udata.is_null() && mask & bindings::IB_SRQ_MAX_WR != 0 {
        // SAFETY: The caller's udata; the command is plain data.
        unsafe { udata::read(udata, &mut cmd) }?;
    }
    if mask & !(bindings::IB_SRQ_MAX_WR | bindings::IB_SRQ_LIMIT) != 0 {
        return Err(EINVAL);
    }
    let cap = srq.core.lock().ring.capacity();
    if mask & bindings::IB_SRQ_LIMIT != 0 && attr.srq_limit > cap {
        return Err(EINVAL);
    }
    if mask & bindings::IB_SRQ_MAX_WR != 0 {
        // SAFETY: As the caller promises.
        unsafe { resize(srq, attr, udata, &cmd) }?;
    }
    if mask & bindings::IB_SRQ_LIMIT != 0 {
        srq.core.lock().limit = attr.srq_limit;
    }
    Ok(())
}

/// Moves the SRQ to a ring of `attr.max_wr` entries.
///
/// # Safety
///
/// As for [`modify_srq`].
unsafe fn resize(
    srq: &Srq,
    attr: &mut bindings::ib_srq_attr,
    udata: *mut bindings::ib_udata,
    cmd: &ModifySrqCmd,
) -> Result {
    if attr.max_wr == 0 || attr.max_wr > params::MAX_SRQ_WR {
        return Err(EINVAL);
    }
    if !srq.kpost.lock().is_none() || udata.is_null() {
        // Kernel consumers do not resize SRQs (nor does rxe let them).
        return Err(EOPNOTSUPP);
    }
    let max_sge = srq.max_sge();
    let (mut q, cap) = Queue::new(attr.max_wr, wqe_size(max_sge), End::Consumer)?;
    // SAFETY: A user SRQ has a user context.
    let uctx = unsafe { bindings::rxe_rs_udata_ucontext(udata) };
    // SAFETY: The live context of the call.
    let mi = unsafe { mmap::share(uctx, &mut q) }?;
    // SAFETY: User memory named by the command; the helper checks it.
    let ret = unsafe {
        bindings::rxe_rs_copy_to_user(
            cmd.mmap_info_addr as usize as *mut kernel::ffi::c_void,
            core::ptr::from_ref(&mi).cast(),
            size_of::<MmInfo>(),
        )
    };
    if ret != 0 {
        return Err(EFAULT);
    }
    let mut c = srq.core.lock();
    if c.limit != 0 && cap < c.limit {
        return Err(EINVAL);
    }
    q.take_elements(&c.ring)?;
    let old = core::mem::replace(&mut c.ring, q);
    drop(c);
    drop(old);
    attr.max_wr = cap;
    Ok(())
}

/// The `post_srq_recv` callback, for kernel SRQs.
///
/// # Safety
///
/// Called by the RDMA core for a live SRQ of ours.
pub(crate) unsafe extern "C" fn post_srq_recv(
    ibsrq: *mut bindings::ib_srq,
    wr: *const bindings::ib_recv_wr,
    bad: *mut *const bindings::ib_recv_wr,
) -> kernel::ffi::c_int {
    // SAFETY: Live SRQ of ours.
    let Some(srq) = (unsafe { Srq::of(ibsrq) }) else {
        return EINVAL.to_errno();
    };
    let max_sge = srq.max_sge();
    let mut k = srq.kpost.lock();
    let Some(ring) = Option::as_mut(&mut *k) else {
        if !bad.is_null() {
            // SAFETY: Writable (the core).
            unsafe { *bad = wr };
        }
        return EINVAL.to_errno();
    };
    // SAFETY: The consumer's WR chain and result pointer.
    crate::verbs::errno(unsafe { crate::verbs::post::post_recv_into(ring, max_sge, wr, bad) })
}

/// The SRQ table's number range.
pub(crate) const fn num_range() -> (u32, u32) {
    (params::MIN_SRQ_INDEX, MAX_SRQ_INDEX)
}
