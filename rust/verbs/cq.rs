// SPDX-License-Identifier: GPL-2.0

//! Completion queues: a ring of work completions the driver produces and
//! the consumer polls, from user space through the mapped ring (the rdma-core
//! rxe provider reads `struct ib_uverbs_wc` slots) or from the kernel through
//! `poll_cq` (`struct ib_wc` slots), plus completion notification.

use core::ptr::addr_of_mut;

use kernel::{new_spinlock_irq, prelude::*, sync::SpinLockIrq};

use crate::{
    bindings,
    mig::restore,
    proto::image::record as rec,
    verbs::{
        device::RxeDev,
        mmap::{self, MmInfo},
        queue::{End, Queue},
        ucontext, udata,
    },
};

/// A work completion, as the driver makes it; written to the ring in the
/// consumer's format.
#[derive(Default, Clone, Copy)]
pub(crate) struct Completion {
    pub(crate) wr_id: u64,
    pub(crate) status: u32,
    pub(crate) opcode: u32,
    pub(crate) byte_len: u32,
    /// Immediate data (big-endian as on the wire) or the invalidated rkey.
    pub(crate) ex: u32,
    pub(crate) qp_num: u32,
    /// The QP for kernel consumers (`ib_wc.qp`).
    pub(crate) qp: usize,
    pub(crate) src_qp: u32,
    pub(crate) wc_flags: u32,
    pub(crate) pkey_index: u16,
    pub(crate) port_num: u8,
    pub(crate) smac: [u8; 6],
    pub(crate) network_hdr_type: u8,
}

/// The ring and the notification request, under one lock.
struct Ring {
    q: Queue,
    /// `IB_CQ_SOLICITED` / `IB_CQ_NEXT_COMP` armed by `req_notify_cq`.
    notify: u32,
}

/// The driver's part of a CQ.
#[pin_data]
struct CqState {
    #[pin]
    ring: SpinLockIrq<Ring>,
    /// Whether user space consumes the ring (`ib_uverbs_wc` slots).
    user: bool,
}

/// A completion queue.
///
/// INVARIANT: `state` is initialized from the end of `create_cq` until
/// `destroy_cq`; the core calls no other op of the CQ outside that span.
#[repr(C)]
pub(crate) struct RxeCq {
    /// Must be first: the core allocates the object with our size.
    ibcq: bindings::ib_cq,
    state: CqState,
}

/// Bytes of a completion in the ring: enough for either format.
const SLOT_SIZE: usize = {
    let k = size_of::<bindings::ib_wc>();
    let u = size_of::<bindings::ib_uverbs_wc>();
    if k > u {
        k
    } else {
        u
    }
};

/// log2 of a CQ ring's slot: [`SLOT_SIZE`], rounded up as rings round
/// their slots.
pub(crate) const SLOT_LOG2: u32 = {
    let s = if SLOT_SIZE < crate::verbs::queue::MIN_ELEM_SIZE {
        crate::verbs::queue::MIN_ELEM_SIZE
    } else {
        SLOT_SIZE
    };
    s.next_power_of_two().trailing_zeros()
};

impl RxeCq {
    /// The CQ behind an `ib_cq` of ours.
    ///
    /// # Safety
    ///
    /// `ibcq` must be a CQ of one of our devices, between `create_cq` and
    /// `destroy_cq`.
    pub(crate) unsafe fn from_ib<'a>(ibcq: *mut bindings::ib_cq) -> &'a RxeCq {
        // SAFETY: `ibcq` is the first field of a `#[repr(C)]` `RxeCq`.
        unsafe { &*ibcq.cast::<RxeCq>() }
    }

    /// The `ib_cq` for calls into the core.
    pub(crate) fn ib(&self) -> *mut bindings::ib_cq {
        core::ptr::from_ref(&self.ibcq).cast_mut()
    }

    /// Posts a completion; `solicited` for a solicited event. `EBUSY` (and
    /// a CQ error event) when the ring is full: the consumer overran it.
    pub(crate) fn post(&self, c: &Completion, solicited: bool) -> Result {
        let mut slot = [0u8; SLOT_SIZE];
        if self.state.user {
            write_uverbs_wc(c, &mut slot);
        } else {
            write_ib_wc(c, &mut slot);
        }
        let notify = {
            let mut ring = self.state.ring.lock();
            if let Err(e) = ring.q.produce(&slot) {
                drop(ring);
                self.event(bindings::IB_EVENT_CQ_ERR);
                return Err(e);
            }
            let fire = ring.notify & bindings::IB_CQ_NEXT_COMP != 0
                || (solicited && ring.notify & bindings::IB_CQ_SOLICITED != 0);
            if fire {
                ring.notify = 0;
            }
            fire
        };
        if notify {
            // Outside the lock: a kernel consumer's handler may poll or
            // re-arm the CQ at once.
            if let Some(handler) = self.ibcq.comp_handler {
                // SAFETY: The core's handler for this CQ, with its context.
                unsafe { handler(self.ib(), self.ibcq.cq_context) };
            }
        }
        Ok(())
    }

