// SPDX-License-Identifier: GPL-2.0

//! The restore of a staged context. The process re-creates its objects
//! with the ordinary verbs commands, in uverbs handle order (PDs fill the
//! gaps, and are destroyed after); each create claims the next object of
//! the stage ([`Claim`]) and takes its identity and state from it: numbers
//! and keys, ring contents, a QP's attributes and engines. Every QP comes
//! back stopped; RESUME ends the restore, once every object is made and
//! the context holds exactly the image's objects, and resumes them.
//!
//! The image was checked whole when staged; what is checked here is that
//! each create is the one the image says comes next, with the same
//! parameters and the same references.

use kernel::{
    prelude::*,
    sync::{lock::mutex::MutexGuard, Arc},
};

use crate::{
    bindings,
    proto::{
        image::{
            record::{self as rec, decode, Field, Kind},
            Record, Records,
        },
        msgseq::MsgPos,
    },
    transport::qp::{
        set_state, CompState, Drain, Ext, Live, Mig, Qp, QpCore, QpState, RdRes, RecvCtx, ReqState,
        WqeMeta, WriteCtx,
    },
    verbs::{
        av::Av,
        cq::RxeCq,
        device::RxeDev,
        mr::{self, KeyKind},
        qp::RxeQp,
        ucontext::{self, ObjKind},
    },
};

use super::{dump::handle_of, stage::Stage};

/// The image's kind number for a register kind.
fn kind_of(k: ObjKind) -> Kind {
    match k {
        ObjKind::Pd => Kind::Pd,
        ObjKind::Cq => Kind::Cq,
        ObjKind::Srq => Kind::Srq,
        ObjKind::Mr => Kind::Mr,
        ObjKind::Ah => Kind::Ah,
        ObjKind::Qp => Kind::Qp,
    }
}

/// A create that restores the next object of its context's stage: holds
/// the stage (so creates of a context being restored are serialized) until
/// it is [done](Claim::done) or dropped (the create failed: the object is
/// still to make).
///
/// INVARIANT: `guard` holds `Some` stage whose object `next` is of the
/// kind being created.
pub(crate) struct Claim<'a> {
    guard: MutexGuard<'a, Option<KBox<Stage>>>,
}

impl<'a> Claim<'a> {
    /// What a create of `kind` with `udata` restores: `None` without a
    /// stage (or for a PD that fills a gap below the next object's handle).
    /// `handle` is the new object's uverbs handle, for the kinds whose
    /// handle the core sets before calling the driver. `EINVAL` for a
    /// create the image does not have next.
    ///
    /// # Safety
    ///
    /// `udata` is NULL or a create's udata on a live user context of ours,
    /// which outlives `'a`.
    pub(crate) unsafe fn take(
        udata: *mut bindings::ib_udata,
        kind: ObjKind,
        handle: Option<u32>,
    ) -> Result<Option<Self>> {
        // SAFETY: As the caller promises.
        let uctx = unsafe { bindings::rxe_rs_udata_ucontext(udata) };
        if uctx.is_null() {
            return Ok(None);
        }
        // SAFETY: A live context of ours for `'a` (caller).
        let guard = unsafe { ucontext::objects::<'a>(uctx) }.stage();
        let Some(stage) = guard.as_deref() else {
            return Ok(None);
        };
        let e = stage.entries().get(stage.next).ok_or(EINVAL)?;
        let gap = kind == ObjKind::Pd && handle.is_some_and(|h| h < e.handle);
        if gap {
            return Ok(None);
        }
        if e.kind != kind_of(kind) as u16 || handle.is_some_and(|h| h != e.handle) {
            return Err(EINVAL);
        }
        // INVARIANT: A stage, whose next object is of `kind`.
        Ok(Some(Claim { guard }))
    }

    fn stage(&self) -> Result<&Stage> {
        self.guard.as_deref().ok_or(EINVAL)
    }

    /// The object's record and those after it.
    fn records(&self) -> Result<Records<'_>> {
        let s = self.stage()?;
        s.records_of(s.next).ok_or(EINVAL)
    }

    /// The GID index restored paths of family `ipv6` take their source
    /// from.
    pub(crate) fn sgid(&self, ipv6: bool) -> Result<u32> {
        Ok(self.stage()?.sgid[usize::from(ipv6)])
    }

    /// The object is made.
    pub(crate) fn done(mut self) {
        if let Some(s) = self.guard.as_deref_mut() {
            s.next += 1;
        }
    }

