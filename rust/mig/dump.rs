// SPDX-License-Identifier: GPL-2.0

//! DUMP: the checkpoint image of a user context (`proto::image`), taken
//! while its QPs are stopped, so that nothing changes behind it. Every
//! object of the context's register goes in, in uverbs handle order, with
//! what user space and the peer can observe of it: numbers and keys,
//! attributes, engine state, the responder's replay slots, the send WQEs
//! begun, and the rings' whole buffers.
//!
//! The image is written twice by the same code: into a [`Sizer`] to size
//! the buffer, then into a [`Writer`], under the register's lock, so no
//! object comes or goes between the two.

use kernel::prelude::*;

use crate::{
    bindings,
    proto::{
        image::{
            record::{self as rec, Kind},
            ImageError, Sink, Sizer, Writer,
        },
        msgseq::MsgPos,
        sort,
        uapi::FdPair,
    },
    transport::qp::{Drain, Live, Mig, QpCore, QpState},
    verbs::{
        ah,
        av::Av,
        cq::{self, RxeCq},
        mr,
        qp::RxeQp,
        queue::Queue,
        srq::Srq,
        ucontext::{self, ObjKind},
    },
};

/// Who wrote the image.
const PRODUCER: &[u8] = b"rxe-rs kernel dump";

/// An object of the context, as its register holds it.
#[derive(Clone, Copy)]
struct Obj {
    handle: u32,
    kind: ObjKind,
    /// The address of its core object (`ib_pd`, `ib_cq`, ...).
    ptr: usize,
}

/// A context's image.
pub(crate) struct Dumped {
    pub(crate) bytes: KVVec<u8>,
    pub(crate) records: u32,
    pub(crate) objects: u32,
}

/// The image of the user context `uctx`. `EBUSY` if a QP that can be
/// stopped (RTR, RTS, SQD) is not; `EINVAL` for an object no image can
/// hold.
///
/// # Safety
///
/// `uctx` must be a live user context of one of our devices (a method
/// handler's).
pub(crate) unsafe fn dump(uctx: *mut bindings::ib_ucontext, fds: &[FdPair]) -> Result<Dumped> {
    // SAFETY: As the caller promises.
    let register = unsafe { ucontext::objects(uctx) }.lock();
    let mut objs = KVec::with_capacity(register.iter().count(), GFP_KERNEL)?;
    for (&ptr, &kind) in register.iter() {
        // SAFETY: A live object of `kind` while the register is locked
        // (its invariant).
        let handle = unsafe { handle_of(kind, ptr) };
        if handle == u32::MAX {
            return Err(EINVAL);
        }
        objs.push(Obj { handle, kind, ptr }, GFP_KERNEL)?;
    }
    sort::sort_by_key(&mut objs, |o| o.handle);
    let objs = &objs[..];
    // SAFETY: Every object is live while `register` is locked.
    unsafe { all_stopped(objs) }?;

    let async_fd = fds
        .iter()
        // SAFETY: A live context (caller).
        .find(|p| unsafe { bindings::rxe_rs_fd_is_async_file(p.own_fd, uctx) })
        .map_or(rec::NO_FD, |p| p.proc_fd);
    let mut sizer = Sizer::default();
    // SAFETY: As above.
    unsafe { emit(&mut sizer, objs, async_fd, fds) }?;
    let mut bytes = KVVec::from_elem(0u8, sizer.bytes(), GFP_KERNEL)?;
    let mut w = Writer::new(&mut bytes).map_err(image_err)?;
    // SAFETY: As above.
    unsafe { emit(&mut w, objs, async_fd, fds) }?;
    let len = w.finish().map_err(image_err)?;
    drop(register);
    if len != bytes.len() {
        // The same objects, locked, wrote less than they sized: a bug.
        return Err(EFAULT);
    }
    Ok(Dumped {
        bytes,
        records: sizer.count(),
        objects: u32::try_from(objs.len()).map_err(|_| EINVAL)?,
    })
}

/// Copies `src` into `dst`, which a sink sized for it (a length mismatch
/// would be a bug, and copies what fits rather than panic).
fn copy(dst: &mut [u8], src: &[u8]) {
    for (d, s) in dst.iter_mut().zip(src) {
        *d = *s;
    }
}

/// How an image error from our own objects is reported.
fn image_err(e: ImageError) -> Error {
    match e {
        ImageError::TooLarge => EFBIG,
        // The sized buffer was too short: something changed between the
        // passes, which the register's lock and the stopped QPs rule out.
        ImageError::NoRoom => EFAULT,
        _ => EINVAL,
    }
}

