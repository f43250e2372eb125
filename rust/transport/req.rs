// SPDX-License-Identifier: GPL-2.0

//! The requester: turns send WQEs into request packets.
//!
//! It runs as the QP's work item, under the QP lock, and walks the send
//! ring from `req.index`: a WQE is copied out of the ring when it starts,
//! then segmented into path-MTU packets with consecutive PSNs. UC and UD
//! WQEs complete as soon as they are sent; RC WQEs wait for the completer.
//! Local operations (memory registration, local invalidate) send nothing:
//! the requester carries them out and they complete in their turn.

use kernel::{prelude::*, sync::atomic::Relaxed, time::Instant};

use crate::{
    net::tx::{self, Path, Via},
    proto::{
        aeth::Aeth,
        bth::{Bth, DEFAULT_PKEY},
        headers::{Atmeth, Deth, Ieth, Immdt, Reth},
        ip::IpAddr,
        opcode::{self as opc, Dialect},
        packet::{self, Headers},
        psn,
        wqe::{flags, op, SendWqe},
    },
    transport::{
        comp,
        qp::{Ctx, Drain, Qp, QpCore, QpState, WqeMeta},
    },
    verbs::{
        av::Av,
        device::RxeDev,
        mr::{self, KeyKind},
    },
};

/// How far (in PSNs) the requester runs ahead of the oldest unacknowledged
/// packet, as rxe (`RXE_MAX_UNACKED_PSNS`).
const MAX_UNACKED_PSNS: u32 = 128;

/// A long RC message asks for an ACK at least this often.
const PKTS_PER_ACK: u32 = 32;

/// At most this many packets per run; then the work requeues itself so one
/// busy QP does not hold a worker for ever.
const PKTS_PER_RUN: u32 = 64;

/// The requester's run: sends what the ring holds, within the window,
/// then sees whether a send queue drain has ended.
pub(crate) fn run(cx: Ctx<'_>, core: &mut QpCore) {
    if core.state.is_err() {
        // Work posted in the error state completes flushed.
        comp::flush(cx, core);
        return;
    }
    send(cx, core);
    drain_check(cx, core);
}

/// Ends a send queue drain once no message begun is left: the oldest WQE
/// (if any) has not started, so every one that had has completed. Then the
/// owner hears of it, if it asked to.
pub(crate) fn drain_check(cx: Ctx<'_>, core: &mut QpCore) {
    let QpState::Sqd(Drain::Draining { notify }, mig) = core.state else {
        return;
    };
    let i = core.sq.ring.index();
    if core.sq.ring.holds(i) && core.meta(i).is_some_and(|m| m.started) {
        return;
    }
    crate::transport::qp::set_state(cx, core, QpState::Sqd(Drain::Drained, mig));
    if notify {
        cx.event(crate::bindings::IB_EVENT_SQ_DRAINED);
    }
}

/// Sends from the ring within the window and the run's budget: the rest of
/// a message begun, what a rewind asks for again, and, where the state
/// allows, new messages.
fn send(cx: Ctx<'_>, core: &mut QpCore) {
    let qp = cx.qp();
    let mut budget = PKTS_PER_RUN;
    while core.state.sends() && !core.comp.rnr_wait && core.sq.ring.holds(core.req.index) {
        if budget == 0 {
            qp.schedule();
            return;
        }
        if qp.qp_type == crate::bindings::IB_QPT_RC
            && psn::psn_compare(core.req.psn, core.comp.psn) > 0
            && psn::psn_sub(core.req.psn, core.comp.psn) >= MAX_UNACKED_PSNS
        {
            return;
        }
        let i = core.req.index;
        if !core.fits_in_flight(i) {
            // The completer runs the requester as WQEs complete.
            return;
        }
        // A message begun goes on in any state that sends; a new one
        // starts only where the state allows it.
        let go = core.req.off != 0
            || resent(core, i)
            || (core.state.starts_messages() && start(qp, core, i));
        if !go {
            return;
        }
        if fenced(core, i) {
            // The completer schedules the requester as WQEs complete.
            return;
        }
        match step(cx, core, i) {
            Ok(true) => finish(cx, core, i),
            Ok(false) => {}
            Err(e) => {
                // A WQE that cannot be sent completes in error and takes
                // the QP to the error state, as rxe does.
                comp::fail_wqe(cx, core, i, wc_status_for(e));
                return;
            }
        }
        budget -= 1;
    }
}