    /// The object's own record.
    fn head<T: Field>(&self, kind: Kind) -> Result<T> {
        let r = self.records()?.next().ok_or(EINVAL)?;
        own(&r, kind)
    }

    /// A CQ's record and ring.
    pub(crate) fn cq(&self) -> Result<(rec::Cq, &[u8])> {
        let mut recs = self.records()?;
        let cq = own(&recs.next().ok_or(EINVAL)?, Kind::Cq)?;
        Ok((cq, ring(recs.next())?))
    }

    /// An SRQ's record and ring.
    pub(crate) fn srq(&self) -> Result<(rec::Srq, &[u8])> {
        let mut recs = self.records()?;
        let srq = own(&recs.next().ok_or(EINVAL)?, Kind::Srq)?;
        Ok((srq, ring(recs.next())?))
    }

    /// An MR's record.
    pub(crate) fn mr(&self) -> Result<rec::Mr> {
        self.head(Kind::Mr)
    }

    /// An AH's record.
    pub(crate) fn ah(&self) -> Result<rec::Ah> {
        self.head(Kind::Ah)
    }

    /// A QP's records.
    pub(crate) fn qp(&self) -> Result<StagedQp<'_>> {
        let mut recs = self.records()?.peekable();
        let qp: rec::Qp = own(&recs.next().ok_or(EINVAL)?, Kind::Qp)?;
        let engine: rec::QpEngine = own(&recs.next().ok_or(EINVAL)?, Kind::QpEngine)?;
        let mut res = KVec::new();
        while let Some(r) = recs.next_if(|r| r.kind == Kind::QpRes as u16) {
            res.push(own::<rec::QpRes>(&r, Kind::QpRes)?, GFP_KERNEL)?;
        }
        let mut wqes = KVec::new();
        while let Some(r) = recs.next_if(|r| r.kind == Kind::QpWqe as u16) {
            let w = Kind::QpWqe
                .split_headed::<rec::QpWqeHead>(r.payload)
                .map_err(|_| EINVAL)?;
            wqes.push(w, GFP_KERNEL)?;
        }
        let recv = match recs.next_if(|r| r.kind == Kind::QpRecv as u16) {
            Some(r) => Some(
                Kind::QpRecv
                    .split_headed::<rec::QpRecvHead>(r.payload)
                    .map_err(|_| EINVAL)?,
            ),
            None => None,
        };
        let sq = ring(recs.next())?;
        let rq = ring(recs.next())?;
        Ok(StagedQp {
            qp,
            engine,
            res,
            wqes,
            recv,
            sq,
            rq,
        })
    }
}

/// A QP as the stage holds it.
pub(crate) struct StagedQp<'a> {
    pub(crate) qp: rec::Qp,
    pub(crate) engine: rec::QpEngine,
    pub(crate) res: KVec<rec::QpRes>,
    /// The send WQEs begun, from the oldest.
    pub(crate) wqes: KVec<(rec::QpWqeHead, &'a [u8])>,
    pub(crate) recv: Option<(rec::QpRecvHead, &'a [u8])>,
    pub(crate) sq: &'a [u8],
    pub(crate) rq: &'a [u8],
}

/// A fixed record of `kind`.
fn own<T: Field>(r: &Record<'_>, kind: Kind) -> Result<T> {
    if r.kind != kind as u16 {
        return Err(EINVAL);
    }
    decode(r.payload, kind).map_err(|_| EINVAL)
}

/// A ring record's bytes.
fn ring<'b>(r: Option<Record<'b>>) -> Result<&'b [u8]> {
    let r = r.ok_or(EINVAL)?;
    if r.kind != Kind::Ring as u16 {
        return Err(EINVAL);
    }
    let (_, bytes) = Kind::Ring
        .split_headed::<rec::RingHead>(r.payload)
        .map_err(|_| EINVAL)?;
    Ok(bytes)
}