/// The uverbs handle of a registered object.
///
/// # Safety
///
/// `ptr` is a live core object of `kind`.
pub(super) unsafe fn handle_of(kind: ObjKind, ptr: usize) -> u32 {
    // SAFETY: As the caller promises.
    unsafe {
        match kind {
            ObjKind::Pd => bindings::rxe_rs_pd_handle(ptr as *const _),
            ObjKind::Cq => bindings::rxe_rs_cq_handle(ptr as *const _),
            ObjKind::Srq => bindings::rxe_rs_srq_handle(ptr as *const _),
            ObjKind::Mr => bindings::rxe_rs_mr_handle(ptr as *const _),
            ObjKind::Ah => bindings::rxe_rs_ah_handle(ptr as *const _),
            ObjKind::Qp => bindings::rxe_rs_qp_handle(ptr as *const _),
        }
    }
}

/// What the uverbs core keeps of a user object, as `get` reads it.
///
/// # Safety
///
/// `get` reads a live user object.
unsafe fn uobj_state(
    get: impl FnOnce(*mut bindings::rxe_rs_uobj_state),
) -> bindings::rxe_rs_uobj_state {
    let mut st = bindings::rxe_rs_uobj_state::default();
    get(&mut st);
    st
}

/// The handle of the PD at `pd`.
///
/// # Safety
///
/// `pd` is a live `ib_pd` (one a live object of the context uses).
unsafe fn pd_handle(pd: usize) -> u32 {
    // SAFETY: As the caller promises.
    unsafe { bindings::rxe_rs_pd_handle(pd as *const _) }
}

/// Every QP that can be stopped is.
///
/// # Safety
///
/// The objects are live.
unsafe fn all_stopped(objs: &[Obj]) -> Result {
    for o in objs.iter().filter(|o| o.kind == ObjKind::Qp) {
        // SAFETY: A live QP of ours (caller).
        let qp = unsafe { RxeQp::qp(o.ptr as *mut _) }?;
        let live = Live::lock(qp).ok_or(EINVAL)?;
        if matches!(live.state.mig(), Some(m) if m != Mig::Stopped) {
            return Err(EBUSY);
        }
    }
    Ok(())
}

/// Writes the image of `objs` (sorted by handle) into `s`.
///
/// # Safety
///
/// The objects are live, and stay so (their register is locked).
unsafe fn emit<S: Sink>(s: &mut S, objs: &[Obj], async_fd: u32, fds: &[FdPair]) -> Result {
    s.record_with(Kind::Producer, PRODUCER.len(), |b| copy(b, PRODUCER))
        .map_err(image_err)?;
    let count = |k| objs.iter().filter(|o| o.kind == k).count() as u32;
    let context = rec::Context {
        page_size: kernel::page::PAGE_SIZE as u32,
        cq_log2_elem: cq::SLOT_LOG2,
        flags: rec::CONTEXT_STOPPED,
        pds: count(ObjKind::Pd),
        cqs: count(ObjKind::Cq),
        srqs: count(ObjKind::Srq),
        mrs: count(ObjKind::Mr),
        ahs: count(ObjKind::Ah),
        qps: count(ObjKind::Qp),
        async_fd,
    };
    s.put(Kind::Context, &context).map_err(image_err)?;
    for o in objs {
        // SAFETY: Live (caller).
        unsafe {
            match o.kind {
                ObjKind::Pd => emit_pd(s, o),
                ObjKind::Cq => emit_cq(s, o, fds),
                ObjKind::Srq => emit_srq(s, o),
                ObjKind::Mr => emit_mr(s, o),
                ObjKind::Ah => emit_ah(s, o),
                ObjKind::Qp => emit_qp(s, o),
            }
        }?;
    }
    Ok(())
}

/// # Safety
///
/// As for [`emit`].
unsafe fn emit_pd<S: Sink>(s: &mut S, o: &Obj) -> Result {
    let pd = rec::Pd {
        handle: o.handle,
        reserved: 0,
    };
    s.put(Kind::Pd, &pd).map_err(image_err)
}

/// A ring record: the head, then the ring's buffer, which `copy` writes.
fn emit_ring<S: Sink>(
    s: &mut S,
    handle: u32,
    which: u32,
    info: &rec::RingInfo,
    copy: impl FnOnce(&mut [u8]) -> Result,
) -> Result {
    let head = rec::RingHead { handle, which };
    let mut res = Ok(());
    s.put_headed(Kind::Ring, &head, info.mmap_size as usize, |b| {
        res = copy(b)
    })
    .map_err(image_err)?;
    res
}