/// The completion status for a requester error.
fn wc_status_for(e: Error) -> u32 {
    if e == EACCES || e == EFAULT {
        crate::bindings::IB_WC_LOC_PROT_ERR
    } else if e == EMSGSIZE {
        crate::bindings::IB_WC_LOC_LEN_ERR
    } else {
        crate::bindings::IB_WC_LOC_QP_OP_ERR
    }
}

/// Copies WQE `i` out of the ring into the shadow and records where its
/// PSNs start. `false` if the ring no longer holds it.
fn start(qp: &Qp, core: &mut QpCore, i: u32) -> bool {
    // The slot of WQE `i` is free: the WQEs in flight are those from the
    // oldest not completed to `i` (the caller checked that they fit), and
    // `i` is not one of them yet. Filling it before the checks below is
    // harmless if they say not yet (the next try fills it again with the
    // same WQE).
    let Some(slot) = core.shadow.wqe_mut(i) else {
        return false;
    };
    if !core.sq.ring.copy_at(i, slot) {
        return false;
    }
    let opcode = SendWqe::new(core.shadow_slot(i)).map(|w| w.opcode());
    let rd_atomic = opcode.is_some_and(comp::is_read_or_atomic);
    qp.one_sided.store(
        opcode.is_some_and(|o| !matches!(o, op::SEND | op::SEND_WITH_IMM | op::SEND_WITH_INV)),
        Relaxed,
    );
    if rd_atomic {
        // No more reads and atomics in flight than the responder keeps
        // for replays (a max_rd_atomic of 0 still lets one go, so that
        // the QP does not stall for ever). The completer schedules the
        // requester again when one completes.
        if core.req.rd_atomic >= u32::from(core.attr.max_rd_atomic).max(1) {
            return false;
        }
        core.req.rd_atomic += 1;
    }
    let first_psn = core.req.psn;
    if let Some(m) = core.meta(i) {
        *m = WqeMeta {
            started: true,
            sent: false,
            first_psn,
            last_psn: first_psn,
            len: 0,
        };
    }
    true
}

/// Whether WQE `i` is being sent again (after a rewind) from its copy: it
/// started before, at the PSN the requester is back at.
fn resent(core: &mut QpCore, i: u32) -> bool {
    let psn = core.req.psn;
    core.meta(i)
        .is_some_and(|m| m.started && m.first_psn == psn)
}

/// What a send WQE asks for, checked against the QP.
struct Work {
    opcode: u32,
    flags: u32,
    len: u32,
    /// A UD message longer than the MTU: not sent (C10-93.1.1).
    unsent: bool,
}

/// Whether `qp` may post send opcode `opcode` (flush and atomic write
/// are not carried yet; memory registration is for kernel consumers, as
/// rxe has it, and local operations for RC QPs).
pub(crate) fn opcode_allowed(qp: &Qp, opcode: u32) -> bool {
    match qp.qp_type {
        crate::bindings::IB_QPT_UD | crate::bindings::IB_QPT_GSI => {
            matches!(opcode, op::SEND | op::SEND_WITH_IMM)
        }
        crate::bindings::IB_QPT_UC => matches!(
            opcode,
            op::SEND | op::SEND_WITH_IMM | op::RDMA_WRITE | op::RDMA_WRITE_WITH_IMM
        ),
        _ => match opcode {
            op::REG_MR => !qp.user,
            op::SEND
            | op::SEND_WITH_IMM
            | op::SEND_WITH_INV
            | op::RDMA_WRITE
            | op::RDMA_WRITE_WITH_IMM
            | op::RDMA_READ
            | op::ATOMIC_CMP_AND_SWP
            | op::ATOMIC_FETCH_AND_ADD
            | op::LOCAL_INV => true,
            _ => false,
        },
    }
}