/// A staged path, on this device: its source address is GID `sgid_index`
/// of port 1 (the restore's, of the path's family), the rest as it was.
pub(crate) fn path(dev: *mut bindings::ib_device, p: &rec::Path, sgid_index: u32) -> Result<Av> {
    let mut sgid = [0u8; 16];
    let want = if p.ipv6 == 1 { 6 } else { 4 };
    // SAFETY: Our registered device; any index is checked; `sgid` has room
    // for a GID.
    if unsafe { bindings::rxe_rs_gid_family(dev, sgid_index, sgid.as_mut_ptr()) } != want {
        return Err(EINVAL);
    }
    Ok(Av {
        ipv6: p.ipv6 == 1,
        sgid_index: u8::try_from(sgid_index).map_err(|_| EINVAL)?,
        sgid,
        dgid: p.dgid,
        flow_label: p.flow_label,
        hop_limit: p.hop_limit,
        traffic_class: p.traffic_class,
        sl: p.sl,
        dmac: p.dmac,
    })
}

/// The state a staged QP comes back in: its own, stopped where it can be.
fn state_of(q: &rec::Qp) -> Result<QpState> {
    let m = Mig::Stopped;
    Ok(match q.state {
        0 => QpState::Reset,
        1 => QpState::Init,
        rec::QPS_RTR => QpState::Rtr(m),
        rec::QPS_RTS => QpState::Rts(m),
        rec::QPS_SQD => {
            let d = if q.flags & rec::QP_DRAINED != 0 {
                Drain::Drained
            } else {
                Drain::Draining {
                    notify: q.flags & rec::QP_DRAIN_NOTIFY != 0,
                }
            };
            QpState::Sqd(d, m)
        }
        5 => QpState::Sqe,
        rec::QPS_ERR => QpState::Err,
        _ => return Err(EINVAL),
    })
}

/// Gives the engine state of a QP being made for a staged one that QP's
/// state: rings, attributes, path `av`, engines, replay slots, the send
/// WQEs begun and the receive being filled. Returns the state it is to
/// have (stopped), for [`set_state`] once the QP is made.
pub(crate) fn apply_qp(core: &mut QpCore, s: &StagedQp<'_>, av: Option<Av>) -> Result<QpState> {
    let (q, e) = (&s.qp, &s.engine);
    let state = state_of(q)?;
    core.sq.ring.restore(s.sq, q.sq.index)?;
    core.rq.ring.restore(s.rq, q.rq.index)?;
    let a = &mut core.attr;
    a.qp_access_flags = q.access as i32;
    a.qkey = q.qkey;
    a.dest_qp_num = q.dest_qpn;
    a.sq_psn = q.sq_psn;
    a.rq_psn = q.rq_psn;
    a.path_mtu = u32::from(q.path_mtu);
    a.timeout = q.timeout;
    a.retry_cnt = q.retry_cnt;
    a.rnr_retry = q.rnr_retry;
    a.min_rnr_timer = q.min_rnr_timer;
    a.max_rd_atomic = q.max_rd_atomic;
    a.max_dest_rd_atomic = q.max_dest_rd_atomic;
    a.pkey_index = q.pkey_index;
    core.av = av;
    core.ext = Ext::restored(q.flags & rec::QP_PEER_EXT != 0);
    core.req = ReqState {
        psn: e.req_psn,
        index: e.req_index,
        max_psn: e.req_max_psn,
        off: e.req_off,
        noack: e.req_noack,
        asked_at: None,
        rd_atomic: e.req_rd_atomic,
    };
    core.comp = CompState {
        psn: e.comp_psn,
        retry_left: e.comp_retry_left,
        rnr_left: e.comp_rnr_left,
        timer_psn: e.comp_psn,
        rnr_wait: e.comp_rnr_wait == 1,
        last_rx: None,
        gap_retried: e.comp_gap_retried == 1,
    };
    apply_resp(core, s)?;
    apply_begun(core, s)?;
    Ok(state)
}

/// Puts a restored QP, made, in the state [`apply_qp`] gave.
pub(crate) fn enter_state(qp: &Arc<Qp>, state: QpState) {
    if let Some(mut live) = Live::lock(qp) {
        let (cx, core) = live.split();
        set_state(cx, core, state);
    }
}