/// # Safety
///
/// As for [`emit`].
unsafe fn emit_cq<S: Sink>(s: &mut S, o: &Obj, fds: &[FdPair]) -> Result {
    // SAFETY: A live CQ of ours (caller).
    let cq = unsafe { RxeCq::from_ib(o.ptr as *mut _) };
    let (ring, notify) = cq.with_ring(|q, n| (q.info(), n));
    let ring = ring?;
    // SAFETY: A live user CQ.
    let u = unsafe { uobj_state(|st| bindings::rxe_rs_cq_state(cq.ib(), st)) };
    let channel = if u.has_channel == 0 {
        rec::NO_FD
    } else {
        // The caller must say where the process has it: the core forgets
        // an event file's number once it is installed.
        fds.iter()
            // SAFETY: A live CQ.
            .find(|p| unsafe { bindings::rxe_rs_fd_is_cq_channel(p.own_fd, cq.ib()) })
            .map(|p| p.proc_fd)
            .ok_or(EBADF)?
    };
    let r = rec::Cq {
        handle: o.handle,
        notify,
        comp_vector: cq.comp_vector(),
        channel,
        comp_events: u.comp_events,
        async_events: u.async_events,
        user_handle: u.user_handle,
        ring,
    };
    s.put(Kind::Cq, &r).map_err(image_err)?;
    emit_ring(s, o.handle, rec::RING_CQ, &ring, |b| {
        cq.with_ring(|q, _| q.copy_all(b))
    })
}

/// # Safety
///
/// As for [`emit`].
unsafe fn emit_srq<S: Sink>(s: &mut S, o: &Obj) -> Result {
    let ibsrq = o.ptr as *mut bindings::ib_srq;
    // SAFETY: A live SRQ of ours (caller).
    let srq = unsafe { Srq::of(ibsrq) }.ok_or(EINVAL)?;
    let (ring, max_sge, limit) = srq
        .with_ring(|q, max_sge, limit| (q.info(), max_sge, limit))
        .ok_or(EINVAL)?;
    let ring = ring?;
    // SAFETY: A live user SRQ.
    let u = unsafe { uobj_state(|st| bindings::rxe_rs_srq_state(ibsrq, st)) };
    let r = rec::Srq {
        handle: o.handle,
        // SAFETY: The SRQ's PD, live while the SRQ is.
        pd: unsafe { pd_handle((*ibsrq).pd as usize) },
        num: srq.num,
        max_sge,
        limit,
        async_events: u.async_events,
        user_handle: u.user_handle,
        ring,
    };
    s.put(Kind::Srq, &r).map_err(image_err)?;
    emit_ring(s, o.handle, rec::RING_SRQ, &ring, |b| {
        srq.with_ring(|q, _, _| q.copy_all(b))
            .unwrap_or(Err(EINVAL))
    })
}

/// # Safety
///
/// As for [`emit`].
unsafe fn emit_mr<S: Sink>(s: &mut S, o: &Obj) -> Result {
    // SAFETY: A live MR of ours (caller).
    let m = unsafe { mr::dump_of(o.ptr as *mut _) }?;
    let r = rec::Mr {
        handle: o.handle,
        // SAFETY: The MR's PD, live while the MR is.
        pd: unsafe { pd_handle(m.pd) },
        lkey: m.lkey,
        rkey: m.rkey,
        access: m.access,
        reserved: 0,
        start: m.start,
        iova: m.iova,
        length: m.length,
    };
    s.put(Kind::Mr, &r).map_err(image_err)
}

/// A path as the image holds it.
fn path(av: &Av) -> rec::Path {
    rec::Path {
        sgid_index: u32::from(av.sgid_index),
        flow_label: av.flow_label,
        hop_limit: av.hop_limit,
        traffic_class: av.traffic_class,
        sl: av.sl,
        ipv6: u8::from(av.ipv6),
        sgid: av.sgid,
        dgid: av.dgid,
        dmac: av.dmac,
        reserved: [0; 2],
    }
}

/// # Safety
///
/// As for [`emit`].
unsafe fn emit_ah<S: Sink>(s: &mut S, o: &Obj) -> Result {
    let ibah = o.ptr as *mut bindings::ib_ah;
    // SAFETY: A live AH of ours (caller).
    let (num, av) = unsafe { ah::dump_of(ibah) }.ok_or(EINVAL)?;
    let r = rec::Ah {
        handle: o.handle,
        // SAFETY: The AH's PD, live while the AH is.
        pd: unsafe { pd_handle((*ibah).pd as usize) },
        num,
        reserved: 0,
        path: path(&av),
    };
    s.put(Kind::Ah, &r).map_err(image_err)
}