/// Whether a send opcode is carried out by the requester itself, with no
/// packet: memory registration and local invalidate.
pub(crate) fn is_local_op(opcode: u32) -> bool {
    matches!(opcode, op::REG_MR | op::LOCAL_INV)
}

/// Checks a WQE's opcode and length against the QP's type and limits.
fn check(cx: Ctx<'_>, core: &QpCore, w: &SendWqe<'_>, mtu: u32) -> Result<Work> {
    let qp = cx.qp();
    let opcode = w.opcode();
    let allowed = opcode_allowed(qp, opcode);
    if !allowed {
        return Err(EINVAL);
    }
    let flags = w.send_flags();
    let len = if matches!(opcode, op::ATOMIC_CMP_AND_SWP | op::ATOMIC_FETCH_AND_ADD) {
        8
    } else if flags & flags::INLINE != 0 {
        if w.dma_length() > core.sq.max_inline {
            return Err(EMSGSIZE);
        }
        w.dma_length()
    } else {
        if w.num_sge() > core.sq.max_sge {
            return Err(EINVAL);
        }
        let mut total = 0u32;
        for k in 0..w.num_sge() {
            let s = w.sge(k).ok_or(EINVAL)?;
            total = total.checked_add(s.length).ok_or(EMSGSIZE)?;
        }
        total
    };
    if len > crate::proto::params::PORT_MAX_MSG_SZ {
        return Err(EMSGSIZE);
    }
    let ud = matches!(
        qp.qp_type,
        crate::bindings::IB_QPT_UD | crate::bindings::IB_QPT_GSI
    );
    Ok(Work {
        opcode,
        flags,
        len,
        unsent: ud && len > mtu,
    })
}

/// Sends the next packet of WQE `i`; `Ok(true)` when the WQE is all sent.
fn step(cx: Ctx<'_>, core: &mut QpCore, i: u32) -> Result<bool> {
    let dev = cx.dev();
    let slot = core.shadow_slot(i);
    let w = SendWqe::new(slot).ok_or(EINVAL)?;
    if is_local_op(w.opcode()) {
        return local_op(cx, core, i).map(|()| true);
    }
    let work = check(cx, core, &w, core.mtu(dev))?;
    let path = path_for(cx, core, &w)?;
    if let Some(m) = core.meta(i) {
        m.len = work.len;
    }
    if work.unsent {
        // The CI emits no packet for it and reports no error either: it
        // completes successfully, as with rxe.
        advance_psn(core, 1);
        return Ok(true);
    }
    match work.opcode {
        op::RDMA_READ => send_read(dev, core, &work, &path).map(|()| true),
        op::ATOMIC_CMP_AND_SWP | op::ATOMIC_FETCH_AND_ADD => {
            send_atomic(dev, core, &work, &path).map(|()| true)
        }
        _ => send_segment(cx, core, i, &work, &path),
    }
}

/// Carries out local operation WQE `i` (memory registration, local
/// invalidate), unless it already was: after a rewind the requester walks
/// over it again.
fn local_op(cx: Ctx<'_>, core: &mut QpCore, i: u32) -> Result {
    let (dev, qp) = (cx.dev(), cx.qp());
    let w = SendWqe::new(core.shadow_slot(i)).ok_or(EINVAL)?;
    let (opcode, key, reg) = (w.opcode(), w.ex(), w.reg());
    if !opcode_allowed(qp, opcode) {
        return Err(EINVAL);
    }
    if core.meta(i).is_some_and(|m| m.sent) {
        return Ok(());
    }
    if opcode == op::LOCAL_INV {
        return mr::invalidate(dev, qp.pd, key);
    }
    let r = mr::RegMr {
        index: reg.mr_index,
        key: reg.key,
        access: reg.access,
        iova: reg.iova,
        length: reg.length,
    };
    mr::register(dev, qp.pd, &r)
}