    /// Runs `f` on the ring and the armed notification, locked (for a
    /// checkpoint: nothing completes meanwhile).
    pub(crate) fn with_ring<R>(&self, f: impl FnOnce(&Queue, u32) -> R) -> R {
        let ring = self.state.ring.lock();
        f(&ring.q, ring.notify)
    }

    /// A restored CQ whose notification had fired, with completions still
    /// waiting, raises it again: the event went to a channel the process
    /// no longer reads from, and it may be waiting for one.
    pub(crate) fn renotify(&self) {
        let fire = self.with_ring(|q, notify| notify == 0 && !q.is_empty());
        if fire {
            if let Some(handler) = self.ibcq.comp_handler {
                // SAFETY: The core's handler for this CQ, with its context.
                unsafe { handler(self.ib(), self.ibcq.cq_context) };
            }
        }
    }

    /// The completion vector the CQ was made with.
    pub(crate) fn comp_vector(&self) -> u32 {
        self.ibcq.comp_vector
    }

    /// Reports an asynchronous event on the CQ to its owner.
    fn event(&self, event: bindings::ib_event_type) {
        if let Some(handler) = self.ibcq.event_handler {
            // SAFETY: Plain data.
            let mut ev: bindings::ib_event = unsafe { core::mem::zeroed() };
            ev.device = self.ibcq.device;
            ev.element.cq = self.ib();
            ev.event = event;
            // SAFETY: The owner's handler, with its context.
            unsafe { handler(&mut ev, self.ibcq.cq_context) };
        }
    }
}

/// Writes `c` as a `struct ib_uverbs_wc`.
fn write_uverbs_wc(c: &Completion, out: &mut [u8; SLOT_SIZE]) {
    // SAFETY: Plain data.
    let mut wc: bindings::ib_uverbs_wc = unsafe { core::mem::zeroed() };
    wc.wr_id = c.wr_id;
    wc.status = c.status;
    wc.opcode = c.opcode;
    wc.byte_len = c.byte_len;
    wc.ex.imm_data = c.ex;
    wc.qp_num = c.qp_num;
    wc.src_qp = c.src_qp;
    wc.wc_flags = c.wc_flags;
    wc.pkey_index = c.pkey_index;
    wc.port_num = c.port_num;
    // SAFETY: `SLOT_SIZE >= size_of::<ib_uverbs_wc>()`; unaligned write.
    unsafe {
        out.as_mut_ptr()
            .cast::<bindings::ib_uverbs_wc>()
            .write_unaligned(wc)
    };
}

/// Writes `c` as a `struct ib_wc`.
fn write_ib_wc(c: &Completion, out: &mut [u8; SLOT_SIZE]) {
    // SAFETY: Plain data (pointers may be null).
    let mut wc: bindings::ib_wc = unsafe { core::mem::zeroed() };
    wc.__bindgen_anon_1.wr_id = c.wr_id;
    wc.status = c.status;
    wc.opcode = c.opcode;
    wc.byte_len = c.byte_len;
    wc.qp = c.qp as *mut bindings::ib_qp;
    wc.ex.imm_data = c.ex;
    wc.src_qp = c.src_qp;
    wc.wc_flags = c.wc_flags as i32;
    wc.pkey_index = c.pkey_index;
    wc.port_num = c.port_num.into();
    wc.smac = c.smac;
    wc.network_hdr_type = c.network_hdr_type;
    // SAFETY: `SLOT_SIZE >= size_of::<ib_wc>()`; unaligned write.
    unsafe {
        out.as_mut_ptr()
            .cast::<bindings::ib_wc>()
            .write_unaligned(wc)
    };
}

/// The `create_cq` callback.
///
/// # Safety
///
/// Called by the RDMA core with a zeroed CQ of our size on one of our
/// devices, its attributes, and the user's bundle (NULL for kernel CQs).
pub(crate) unsafe extern "C" fn create_cq(
    ibcq: *mut bindings::ib_cq,
    attr: *const bindings::ib_cq_init_attr,
    attrs: *mut bindings::uverbs_attr_bundle,
) -> kernel::ffi::c_int {
    // SAFETY: As the core promises.
    crate::verbs::errno(unsafe { create(ibcq, &*attr, attrs) })
}