/// The handles a QP refers to, from the core's QP: its PD, CQs and SRQ.
///
/// # Safety
///
/// `ibqp` is a live user QP.
unsafe fn qp_refs(ibqp: *mut bindings::ib_qp) -> (u32, u32, u32, u32) {
    // SAFETY: Live (caller); the core holds what the QP uses as long as
    // the QP lives.
    unsafe {
        let q = &*ibqp;
        let srq = if q.srq.is_null() {
            rec::NO_HANDLE
        } else {
            bindings::rxe_rs_srq_handle(q.srq)
        };
        (
            pd_handle(q.pd as usize),
            bindings::rxe_rs_cq_handle(q.send_cq),
            bindings::rxe_rs_cq_handle(q.recv_cq),
            srq,
        )
    }
}

/// The QP record's flags.
fn qp_flags(core: &QpCore, sig_all: bool, connected: bool) -> u8 {
    let mut f = 0;
    match core.state {
        QpState::Sqd(Drain::Drained, _) => f |= rec::QP_DRAINED,
        QpState::Sqd(Drain::Draining { notify: true }, _) => f |= rec::QP_DRAIN_NOTIFY,
        _ => {}
    }
    if sig_all {
        f |= rec::QP_SIG_ALL;
    }
    if connected && core.av.is_some() {
        f |= rec::QP_HAS_PATH;
    }
    if core.ext.peer {
        f |= rec::QP_PEER_EXT;
    }
    f
}

/// The migration sub-state as the image holds it.
fn mig(state: QpState) -> u8 {
    match state.mig() {
        Some(Mig::Stopped) => rec::MIG_STOPPED,
        Some(Mig::Paused) => rec::MIG_PAUSED,
        Some(Mig::Running) | None => rec::MIG_NONE,
    }
}

/// The QP record proper.
///
/// # Safety
///
/// `o` is a live user QP; `core` its locked state.
unsafe fn qp_record(
    o: &Obj,
    qp_type: u32,
    sig_all: bool,
    qpn: u32,
    core: &QpCore,
) -> Result<rec::Qp> {
    let qp_type = match qp_type {
        bindings::IB_QPT_RC => rec::QPT_RC,
        bindings::IB_QPT_UC => rec::QPT_UC,
        bindings::IB_QPT_UD => rec::QPT_UD,
        _ => return Err(EINVAL),
    };
    let connected = qp_type != rec::QPT_UD;
    // SAFETY: As the caller promises.
    let (pd, send_cq, recv_cq, srq) = unsafe { qp_refs(o.ptr as *mut _) };
    let a = &core.attr;
    let narrow = |v: u32| u8::try_from(v).map_err(|_| EINVAL);
    // SAFETY: A live user QP (caller).
    let u = unsafe { uobj_state(|st| bindings::rxe_rs_qp_state(o.ptr as *const _, st)) };
    Ok(rec::Qp {
        handle: o.handle,
        pd,
        qpn,
        send_cq,
        recv_cq,
        srq,
        qp_type,
        state: narrow(core.state.to_ib())?,
        flags: qp_flags(core, sig_all, connected),
        mig: mig(core.state),
        access: a.qp_access_flags as u32,
        qkey: a.qkey,
        dest_qpn: a.dest_qp_num,
        sq_psn: a.sq_psn,
        rq_psn: a.rq_psn,
        path_mtu: narrow(a.path_mtu)?,
        timeout: a.timeout,
        retry_cnt: a.retry_cnt,
        rnr_retry: a.rnr_retry,
        min_rnr_timer: a.min_rnr_timer,
        max_rd_atomic: a.max_rd_atomic,
        max_dest_rd_atomic: a.max_dest_rd_atomic,
        port_num: a.port_num as u8,
        pkey_index: a.pkey_index,
        reserved: 0,
        sq_max_sge: core.sq.max_sge,
        sq_max_inline: core.sq.max_inline,
        rq_max_sge: core.rq.max_sge,
        async_events: u.async_events,
        user_handle: u.user_handle,
        path: match &core.av {
            Some(av) if connected => path(av),
            _ => rec::Path::default(),
        },
        sq: core.sq.ring.info()?,
        rq: core.rq.ring.info()?,
    })
}

