// SPDX-License-Identifier: GPL-2.0

//! Queue pairs: the verbs that create one with user-mapped send and
//! receive rings, move it through the IBTA state machine (`modify_qp`),
//! query it, ring its doorbell and destroy it. What the engines keep of a
//! QP is in `transport::qp`.
//!
//! The driver's state of a QP lives in an `Arc<Qp>` that the device's QP
//! table (by QPN) and the core's `ib_qp` share, so the packet path can hold
//! a QP while `destroy_qp` runs; everything that touches the QP's CQs or
//! rings does so through a `Live` guard, which holds the QP's lock and has
//! seen it not destroyed. The attributes the core sets are kept as it
//! passes them (`ib_qp_attr`), but for the state, a `QpState`.

use core::ptr::addr_of_mut;

use kernel::{prelude::*, sync::Arc};

use crate::{
    bindings,
    mig::restore,
    net::tx::Tx,
    proto::image::record as rec,
    proto::params,
    transport::qp::{
        new_qp, CompState, Drain, Ext, Init, Live, Mig, OnPost, Qp, QpCore, QpState, RdRes,
        ReqState, RespState, Shadow, WorkQueue,
    },
    verbs::{
        av::Av,
        device::RxeDev,
        mmap::{self, MmInfo},
        post::{KPost, Limits},
        queue::{End, Queue},
        srq::Srq,
        ucontext, udata,
    },
};

/// Bytes of a `struct ib_sge` / `struct rxe_sge` in a WQE.
const SGE_SIZE: u32 = 16;
/// The largest inline payload of a send WQE (`RXE_MAX_INLINE_DATA`).
pub(crate) const MAX_INLINE_DATA: u32 = params::MAX_SGE * SGE_SIZE;
/// The QPN of the GSI QP.
const GSI_QPN: u32 = 1;
/// Access flags a QP may allow its peer (`RXE_ACCESS_SUPPORTED_QP`). The
/// flush flags stay accepted although rxe-rs has no flush yet and does not
/// advertise it: rdma_cm sets them when a device advertises flush, and a
/// consumer that asks for them (no flush request is ever carried out) is
/// not refused.
const ACCESS_SUPPORTED_QP: u32 = bindings::IB_ACCESS_LOCAL_WRITE
    | bindings::IB_ACCESS_REMOTE_WRITE
    | bindings::IB_ACCESS_REMOTE_READ
    | bindings::IB_ACCESS_REMOTE_ATOMIC
    | bindings::IB_ACCESS_FLUSH_GLOBAL
    | bindings::IB_ACCESS_FLUSH_PERSISTENT;

/// A QP as the RDMA core sees it.
///
/// INVARIANT: `qp` is `Some` from the end of `create_qp` until
/// `destroy_qp`.
#[repr(C)]
pub(crate) struct RxeQp {
    /// Must be first: the core allocates the object with our size.
    ibqp: bindings::ib_qp,
    qp: Option<Arc<Qp>>,
}

/// The size of a send WQE slot for the given limits, and the limits it
/// really gives: `(slot bytes, max_sge, max_inline)`.
fn send_wqe_size(max_sge: u32, max_inline: u32) -> (usize, u32, u32) {
    let data = (max_sge * SGE_SIZE).max(max_inline);
    (
        size_of::<bindings::rxe_send_wqe>() + data as usize,
        data / SGE_SIZE,
        data,
    )
}

/// The size of a receive WQE slot.
fn recv_wqe_size(max_sge: u32) -> usize {
    size_of::<bindings::rxe_recv_wqe>() + (max_sge * SGE_SIZE) as usize
}

/// Checks the queue sizes asked for against the device's limits.
fn check_cap(dev: &RxeDev, cap: &bindings::ib_qp_cap, has_srq: bool) -> Result {
    let a = dev.attr();
    let too_big = cap.max_send_wr > a.max_qp_wr
        || cap.max_send_sge > a.max_send_sge
        || cap.max_inline_data > MAX_INLINE_DATA
        || (!has_srq && (cap.max_recv_wr > a.max_qp_wr || cap.max_recv_sge > a.max_recv_sge));
    if too_big {
        return Err(EINVAL);
    }
    Ok(())
}

/// `struct rxe_create_qp_resp`.
#[repr(C)]
#[derive(Default)]
struct CreateQpResp {
    rq_mi: MmInfo,
    sq_mi: MmInfo,
}