/// Whether WQE `i` must wait: a local invalidate waits until every older
/// WQE has completed (the IBTA's local invalidate fence, which rxe makes
/// mandatory), so that a read response still to come finds its MR.
fn fenced(core: &QpCore, i: u32) -> bool {
    let inv = SendWqe::new(core.shadow_slot(i)).is_some_and(|w| w.opcode() == op::LOCAL_INV);
    inv && core.sq.ring.index() != i
}

/// The path of a WQE's packets: the QP's, or a UD WQE's address handle.
fn path_for(cx: Ctx<'_>, core: &QpCore, w: &SendWqe<'_>) -> Result<Path> {
    let (dev, qp) = (cx.dev(), cx.qp());
    let av = match qp.qp_type {
        crate::bindings::IB_QPT_UD | crate::bindings::IB_QPT_GSI if qp.user => {
            crate::verbs::ah::lookup(dev, qp.pd, w.ud_ah_num())?
        }
        crate::bindings::IB_QPT_UD | crate::bindings::IB_QPT_GSI => {
            // Kernel WQEs carry the path (kernel AHs have no number).
            Av::decode(w.ud_av_raw().ok_or(EINVAL)?).ok_or(EINVAL)?
        }
        _ => core.av.ok_or(EINVAL)?,
    };
    Ok(path_of(&av, qp.src_port))
}

/// The network path of an address vector.
pub(crate) fn path_of(av: &Av, src_port: u16) -> Path {
    Path {
        src: IpAddr::from_gid(&av.sgid),
        dst: IpAddr::from_gid(&av.dgid),
        src_port,
        traffic_class: av.traffic_class,
        hop_limit: if av.hop_limit == 0 { 64 } else { av.hop_limit },
        flow_label: av.flow_label,
    }
}

/// The BTH opcode of a send or write packet.
fn seg_opcode(qp_type: u32, opcode: u32, first: bool, last: bool) -> u8 {
    let rc = qp_type == crate::bindings::IB_QPT_RC;
    let base = if rc { 0x00 } else { 0x20 };
    if matches!(
        qp_type,
        crate::bindings::IB_QPT_UD | crate::bindings::IB_QPT_GSI
    ) {
        return if opcode == op::SEND_WITH_IMM {
            opc::UD_SEND_ONLY_WITH_IMMEDIATE
        } else {
            opc::UD_SEND_ONLY
        };
    }
    let rel = match (opcode, first, last) {
        (op::SEND | op::SEND_WITH_IMM | op::SEND_WITH_INV, true, false) => opc::RC_SEND_FIRST,
        (op::SEND | op::SEND_WITH_IMM | op::SEND_WITH_INV, false, false) => opc::RC_SEND_MIDDLE,
        (op::SEND, true, true) => opc::RC_SEND_ONLY,
        (op::SEND, false, true) => opc::RC_SEND_LAST,
        (op::SEND_WITH_IMM, true, true) => opc::RC_SEND_ONLY_WITH_IMMEDIATE,
        (op::SEND_WITH_IMM, false, true) => opc::RC_SEND_LAST_WITH_IMMEDIATE,
        (op::SEND_WITH_INV, true, true) => opc::RC_SEND_ONLY_WITH_INVALIDATE,
        (op::SEND_WITH_INV, false, true) => opc::RC_SEND_LAST_WITH_INVALIDATE,
        (_, true, false) => opc::RC_RDMA_WRITE_FIRST,
        (_, false, false) => opc::RC_RDMA_WRITE_MIDDLE,
        (op::RDMA_WRITE_WITH_IMM, true, true) => opc::RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE,
        (op::RDMA_WRITE_WITH_IMM, false, true) => opc::RC_RDMA_WRITE_LAST_WITH_IMMEDIATE,
        (_, true, true) => opc::RC_RDMA_WRITE_ONLY,
        (_, false, true) => opc::RC_RDMA_WRITE_LAST,
    };
    if rc {
        rel
    } else {
        rel | base
    }
}