/// The QP's engines.
fn engine(handle: u32, core: &QpCore) -> Result<rec::QpEngine> {
    let (req, comp, resp) = (&core.req, &core.comp, &core.resp);
    let write = resp.write.as_ref();
    Ok(rec::QpEngine {
        handle,
        req_psn: req.psn,
        req_index: req.index,
        req_max_psn: req.max_psn,
        req_off: req.off,
        req_noack: req.noack,
        req_rd_atomic: req.rd_atomic,
        comp_psn: comp.psn,
        comp_retry_left: comp.retry_left,
        comp_rnr_left: comp.rnr_left,
        comp_rnr_wait: u8::from(comp.rnr_wait),
        comp_gap_retried: u8::from(comp.gap_retried),
        resp_psn: resp.psn,
        resp_msn: resp.msn,
        resp_pos: match resp.pos {
            MsgPos::Between => 0,
            MsgPos::InSend => 1,
            MsgPos::InWrite => 2,
        },
        resp_nak_sent: u8::from(resp.nak_sent),
        resp_drop_msg: u8::from(resp.drop_msg),
        resp_write: u8::from(write.is_some()),
        resp_write_rkey: write.map_or(0, |w| w.mr.key()),
        resp_write_resid: write.map_or(0, |w| w.resid),
        resp_write_total: resp.write_total,
        resp_write_va: write.map_or(0, |w| w.va),
        resp_res_next: u32::try_from(resp.res_next).map_err(|_| EINVAL)?,
        resp_res_len: u32::try_from(resp.res.len()).map_err(|_| EINVAL)?,
    })
}

/// # Safety
///
/// As for [`emit`].
unsafe fn emit_qp<S: Sink>(s: &mut S, o: &Obj) -> Result {
    // SAFETY: A live QP of ours (caller).
    let qp = unsafe { RxeQp::qp(o.ptr as *mut _) }?;
    let mut live = Live::lock(qp).ok_or(EINVAL)?;
    let core: &mut QpCore = &mut live;
    let h = o.handle;
    // SAFETY: `o` is live; `core` its state, locked.
    let r = unsafe { qp_record(o, qp.qp_type, qp.sig_all, qp.qpn, core) }?;
    s.put(Kind::Qp, &r).map_err(image_err)?;
    s.put(Kind::QpEngine, &engine(h, core)?)
        .map_err(image_err)?;
    for (slot, res) in (0u32..).zip(core.resp.res.iter()) {
        let r = rec::QpRes {
            handle: h,
            slot,
            valid: u8::from(res.valid),
            atomic: u8::from(res.atomic),
            reserved: 0,
            first_psn: res.first_psn,
            last_psn: res.last_psn,
            rkey: res.rkey,
            len: res.len,
            reserved2: 0,
            va: res.va,
            orig: res.orig,
        };
        s.put(Kind::QpRes, &r).map_err(image_err)?;
    }
    emit_begun(s, h, core)?;
    if let Some(recv) = &core.resp.recv {
        let head = rec::QpRecvHead {
            handle: h,
            off: recv.off,
        };
        s.put_headed(Kind::QpRecv, &head, recv.slot.len(), |b| {
            copy(b, &recv.slot)
        })
        .map_err(image_err)?;
    }
    emit_wq_ring(s, h, rec::RING_SQ, &core.sq.ring)?;
    emit_wq_ring(s, h, rec::RING_RQ, &core.rq.ring)
}

/// The send WQEs begun: from the oldest not completed on, while the
/// requester has started them.
fn emit_begun<S: Sink>(s: &mut S, h: u32, core: &mut QpCore) -> Result {
    let mut i = core.sq.ring.index();
    for _ in 0..core.shadow.slots() {
        let Some(m) = core.meta(i).copied().filter(|m| m.started) else {
            break;
        };
        let head = rec::QpWqeHead {
            handle: h,
            index: i,
            first_psn: m.first_psn,
            last_psn: m.last_psn,
            len: m.len,
            sent: u8::from(m.sent),
            reserved: [0; 3],
        };
        let wqe = core.shadow_slot(i);
        s.put_headed(Kind::QpWqe, &head, wqe.len(), |b| copy(b, wqe))
            .map_err(image_err)?;
        i = core.sq.ring.next(i);
    }
    Ok(())
}

/// A work queue's ring record.
fn emit_wq_ring<S: Sink>(s: &mut S, h: u32, which: u32, q: &Queue) -> Result {
    let info = q.info()?;
    emit_ring(s, h, which, &info, |b| q.copy_all(b))
}