/// The responder's part of [`apply_qp`].
fn apply_resp(core: &mut QpCore, s: &StagedQp<'_>) -> Result {
    let e = &s.engine;
    let r = &mut core.resp;
    r.psn = e.resp_psn;
    r.msn = e.resp_msn;
    r.pos = match e.resp_pos {
        0 => MsgPos::Between,
        1 => MsgPos::InSend,
        2 => MsgPos::InWrite,
        _ => return Err(EINVAL),
    };
    r.nak_sent = e.resp_nak_sent == 1;
    r.drop_msg = e.resp_drop_msg == 1;
    r.write = None;
    r.write_total = e.resp_write_total;
    r.pending_write =
        (e.resp_write == 1).then_some((e.resp_write_rkey, e.resp_write_va, e.resp_write_resid));
    r.out = None;
    let mut res = KVec::with_capacity(s.res.len(), GFP_KERNEL)?;
    for x in s.res.iter() {
        let slot = RdRes {
            valid: x.valid == 1,
            atomic: x.atomic == 1,
            first_psn: x.first_psn,
            last_psn: x.last_psn,
            va: x.va,
            rkey: x.rkey,
            len: x.len,
            orig: x.orig,
        };
        res.push(slot, GFP_KERNEL)?;
    }
    r.res = res;
    r.res_next = e.resp_res_next as usize;
    r.recv = match &s.recv {
        Some((h, bytes)) => {
            let mut slot = KVec::with_capacity(bytes.len(), GFP_KERNEL)?;
            slot.extend_from_slice(bytes, GFP_KERNEL)?;
            Some(RecvCtx { slot, off: h.off })
        }
        None => None,
    };
    Ok(())
}

/// The send WQEs begun, into the shadow.
fn apply_begun(core: &mut QpCore, s: &StagedQp<'_>) -> Result {
    if s.wqes.len() > core.shadow.slots() as usize {
        return Err(EINVAL);
    }
    for (h, bytes) in s.wqes.iter() {
        let dst = core.shadow.wqe_mut(h.index).ok_or(EINVAL)?;
        if dst.len() != bytes.len() {
            return Err(EINVAL);
        }
        for (d, b) in dst.iter_mut().zip(bytes.iter()) {
            *d = *b;
        }
        *core.meta(h.index).ok_or(EINVAL)? = WqeMeta {
            started: true,
            sent: h.sent == 1,
            first_psn: h.first_psn,
            last_psn: h.last_psn,
            len: h.len,
        };
    }
    Ok(())
}

/// Ends the restore of `uctx`'s stage: every object made, the context
/// holding exactly the image's objects (the gaps' PDs destroyed), the
/// writes in progress found their MRs, and the CQs whose event the process
/// may be waiting for (it went to the old context's channel) raise it. The stage goes; the caller resumes
/// the QPs. Without a stage, nothing to do. `EBUSY` while objects are
/// missing or extra.
///
/// # Safety
///
/// `uctx` is a live user context of ours.
pub(crate) unsafe fn finish(dev: &RxeDev, uctx: *mut bindings::ib_ucontext) -> Result {
    // SAFETY: As the caller promises.
    let objects = unsafe { ucontext::objects(uctx) };
    let mut slot = objects.stage();
    let Some(stage) = slot.as_deref() else {
        return Ok(());
    };
    let entries = stage.entries();
    let register = objects.lock();
    if stage.next != entries.len() || register.iter().count() != entries.len() {
        return Err(EBUSY);
    }
    let mut qps = KVec::new();
    for (&ptr, &kind) in register.iter() {
        // SAFETY: Live while the register is locked (its invariant).
        let handle = unsafe { handle_of(kind, ptr) };
        let staged = entries
            .binary_search_by_key(&handle, |e| e.handle)
            .ok()
            .and_then(|i| entries.get(i));
        if staged.is_none_or(|e| e.kind != kind_of(kind) as u16) {
            return Err(EBUSY);
        }
        if kind == ObjKind::Qp {
            // SAFETY: A live QP of ours.
            qps.push(unsafe { RxeQp::qp(ptr as *mut _) }?.clone(), GFP_KERNEL)?;
        }
    }
    for (&ptr, _) in register.iter().filter(|(_, &k)| k == ObjKind::Cq) {
        // SAFETY: A live CQ of ours; the register's lock keeps it.
        unsafe { RxeCq::from_ib(ptr as *mut _) }.renotify();
    }
    drop(register);
    *slot = None;
    drop(slot);
    for qp in qps.iter() {
        if let Some(mut live) = Live::lock(qp) {
            let core: &mut QpCore = &mut live;
            if let Some((rkey, va, resid)) = core.resp.pending_write.take() {
                core.resp.write = mr::lookup(
                    dev,
                    qp.pd as *mut _,
                    rkey,
                    KeyKind::Remote,
                    bindings::IB_ACCESS_REMOTE_WRITE,
                )
                .ok()
                .filter(|m| m.covers(va, resid).is_ok())
                .map(|mr| WriteCtx { mr, va, resid });
            }
        }
    }
    Ok(())
}