/// Immediate data as the WQE holds it (its bytes in memory are the wire
/// bytes) turned into the header's numeric value.
fn imm_of(w: &SendWqe<'_>) -> u32 {
    u32::from_be(w.ex())
}

/// Sends the next segment of a send or write WQE.
fn send_segment(cx: Ctx<'_>, core: &mut QpCore, i: u32, work: &Work, path: &Path) -> Result<bool> {
    let (dev, qp) = (cx.dev(), cx.qp());
    let mtu = core.mtu(dev);
    let off = core.req.off;
    let payload = (work.len - off).min(mtu);
    let first = off == 0;
    let last = off + payload == work.len;
    let opcode = seg_opcode(qp.qp_type, work.opcode, first, last);
    // RC asks for an ACK at the end of each message, and every
    // `PKTS_PER_ACK` packets of a long one so the window keeps moving.
    let rc = qp.qp_type == crate::bindings::IB_QPT_RC;
    core.req.noack += 1;
    let ack_req = rc && (last || core.req.noack >= PKTS_PER_ACK);
    if ack_req || last {
        core.req.noack = 0;
    }
    if ack_req {
        core.req.asked_at = Some(Instant::now());
    }
    let w = SendWqe::new(core.shadow_slot(i)).ok_or(EINVAL)?;
    let mut bth = Bth::new(opcode, DEFAULT_PKEY, dest_qpn(core, &w, qp), core.req.psn);
    bth.ack_req = ack_req;
    bth.se = last && work.flags & flags::SOLICITED != 0;
    let mut h = Headers::new(bth);
    let is_write = matches!(work.opcode, op::RDMA_WRITE | op::RDMA_WRITE_WITH_IMM);
    if first && is_write {
        h.reth = Some(Reth {
            va: w.remote_addr(),
            rkey: w.rdma_rkey(),
            len: work.len,
        });
    }
    if last && matches!(work.opcode, op::SEND_WITH_IMM | op::RDMA_WRITE_WITH_IMM) {
        h.immdt = Some(Immdt { imm: imm_of(&w) });
    }
    if last && work.opcode == op::SEND_WITH_INV {
        h.ieth = Some(Ieth { rkey: w.ex() });
    }
    if matches!(
        qp.qp_type,
        crate::bindings::IB_QPT_UD | crate::bindings::IB_QPT_GSI
    ) {
        let qkey = w.ud_remote_qkey();
        // A qkey with the high bit set means "use the QP's own" (IBTA).
        let qkey = if qkey & 0x8000_0000 != 0 {
            core.attr.qkey
        } else {
            qkey
        };
        h.deth = Some(Deth {
            qkey,
            resv: 0,
            src_qpn: qp.qpn,
        });
    }
    if qp.qp_type == crate::bindings::IB_QPT_RC {
        h.bth.resv6 = core.ext.bits();
    }
    let via = core.requests(qp.qp_type);
    emit(dev, path, via, &h, payload as usize, |buf| {
        fill_from_wqe(dev, qp.pd, &w, work.flags, off, buf)
    })?;
    advance_psn(core, 1);
    core.req.off = off + payload;
    Ok(last)
}

/// The destination QPN: the connected peer's, or the UD WQE's.
fn dest_qpn(core: &QpCore, w: &SendWqe<'_>, qp: &Qp) -> u32 {
    match qp.qp_type {
        crate::bindings::IB_QPT_UD | crate::bindings::IB_QPT_GSI => w.ud_remote_qpn() & 0xff_ffff,
        _ => core.attr.dest_qp_num,
    }
}