/// The `create_qp` callback.
///
/// # Safety
///
/// Called by the RDMA core with a zeroed QP of our size on one of our
/// devices, its attributes, and the user's udata (NULL for kernel QPs).
pub(crate) unsafe extern "C" fn create_qp(
    ibqp: *mut bindings::ib_qp,
    init: *mut bindings::ib_qp_init_attr,
    udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    // SAFETY: As the core promises.
    crate::verbs::errno(unsafe { create(ibqp, &mut *init, udata) })
}

/// # Safety
///
/// As for [`create_qp`].
unsafe fn create(
    ibqp: *mut bindings::ib_qp,
    init: &mut bindings::ib_qp_init_attr,
    udata: *mut bindings::ib_udata,
) -> Result {
    // SAFETY: Our QP's device.
    let dev = unsafe { RxeDev::from_ibdev((*ibqp).device) };
    match init.qp_type {
        bindings::IB_QPT_RC | bindings::IB_QPT_UC | bindings::IB_QPT_UD | bindings::IB_QPT_GSI => {}
        _ => return Err(EOPNOTSUPP),
    }
    if init.create_flags != 0 || !init.xrcd.is_null() {
        return Err(EOPNOTSUPP);
    }
    if init.send_cq.is_null() || init.recv_cq.is_null() {
        return Err(EINVAL);
    }
    if init.qp_type == bindings::IB_QPT_GSI && init.port_num != 1 {
        return Err(EINVAL);
    }
    let srq = if init.srq.is_null() {
        None
    } else {
        // SAFETY: The core passes a live SRQ of ours, held for the QP.
        Some(unsafe { Srq::of(init.srq) }.ok_or(EINVAL)?.clone())
    };
    check_cap(dev, &init.cap, srq.is_some())?;
    if srq.is_some() {
        // The receive side is the SRQ's.
        init.cap.max_recv_wr = 0;
        init.cap.max_recv_sge = 0;
    }
    let user = !udata.is_null();
    // SAFETY: `udata` is NULL or the caller's.
    if user && unsafe { udata::outlen(udata) } < size_of::<CreateQpResp>() {
        return Err(EINVAL);
    }
    // SAFETY: As above; the core set a user QP's uobject before calling us.
    let claim = unsafe {
        let handle = user.then(|| bindings::rxe_rs_qp_handle(ibqp));
        restore::Claim::take(udata, ucontext::ObjKind::Qp, handle)
    }?;
    let staged = match &claim {
        // SAFETY: As the core promises.
        Some(c) => Some(unsafe { staged_qp(dev, ibqp, init, c) }?),
        None => None,
    };
    // SAFETY: As above.
    let slot = unsafe { ucontext::Slot::new(udata) }?;
    dev.state().qp_count.take()?;
    // SAFETY: As the core promises.
    let res = unsafe { create_counted(dev, ibqp, init, udata, srq, staged.as_ref()) };
    match res {
        // SAFETY: The QP is made; `destroy_qp` forgets it.
        Ok(()) => unsafe { slot.fill(ibqp.cast(), ucontext::ObjKind::Qp) },
        Err(_) => dev.state().qp_count.give(),
    }
    drop(staged);
    if let (Ok(()), Some(c)) = (&res, claim) {
        c.done();
    }
    res
}