/// # Safety
///
/// As for [`create_cq`].
unsafe fn create(
    ibcq: *mut bindings::ib_cq,
    attr: &bindings::ib_cq_init_attr,
    attrs: *mut bindings::uverbs_attr_bundle,
) -> Result {
    // SAFETY: Our CQ's device.
    let dev = unsafe { RxeDev::from_ibdev((*ibcq).device) };
    // SAFETY: `attrs` is NULL or the caller's bundle.
    let udata = unsafe { bindings::rxe_rs_attrs_udata(attrs) };
    if attr.flags != 0 {
        return Err(EOPNOTSUPP);
    }
    if attr.cqe > dev.attr().max_cqe {
        return Err(EINVAL);
    }
    let user = !udata.is_null();
    // SAFETY: `udata` is NULL or the caller's.
    if user && unsafe { udata::outlen(udata) } < size_of::<MmInfo>() {
        return Err(EINVAL);
    }
    // SAFETY: `udata` is NULL or the caller's; the core set a user CQ's
    // uobject before calling us.
    let claim = unsafe {
        let handle = user.then(|| bindings::rxe_rs_cq_handle(ibcq));
        restore::Claim::take(udata, ucontext::ObjKind::Cq, handle)
    }?;
    let staged = claim.as_ref().map(|c| c.cq()).transpose()?;
    if let Some((c, _)) = &staged {
        if attr.cqe != c.ring.capacity || attr.comp_vector != c.comp_vector {
            return Err(EINVAL);
        }
    }
    // SAFETY: `udata` is NULL or the caller's.
    let slot = unsafe { ucontext::Slot::new(udata) }?;
    dev.state().cqs.take()?;
    // SAFETY: As the core promises; on error the count is given back.
    let res = unsafe { create_ring(ibcq, attr.cqe, user, udata, staged) };
    match res {
        // SAFETY: The CQ is made; `destroy_cq` forgets it.
        Ok(()) => unsafe { slot.fill(ibcq.cast(), ucontext::ObjKind::Cq) },
        Err(_) => dev.state().cqs.give(),
    }
    if let (Ok(()), Some(c)) = (&res, claim) {
        c.done();
    }
    res
}

/// Makes the ring (a restored CQ's: with its staged contents and armed
/// notification), shares it with user space, and initializes the CQ.
///
/// # Safety
///
/// As for [`create_cq`]; `udata` is NULL exactly when `!user`.
unsafe fn create_ring(
    ibcq: *mut bindings::ib_cq,
    cqe: u32,
    user: bool,
    udata: *mut bindings::ib_udata,
    staged: Option<(rec::Cq, &[u8])>,
) -> Result {
    let (mut q, cap) = Queue::new(cqe, SLOT_SIZE, End::Producer)?;
    let mut notify = 0;
    if let Some((c, bytes)) = staged {
        q.restore(bytes, c.ring.index)?;
        notify = c.notify;
        // SAFETY: The core's user CQ being made.
        unsafe { bindings::rxe_rs_cq_set_events(ibcq, c.async_events, c.comp_events) };
    }
    if user {
        // SAFETY: A user CQ has a user context.
        let uctx = unsafe { bindings::rxe_rs_udata_ucontext(udata) };
        // SAFETY: The live context of the call.
        let mi = unsafe { mmap::share(uctx, &mut q) }?;
        // SAFETY: The caller's udata, of the size checked above.
        unsafe { udata::respond(udata, &mi) }?;
    }
    let cq = ibcq.cast::<RxeCq>();
    let init = pin_init!(CqState {
        ring <- new_spinlock_irq!(Ring { q, notify }, "rxe_rs_cq"),
        user,
    });
    // SAFETY: `state` is uninitialized memory in the core's allocation,
    // which stays in place until `destroy_cq` drops it.
    unsafe { init.__init(addr_of_mut!((*cq).state)) }?;
    // SAFETY: The core's CQ, ours to fill in.
    unsafe { (*ibcq).cqe = cap as i32 };
    Ok(())
}

/// The `destroy_cq` callback.
///
/// # Safety
///
/// Called by the RDMA core once for a CQ `create_cq` made, with no QP left
/// on it (the core counts those).
pub(crate) unsafe extern "C" fn destroy_cq(
    ibcq: *mut bindings::ib_cq,
    udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    // SAFETY: The core's udata for the call, on the CQ's context.
    unsafe { ucontext::forget(udata, ibcq.cast()) };
    let cq = ibcq.cast::<RxeCq>();
    // SAFETY: Initialized in `create_cq`; nothing uses it any more.
    unsafe { core::ptr::drop_in_place(addr_of_mut!((*cq).state)) };
    // SAFETY: Our CQ's device.
    unsafe { RxeDev::from_ibdev((*ibcq).device) }
        .state()
        .cqs
        .give();
    0
}