/// Sends an RDMA read request: one packet, and a PSN for each response
/// packet it asks for.
fn send_read(dev: &RxeDev, core: &mut QpCore, work: &Work, path: &Path) -> Result {
    let mtu = core.mtu(dev);
    core.req.asked_at = Some(Instant::now());
    let w = SendWqe::new(core.shadow_slot(core.req.index)).ok_or(EINVAL)?;
    let mut bth = Bth::new(
        opc::RC_RDMA_READ_REQUEST,
        DEFAULT_PKEY,
        core.attr.dest_qp_num,
        core.req.psn,
    );
    bth.ack_req = true;
    let mut h = Headers::new(bth);
    // After a rewind into the read, only the rest of its data (the
    // responder answers from that PSN on).
    let off = core.req.off.min(work.len);
    let len = work.len - off;
    h.reth = Some(Reth {
        va: w.remote_addr().wrapping_add(u64::from(off)),
        rkey: w.rdma_rkey(),
        len,
    });
    h.bth.resv6 = core.ext.bits();
    // Reads and atomics are RC's: its route is kept.
    emit(dev, path, Some(Via::Connected(&core.tx)), &h, 0, |_| Ok(()))?;
    let npkts = len.div_ceil(mtu).max(1);
    advance_psn(core, npkts);
    Ok(())
}

/// Sends an atomic request.
fn send_atomic(dev: &RxeDev, core: &mut QpCore, work: &Work, path: &Path) -> Result {
    core.req.asked_at = Some(Instant::now());
    let w = SendWqe::new(core.shadow_slot(core.req.index)).ok_or(EINVAL)?;
    let opcode = if work.opcode == op::ATOMIC_CMP_AND_SWP {
        opc::RC_COMPARE_SWAP
    } else {
        opc::RC_FETCH_ADD
    };
    let mut bth = Bth::new(opcode, DEFAULT_PKEY, core.attr.dest_qp_num, core.req.psn);
    bth.ack_req = true;
    let mut h = Headers::new(bth);
    let (swap_add, compare) = if work.opcode == op::ATOMIC_CMP_AND_SWP {
        (w.swap(), w.compare_add())
    } else {
        (w.compare_add(), 0)
    };
    h.atmeth = Some(Atmeth {
        va: w.remote_addr(),
        rkey: w.atomic_rkey(),
        swap_add,
        compare,
    });
    h.bth.resv6 = core.ext.bits();
    // Reads and atomics are RC's: its route is kept.
    emit(dev, path, Some(Via::Connected(&core.tx)), &h, 0, |_| Ok(()))?;
    advance_psn(core, 1);
    Ok(())
}

/// Moves the next PSN on by `n`, keeping track of the highest sent.
fn advance_psn(core: &mut QpCore, n: u32) {
    core.req.psn = psn::psn_add(core.req.psn, n);
    if psn::psn_compare(core.req.psn, core.req.max_psn) > 0 {
        core.req.max_psn = core.req.psn;
    }
}

/// A WQE is all sent (a local operation: carried out): record its last
/// PSN and move on; UC and UD WQEs complete now.
fn finish(cx: Ctx<'_>, core: &mut QpCore, i: u32) {
    let qp = cx.qp();
    let last_psn = psn::psn_prev(core.req.psn);
    if let Some(m) = core.meta(i) {
        m.last_psn = last_psn;
        m.sent = true;
    }
    core.req.index = core.sq.ring.next(i);
    core.req.off = 0;
    if qp.qp_type != crate::bindings::IB_QPT_RC {
        comp::complete_oldest(cx, core, crate::bindings::IB_WC_SUCCESS);
    } else {
        // A local operation has no acknowledgement to wait for: it
        // completes now if it is the oldest WQE, or after the older ones.
        comp::complete_local_ops(cx, core);
        comp::arm_retry_timer(cx, core);
    }
}