/// The staged QP a create restores, with its path on this device, once
/// the create is seen to ask for what the image has.
///
/// # Safety
///
/// As for [`create_qp`].
unsafe fn staged_qp<'c>(
    dev: &RxeDev,
    ibqp: *mut bindings::ib_qp,
    init: &bindings::ib_qp_init_attr,
    claim: &'c restore::Claim<'_>,
) -> Result<(restore::StagedQp<'c>, Option<Av>)> {
    let s = claim.qp()?;
    let q = &s.qp;
    // SAFETY: The core's QP, its PD, and the CQs and SRQ the create names.
    let refs = unsafe {
        (
            bindings::rxe_rs_pd_handle((*ibqp).pd),
            bindings::rxe_rs_cq_handle(init.send_cq),
            bindings::rxe_rs_cq_handle(init.recv_cq),
            if init.srq.is_null() {
                rec::NO_HANDLE
            } else {
                bindings::rxe_rs_srq_handle(init.srq)
            },
        )
    };
    let c = &init.cap;
    let same = u32::from(q.qp_type) == init.qp_type
        && (q.flags & rec::QP_SIG_ALL != 0) == (init.sq_sig_type == bindings::IB_SIGNAL_ALL_WR)
        && refs == (q.pd, q.send_cq, q.recv_cq, q.srq)
        && c.max_send_wr == q.sq.capacity
        && c.max_send_sge == q.sq_max_sge
        && c.max_inline_data == q.sq_max_inline
        && (q.srq != rec::NO_HANDLE
            || (c.max_recv_wr == q.rq.capacity && c.max_recv_sge == q.rq_max_sge));
    if !same {
        return Err(EINVAL);
    }
    // SAFETY: The core's user QP being made.
    unsafe { bindings::rxe_rs_qp_set_events(ibqp, q.async_events) };
    let av = if q.flags & rec::QP_HAS_PATH != 0 {
        let sgid = claim.sgid(q.path.ipv6 == 1)?;
        Some(restore::path(dev.ibdev(), &q.path, sgid)?)
    } else {
        None
    };
    Ok((s, av))
}