/// The `resize_user_cq` callback: a bigger (or smaller, if the completions
/// waiting still fit) ring, mapped anew.
///
/// # Safety
///
/// Called by the RDMA core for a live CQ of ours.
pub(crate) unsafe extern "C" fn resize_cq(
    ibcq: *mut bindings::ib_cq,
    cqe: kernel::ffi::c_uint,
    udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    // SAFETY: As the core promises.
    crate::verbs::errno(unsafe { resize(ibcq, cqe, udata) })
}

/// # Safety
///
/// As for [`resize_cq`].
unsafe fn resize(ibcq: *mut bindings::ib_cq, cqe: u32, udata: *mut bindings::ib_udata) -> Result {
    // SAFETY: A live CQ of ours.
    let cq = unsafe { RxeCq::from_ib(ibcq) };
    // SAFETY: Its device.
    let dev = unsafe { RxeDev::from_ibdev((*ibcq).device) };
    if cqe > dev.attr().max_cqe {
        return Err(EINVAL);
    }
    let user = !udata.is_null();
    // SAFETY: `udata` is NULL or the caller's.
    if user != cq.state.user || (user && unsafe { udata::outlen(udata) } < size_of::<MmInfo>()) {
        return Err(EINVAL);
    }
    let (mut q, cap) = Queue::new(cqe, SLOT_SIZE, End::Producer)?;
    if user {
        // SAFETY: A user CQ has a user context.
        let uctx = unsafe { bindings::rxe_rs_udata_ucontext(udata) };
        // SAFETY: The live context of the call.
        let mi = unsafe { mmap::share(uctx, &mut q) }?;
        // SAFETY: The caller's udata, of the size checked above. Answered
        // before the swap: user space ignores it if the call fails.
        unsafe { udata::respond(udata, &mi) }?;
    }
    let mut ring = cq.state.ring.lock();
    // `EINVAL` if the completions waiting do not fit.
    q.take_elements(&ring.q)?;
    let old = core::mem::replace(&mut ring.q, q);
    drop(ring);
    // Freed unlocked: `vfree` may sleep.
    drop(old);
    // SAFETY: The core's CQ.
    unsafe { (*ibcq).cqe = cap as i32 };
    Ok(())
}

/// The `poll_cq` callback: kernel consumers only (user space reads its
/// mapped ring).
///
/// # Safety
///
/// Called by the RDMA core for a live CQ of ours with room for `num` work
/// completions at `wc`.
pub(crate) unsafe extern "C" fn poll_cq(
    ibcq: *mut bindings::ib_cq,
    num: kernel::ffi::c_int,
    wc: *mut bindings::ib_wc,
) -> kernel::ffi::c_int {
    // SAFETY: A live CQ of ours.
    let cq = unsafe { RxeCq::from_ib(ibcq) };
    if cq.state.user {
        return EINVAL.to_errno();
    }
    let ring = cq.state.ring.lock();
    let mut n = 0;
    while n < num {
        let mut slot = [0u8; SLOT_SIZE];
        if !ring.q.client_consume(&mut slot) {
            break;
        }
        // SAFETY: The slot holds an `ib_wc` we wrote; `wc` has room for
        // `num` entries (caller) and `n < num`.
        unsafe {
            wc.add(n as usize)
                .write(slot.as_ptr().cast::<bindings::ib_wc>().read_unaligned())
        };
        n += 1;
    }
    n
}

/// The `peek_cq` callback: how many completions (at most `want`) wait.
///
/// # Safety
///
/// Called by the RDMA core for a live CQ of ours.
pub(crate) unsafe extern "C" fn peek_cq(
    ibcq: *mut bindings::ib_cq,
    want: kernel::ffi::c_int,
) -> kernel::ffi::c_int {
    // SAFETY: A live CQ of ours.
    let cq = unsafe { RxeCq::from_ib(ibcq) };
    let n = cq.state.ring.lock().q.count();
    (n as kernel::ffi::c_int).min(want)
}

/// The `req_notify_cq` callback: arms the completion handler; returns 1 if
/// completions already wait and the caller asked to hear of them.
///
/// # Safety
///
/// Called by the RDMA core for a live CQ of ours.
pub(crate) unsafe extern "C" fn req_notify_cq(
    ibcq: *mut bindings::ib_cq,
    flags: bindings::ib_cq_notify_flags,
) -> kernel::ffi::c_int {
    // SAFETY: A live CQ of ours.
    let cq = unsafe { RxeCq::from_ib(ibcq) };
    let mut ring = cq.state.ring.lock();
    ring.notify |= flags & bindings::IB_CQ_SOLICITED_MASK;
    let missed = flags & bindings::IB_CQ_REPORT_MISSED_EVENTS != 0 && !ring.q.is_empty();
    i32::from(missed)
}