/// Builds and sends one packet: headers `h`, then `payload_len` bytes
/// written by `fill`, then pad and the ICRC slot, the way `via` says (see
/// [`tx::send`], also for what `Ok` means of an answer).
pub(crate) fn emit(
    dev: &RxeDev,
    path: &Path,
    via: Option<Via<'_>>,
    h: &Headers,
    payload_len: usize,
    fill: impl FnOnce(&mut [u8]) -> Result,
) -> Result {
    let info = opc::lookup_in(h.bth.opcode, Dialect::RxeRs).ok_or(EINVAL)?;
    let len = packet::packet_len(info, payload_len).ok_or(EINVAL)?;
    let pad = packet::pad_len(payload_len);
    let mut hdrs = *h;
    hdrs.bth.pad = pad;
    tx::send(dev, path, via, len, |buf| {
        let hl = hdrs.write(buf, Dialect::RxeRs).map_err(|_| EINVAL)?;
        let body = buf.get_mut(hl..).ok_or(EINVAL)?;
        let (data, rest) = body.split_at_mut_checked(payload_len).ok_or(EINVAL)?;
        fill(data)?;
        rest.fill(0);
        Ok(())
    })
}

/// Copies `buf.len()` bytes of a WQE's payload, from byte `off`, into
/// `buf`: from the inline data or through the SGEs' MRs.
fn fill_from_wqe(
    dev: &RxeDev,
    pd: usize,
    w: &SendWqe<'_>,
    wflags: u32,
    off: u32,
    buf: &mut [u8],
) -> Result {
    if buf.is_empty() {
        return Ok(());
    }
    if wflags & flags::INLINE != 0 {
        let data = w.inline_data().ok_or(EINVAL)?;
        let src = data
            .get(off as usize..off as usize + buf.len())
            .ok_or(EINVAL)?;
        buf.copy_from_slice(src);
        return Ok(());
    }
    copy_sges(
        w.num_sge(),
        |k| w.sge(k),
        off,
        buf.len(),
        |sge, at, pos, n| {
            // An lkey that names no MR is a local protection error too,
            // like one of another PD's MR or out of its range.
            let mr =
                mr::lookup(dev, pd as *mut _, sge.lkey, KeyKind::Local, 0).map_err(|_| EACCES)?;
            let out = buf.get_mut(pos..pos + n).ok_or(EINVAL)?;
            mr.read(sge.addr.wrapping_add(at), out)
        },
    )
}

/// Walks `len` bytes of an SGE list from byte `off`, calling
/// `f(sge, offset in the SGE, offset in the walk, bytes)`.
pub(crate) fn copy_sges(
    num_sge: u32,
    sge: impl Fn(u32) -> Option<crate::proto::wqe::Sge>,
    off: u32,
    len: usize,
    mut f: impl FnMut(&crate::proto::wqe::Sge, u64, usize, usize) -> Result,
) -> Result {
    let mut skip = u64::from(off);
    let mut done = 0usize;
    for k in 0..num_sge {
        if done == len {
            break;
        }
        let s = sge(k).ok_or(EINVAL)?;
        let sl = u64::from(s.length);
        if skip >= sl {
            skip -= sl;
            continue;
        }
        let n = ((sl - skip) as usize).min(len - done);
        f(&s, skip, done, n)?;
        done += n;
        skip = 0;
    }
    if done != len {
        return Err(EMSGSIZE);
    }
    Ok(())
}

/// An ACK (or NAK) for `psn` with the given syndrome.
pub(crate) fn send_ack(cx: Ctx<'_>, core: &QpCore, psn: u32, syndrome: u8) -> Result {
    let (dev, qp) = (cx.dev(), cx.qp());
    let av = core.av.ok_or(EINVAL)?;
    let path = path_of(&av, qp.src_port);
    let mut h = Headers::new(Bth::new(
        opc::RC_ACKNOWLEDGE,
        DEFAULT_PKEY,
        core.attr.dest_qp_num,
        psn,
    ));
    h.aeth = Some(Aeth {
        syndrome,
        msn: core.resp.msn & 0xff_ffff,
    });
    h.bth.resv6 = core.ext.bits();
    emit(dev, &path, core.answers(), &h, 0, |_| Ok(()))
}