/// # Safety
///
/// As for [`create_qp`].
unsafe fn create_counted(
    dev: &RxeDev,
    ibqp: *mut bindings::ib_qp,
    init: &mut bindings::ib_qp_init_attr,
    udata: *mut bindings::ib_udata,
    srq: Option<Arc<Srq>>,
    staged: Option<&(restore::StagedQp<'_>, Option<Av>)>,
) -> Result {
    let (sq_slot, sq_sge, sq_inline) =
        send_wqe_size(init.cap.max_send_sge, init.cap.max_inline_data);
    let (mut sq_ring, sq_wr) = Queue::new(init.cap.max_send_wr, sq_slot, End::Consumer)?;
    let (mut rq_ring, rq_wr) = Queue::new(
        init.cap.max_recv_wr,
        recv_wqe_size(init.cap.max_recv_sge),
        End::Consumer,
    )?;
    if !udata.is_null() {
        // SAFETY: A user QP has a user context.
        let uctx = unsafe { bindings::rxe_rs_udata_ucontext(udata) };
        // SAFETY: The live context of the call.
        let rq_mi = unsafe { mmap::share(uctx, &mut rq_ring) }?;
        // SAFETY: As above.
        let sq_mi = unsafe { mmap::share(uctx, &mut sq_ring) }?;
        let resp = CreateQpResp { rq_mi, sq_mi };
        // SAFETY: The caller's udata, checked big enough.
        unsafe { udata::respond(udata, &resp) }?;
    }
    // SAFETY: Plain data.
    let mut attr: bindings::ib_qp_attr = unsafe { core::mem::zeroed() };
    attr.port_num = 1;
    attr.cap = bindings::ib_qp_cap {
        max_send_wr: sq_wr,
        max_recv_wr: rq_wr,
        max_send_sge: sq_sge,
        max_recv_sge: init.cap.max_recv_sge,
        max_inline_data: sq_inline,
        max_rdma_ctxs: 0,
    };
    // SAFETY: The core's QP.
    let pd = unsafe { (*ibqp).pd } as usize;
    let sq = WorkQueue {
        ring: sq_ring,
        max_sge: sq_sge,
        max_inline: sq_inline,
    };
    let rq = WorkQueue {
        ring: rq_ring,
        max_sge: init.cap.max_recv_sge,
        max_inline: 0,
    };
    let what = Init {
        qp_type: init.qp_type,
        dev,
        scq: init.send_cq.cast(),
        rcq: init.recv_cq.cast(),
        ibqp,
        user: !udata.is_null(),
        // SAFETY: NULL (kernel QP) or the live context of the call.
        uctx: unsafe { bindings::rxe_rs_udata_ucontext(udata) } as usize,
        sig_all: init.sq_sig_type == bindings::IB_SIGNAL_ALL_WR,
    };
    let srq_for_qp = srq;
    let shadow = Shadow::new(&sq.ring)?;
    let mut core = QpCore {
        state: QpState::Reset,
        attr,
        av: None,
        destroyed: false,
        sq,
        rq,
        shadow,
        req: ReqState::default(),
        comp: CompState::default(),
        resp: RespState::default(),
        tx: Tx::default(),
        ext: Ext::default(),
        resume_due: false,
    };
    // A restored QP's state, before anything can see the QP.
    let restored = match staged {
        Some((s, av)) => Some((s.qp.qpn, restore::apply_qp(&mut core, s, *av)?, s)),
        None => None,
    };
    let make = |qpn| Arc::pin_init(new_qp(qpn, what, pd, core, srq_for_qp), GFP_KERNEL);
    let table = dev.qps();
    let qpn = match restored {
        _ if init.qp_type == bindings::IB_QPT_GSI => {
            table.insert_at_with(GSI_QPN, make).map(|()| GSI_QPN)?
        }
        // A restored QP keeps its number; an RC one whose peer speaks the
        // extension may take another, which its resume announces.
        Some((want, _, s)) if s.qp.qp_type == rec::QPT_RC && s.qp.flags & rec::QP_PEER_EXT != 0 => {
            table.insert_preferring(want, make)?
        }
        Some((want, ..)) => table.insert_at_with(want, make).map(|()| want)?,
        None => table.insert_with(make)?,
    };
    let qp = table.with(qpn, Arc::clone).ok_or(EINVAL)?;
    if let Some((_, state, _)) = restored {
        restore::enter_state(&qp, state);
        if state != QpState::Reset {
            // SAFETY: The core's QP being made: the port `modify_qp` to
            // INIT would have recorded (for the core's resource tracking).
            unsafe { (*ibqp).port = 1 };
        }
    }
    if udata.is_null() {
        let core = qp.core.lock();
        let mut k = qp.kpost.lock();
        // SAFETY: The views live in `kpost`, which `destroy_qp` empties
        // before it detaches the rings; the kernel consumer is the only
        // client of a kernel QP's rings.
        unsafe {
            k.sq = core.sq.ring.producer_view();
            k.rq = core.rq.ring.producer_view();
        }
        k.lim = Limits {
            max_send_sge: core.sq.max_sge,
            max_recv_sge: core.rq.max_sge,
            max_inline: core.sq.max_inline,
        };
    }
    init.cap = attr.cap;
    let rq = ibqp.cast::<RxeQp>();
    // SAFETY: The core's zeroed allocation; `qp` is ours to fill in.
    unsafe {
        (*ibqp).qp_num = qpn;
        addr_of_mut!((*rq).qp).write(Some(qp));
    }
    Ok(())
}

impl RxeQp {
    /// The driver's QP behind an `ib_qp` of ours.
    ///
    /// # Safety
    ///
    /// `ibqp` must be a QP of ours between `create_qp` and `destroy_qp`.
    pub(crate) unsafe fn qp<'a>(ibqp: *mut bindings::ib_qp) -> Result<&'a Arc<Qp>> {
        // SAFETY: `ibqp` is the first field of a `#[repr(C)]` `RxeQp`.
        unsafe { (*ibqp.cast::<RxeQp>()).qp.as_ref() }.ok_or(EINVAL)
    }
}

/// The `destroy_qp` callback.
///
/// # Safety
///
/// Called by the RDMA core once for a QP `create_qp` made.
pub(crate) unsafe extern "C" fn destroy_qp(
    ibqp: *mut bindings::ib_qp,
    udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    // SAFETY: The core's udata for the call, on the QP's context.
    unsafe { ucontext::forget(udata, ibqp.cast()) };
    let rq = ibqp.cast::<RxeQp>();
    // SAFETY: Ours; taking the `Arc` leaves `None` behind.
    let Some(qp) = (unsafe { (*rq).qp.take() }) else {
        return 0;
    };
    // SAFETY: Our QP's device.
    let dev = unsafe { RxeDev::from_ibdev((*ibqp).device) };
    drop(dev.qps().remove(qp.qpn));
    *qp.kpost.lock() = KPost::default();
    {
        let mut core = qp.core.lock();
        core.destroyed = true;
        // The rings go now, while the user context (and its mmap table)
        // surely lives; packets in flight may hold the QP a little longer.
        core.sq.ring.detach();
        core.rq.ring.detach();
        core.resp.recv = None;
        core.resp.write = None;
        core.tx.clear();
    }
    // Out of the table, so nothing queues packets on it any more.
    qp.purge_rx();
    qp.cancel_timer();
    dev.state().qp_count.give();
    drop(qp);
    0
}

/// The `modify_qp` callback.
///
/// # Safety
///
/// Called by the RDMA core for a live QP of ours with its attributes.
pub(crate) unsafe extern "C" fn modify_qp(
    ibqp: *mut bindings::ib_qp,
    attr: *mut bindings::ib_qp_attr,
    mask: kernel::ffi::c_int,
    udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    // SAFETY: As the core promises.
    crate::verbs::errno(unsafe { modify(ibqp, &*attr, mask as u32, udata) })
}

/// # Safety
///
/// As for [`modify_qp`].
unsafe fn modify(
    ibqp: *mut bindings::ib_qp,
    attr: &bindings::ib_qp_attr,
    mask: u32,
    udata: *mut bindings::ib_udata,
) -> Result {
    // SAFETY: Live QP of ours.
    let qp = unsafe { RxeQp::qp(ibqp) }?;
    // SAFETY: Its device.
    let dev = unsafe { RxeDev::from_ibdev((*ibqp).device) };
    if mask & !bindings::IB_QP_ATTR_STANDARD_BITS != 0 {
        return Err(EOPNOTSUPP);
    }
    // SAFETY: NULL or the caller's.
    if !udata.is_null() && unsafe { udata::inlen(udata) } != 0 {
        // The rxe provider sends no driver data with modify_qp.
        return Err(EOPNOTSUPP);
    }
    let mut live = Live::lock(qp).ok_or(EINVAL)?;
    let cur = if mask & bindings::IB_QP_CUR_STATE != 0 {
        attr.cur_qp_state
    } else {
        live.state.to_ib()
    };
    let next = if mask & bindings::IB_QP_STATE != 0 {
        attr.qp_state
    } else {
        cur
    };
    // SAFETY: Pure function of its arguments.
    if !unsafe { bindings::ib_modify_qp_is_ok(cur, next, qp.qp_type, mask) } {
        return Err(EINVAL);
    }
    let to = QpState::from_ib(next).ok_or(EINVAL)?;
    check_attr(dev, qp, attr, mask)?;
    let av = if mask & bindings::IB_QP_AV != 0 {
        Some(Av::from_ah_attr(dev, &attr.ah_attr)?)
    } else {
        None
    };
    let res = if mask & bindings::IB_QP_MAX_DEST_RD_ATOMIC != 0 {
        let mut v = KVec::new();
        v.resize(
            usize::from(round_pow2(attr.max_dest_rd_atomic)),
            RdRes::default(),
            GFP_KERNEL,
        )?;
        Some(v)
    } else {
        None
    };
    let (cx, core) = live.split();
    apply(core, attr, mask, av);
    if let Some(res) = res {
        core.resp.res = res;
        core.resp.res_next = 0;
    }
    start_psns(core, mask);
    if mask & bindings::IB_QP_STATE != 0 {
        let to = match to {
            QpState::Sqd(..) => QpState::Sqd(
                Drain::Draining {
                    notify: core.attr.en_sqd_async_notify != 0,
                },
                Mig::Running,
            ),
            other => other,
        };
        // A QP being migrated stays so through its owner's moves between
        // the states that have a migration sub-state.
        let to = match core.state.mig() {
            Some(m) => to.with_mig(m),
            None => to,
        };
        crate::transport::qp::enter(cx, core, to);
    }
    Ok(())
}

/// Where the engines' PSNs and retry budgets start, for the attributes
/// `mask` sets.
fn start_psns(core: &mut QpCore, mask: u32) {
    if mask & bindings::IB_QP_SQ_PSN != 0 {
        core.req.psn = core.attr.sq_psn;
        core.req.max_psn = core.attr.sq_psn;
        core.comp.psn = core.attr.sq_psn;
    }
    if mask & bindings::IB_QP_RQ_PSN != 0 {
        core.resp.psn = core.attr.rq_psn;
    }
    if mask & (bindings::IB_QP_RETRY_CNT | bindings::IB_QP_RNR_RETRY) != 0 {
        core.comp.retry_left = core.attr.retry_cnt;
        core.comp.rnr_left = core.attr.rnr_retry;
    }
}

/// The attribute checks `ib_modify_qp_is_ok` does not make.
fn check_attr(dev: &RxeDev, qp: &Qp, attr: &bindings::ib_qp_attr, mask: u32) -> Result {
    let has = |bit: u32| mask & bit != 0;
    let bad = (has(bindings::IB_QP_PORT) && attr.port_num != 1)
        || (has(bindings::IB_QP_CAP) && check_cap(dev, &attr.cap, false).is_err())
        || (has(bindings::IB_QP_ACCESS_FLAGS)
            && (!matches!(qp.qp_type, bindings::IB_QPT_RC | bindings::IB_QPT_UC)
                || attr.qp_access_flags as u32 & !ACCESS_SUPPORTED_QP != 0))
        || (has(bindings::IB_QP_PATH_MTU)
            && !(bindings::IB_MTU_256..=bindings::IB_MTU_4096).contains(&attr.path_mtu))
        || (has(bindings::IB_QP_MAX_QP_RD_ATOMIC)
            && u32::from(attr.max_rd_atomic) > dev.attr().max_qp_rd_atom)
        || (has(bindings::IB_QP_MAX_DEST_RD_ATOMIC)
            && u32::from(attr.max_dest_rd_atomic) > dev.attr().max_qp_rd_atom)
        || (has(bindings::IB_QP_TIMEOUT) && attr.timeout > 31)
        || (has(bindings::IB_QP_PKEY_INDEX) && attr.pkey_index != 0)
        || has(bindings::IB_QP_ALT_PATH);
    if bad {
        return Err(EINVAL);
    }
    Ok(())
}

/// Stores the attributes `mask` names, as rxe does (atomic depths rounded
/// up to a power of two; PSNs to 24 bits).
fn apply(core: &mut QpCore, attr: &bindings::ib_qp_attr, mask: u32, av: Option<Av>) {
    let has = |bit: u32| mask & bit != 0;
    let a = &mut core.attr;
    if has(bindings::IB_QP_EN_SQD_ASYNC_NOTIFY) {
        a.en_sqd_async_notify = attr.en_sqd_async_notify;
    }
    if has(bindings::IB_QP_ACCESS_FLAGS) {
        a.qp_access_flags = attr.qp_access_flags;
    }
    if has(bindings::IB_QP_PKEY_INDEX) {
        a.pkey_index = attr.pkey_index;
    }
    if has(bindings::IB_QP_PORT) {
        a.port_num = attr.port_num;
    }
    if has(bindings::IB_QP_QKEY) {
        a.qkey = attr.qkey;
    }
    if has(bindings::IB_QP_PATH_MTU) {
        a.path_mtu = attr.path_mtu;
    }
    if has(bindings::IB_QP_TIMEOUT) {
        a.timeout = attr.timeout;
    }
    if has(bindings::IB_QP_RETRY_CNT) {
        a.retry_cnt = attr.retry_cnt & 7;
    }
    if has(bindings::IB_QP_RNR_RETRY) {
        a.rnr_retry = attr.rnr_retry & 7;
    }
    if has(bindings::IB_QP_MIN_RNR_TIMER) {
        a.min_rnr_timer = attr.min_rnr_timer & 0x1f;
    }
    if has(bindings::IB_QP_RQ_PSN) {
        a.rq_psn = attr.rq_psn & 0x00ff_ffff;
    }
    if has(bindings::IB_QP_SQ_PSN) {
        a.sq_psn = attr.sq_psn & 0x00ff_ffff;
    }
    if has(bindings::IB_QP_MAX_QP_RD_ATOMIC) {
        a.max_rd_atomic = round_pow2(attr.max_rd_atomic);
    }
    if has(bindings::IB_QP_MAX_DEST_RD_ATOMIC) {
        a.max_dest_rd_atomic = round_pow2(attr.max_dest_rd_atomic);
    }
    if has(bindings::IB_QP_DEST_QPN) {
        a.dest_qp_num = attr.dest_qp_num & 0x00ff_ffff;
    }
    if let Some(av) = av {
        core.av = Some(av);
    }
}

/// `n` rounded up to a power of two (0 stays 0), within `u8`.
fn round_pow2(n: u8) -> u8 {
    if n == 0 {
        0
    } else {
        n.checked_next_power_of_two().unwrap_or(128)
    }
}

/// The `query_qp` callback.
///
/// # Safety
///
/// Called by the RDMA core for a live QP of ours with writable results.
pub(crate) unsafe extern "C" fn query_qp(
    ibqp: *mut bindings::ib_qp,
    attr: *mut bindings::ib_qp_attr,
    _mask: kernel::ffi::c_int,
    init: *mut bindings::ib_qp_init_attr,
) -> kernel::ffi::c_int {
    // SAFETY: Live QP of ours.
    let qp = match unsafe { RxeQp::qp(ibqp) } {
        Ok(qp) => qp,
        Err(e) => return e.to_errno(),
    };
    let core = qp.core.lock();
    let mut out = core.attr;
    out.qp_state = core.state.to_ib();
    out.cur_qp_state = out.qp_state;
    out.sq_draining = u8::from(core.state.draining());
    // Where the engines are now, as the C rxe reports.
    out.sq_psn = core.req.psn;
    out.rq_psn = core.resp.psn;
    if let Some(av) = &core.av {
        av.write_ah_attr(&mut out.ah_attr);
    }
    // SAFETY: The core passes writable structs.
    unsafe {
        *attr = out;
        (*init).cap = out.cap;
        (*init).qp_type = qp.qp_type;
        (*init).send_cq = (*ibqp).send_cq;
        (*init).recv_cq = (*ibqp).recv_cq;
        (*init).sq_sig_type = bindings::IB_SIGNAL_REQ_WR;
    }
    0
}

/// The `post_send` callback: for user QPs the doorbell (the WQEs are
/// already in the mapped ring, and are sent before it returns); kernel
/// consumers' work requests go through [`crate::post`].
///
/// # Safety
///
/// Called by the RDMA core for a live QP of ours.
pub(crate) unsafe extern "C" fn post_send(
    ibqp: *mut bindings::ib_qp,
    wr: *const bindings::ib_send_wr,
    bad: *mut *const bindings::ib_send_wr,
) -> kernel::ffi::c_int {
    // SAFETY: Live QP of ours.
    let qp = match unsafe { RxeQp::qp(ibqp) } {
        Ok(qp) => qp,
        Err(e) => return e.to_errno(),
    };
    if !qp.user {
        if wr.is_null() {
            return 0;
        }
        // SAFETY: The consumer's WR chain and result pointer.
        return crate::verbs::errno(unsafe { crate::verbs::post::post_send(qp, wr, bad) });
    }
    if !wr.is_null() {
        // User QPs post through their ring.
        if !bad.is_null() {
            // SAFETY: The core passes a writable pointer for the failing WR.
            unsafe { *bad = wr };
        }
        return EINVAL.to_errno();
    }
    match qp.on_post_send() {
        OnPost::Refuse => EINVAL.to_errno(),
        OnPost::Flush | OnPost::Queue => {
            // The doorbell is a system call: the engines run right here,
            // in the poster's context, as rxe used to, rather than wake a
            // worker (which costs small messages a context switch each),
            // unless they are running already (a receive, a timeout): then
            // their runner sees the new WQEs, and the poster goes on at
            // once. A run's budget bounds the time taken here; the QP's
            // work item takes the rest over. In the error state the WQEs
            // complete flushed.
            // SAFETY: Our QP's device.
            let dev = unsafe { RxeDev::from_ibdev((*ibqp).device) };
            qp.doorbell(dev.doorbell_alone(qp.qpn));
            0
        }
    }
}

/// The `post_recv` callback: kernel QPs only (user space writes its
/// receive ring directly).
///
/// # Safety
///
/// Called by the RDMA core for a live QP of ours.
pub(crate) unsafe extern "C" fn post_recv(
    ibqp: *mut bindings::ib_qp,
    wr: *const bindings::ib_recv_wr,
    bad: *mut *const bindings::ib_recv_wr,
) -> kernel::ffi::c_int {
    // SAFETY: Live QP of ours.
    let qp = match unsafe { RxeQp::qp(ibqp) } {
        Ok(qp) => qp,
        Err(e) => return e.to_errno(),
    };
    if qp.user {
        if !bad.is_null() {
            // SAFETY: The core passes a writable pointer for the failing WR.
            unsafe { *bad = wr };
        }
        return EINVAL.to_errno();
    }
    // SAFETY: The consumer's WR chain and result pointer.
    crate::verbs::errno(unsafe { crate::verbs::post::post_recv(qp, wr, bad) })
}
