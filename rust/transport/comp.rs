// SPDX-License-Identifier: GPL-2.0

//! The completer: turns acknowledgements and read/atomic responses into
//! send completions, retransmits what was lost, and flushes the queues of
//! a QP in the error state.

use kernel::{prelude::*, sync::atomic::Relaxed, time::Instant};

use crate::{
    bindings,
    proto::{
        aeth::{NakCode, Syndrome},
        opcode as opc,
        packet::Packet as Parsed,
        psn,
        wqe::{flags, op, RecvWqe, SendWqe},
    },
    transport::{
        qp::{Ctx, Mig, QpCore, QpState},
        req,
    },
    verbs::{counters::Counter, cq::Completion, mr},
};

/// The work completion opcode of a send WQE's opcode.
fn wc_opcode(wr_opcode: u32) -> u32 {
    match wr_opcode {
        op::RDMA_WRITE | op::RDMA_WRITE_WITH_IMM => bindings::IB_WC_RDMA_WRITE,
        op::RDMA_READ => bindings::IB_WC_RDMA_READ,
        op::ATOMIC_CMP_AND_SWP => bindings::IB_WC_COMP_SWAP,
        op::ATOMIC_FETCH_AND_ADD => bindings::IB_WC_FETCH_ADD,
        op::LOCAL_INV => bindings::IB_WC_LOCAL_INV,
        op::REG_MR => bindings::IB_WC_REG_MR,
        _ => bindings::IB_WC_SEND,
    }
}

/// Completes the oldest send WQE with `status` (a completion is posted if
/// it failed, was signaled, or the QP signals all) and consumes it.
pub(crate) fn complete_oldest(cx: Ctx<'_>, core: &mut QpCore, status: u32) {
    let (dev, qp) = (cx.dev(), cx.qp());
    let i = core.sq.ring.index();
    if !core.sq.ring.holds(i) {
        return;
    }
    let started = core.meta(i).is_some_and(|m| m.started);
    let (wr_id, opcode, wflags, len) = if started {
        let len = core.meta(i).map_or(0, |m| m.len);
        let w = SendWqe::new(core.shadow_slot(i));
        w.map_or((0, 0, flags::SIGNALED, 0), |w| {
            (w.wr_id(), w.opcode(), w.send_flags(), len)
        })
    } else {
        // Never started (a flush): read what the ring says, once.
        let mut tmp = [0u8; crate::proto::wqe::SEND_WQE_SIZE];
        core.sq.ring.copy_at(i, &mut tmp);
        SendWqe::new(&tmp).map_or((0, 0, flags::SIGNALED, 0), |w| {
            (w.wr_id(), w.opcode(), w.send_flags(), 0)
        })
    };
    let last_psn = core.meta(i).filter(|m| m.sent).map(|m| m.last_psn);
    if started && is_read_or_atomic(opcode) {
        // Counted when it started (req::start); the requester may start
        // the next one now.
        core.req.rd_atomic = core.req.rd_atomic.saturating_sub(1);
    }
    if let Some(m) = core.meta(i) {
        m.started = false;
        m.sent = false;
    }
    if core.req.index == i {
        // The requester was resending this WQE (after a rewind), or never
        // got to it (a flush): it goes on after it.
        core.req.index = core.sq.ring.next(i);
        core.req.off = 0;
        if let Some(last) = last_psn {
            if psn::psn_compare(core.req.psn, last) <= 0 {
                core.req.psn = psn::psn_next(last);
            }
        }
    }
    core.sq.ring.advance();
    if core.sq.ring.is_empty() {
        // Nothing left in flight: a poster that waits for each completion
        // (a latency test) runs its next request in its doorbell again.
        qp.one_sided.store(false, Relaxed);
    }
    if status == bindings::IB_WC_SUCCESS && wc_opcode(opcode) == bindings::IB_WC_SEND {
        dev.counters().inc(Counter::RdmaSend);
    }
    if status == bindings::IB_WC_SUCCESS && !qp.sig_all && wflags & flags::SIGNALED == 0 {
        return;
    }
    let c = Completion {
        wr_id,
        status,
        opcode: wc_opcode(opcode),
        byte_len: len,
        qp_num: qp.qpn,
        qp: qp.ibqp as usize,
        port_num: 1,
        ..Completion::default()
    };
    let _ = cx.send_cq().post(&c, false);
}

/// Completes the local operations (memory registration, local
/// invalidate) the requester carried out at the head of the send queue:
/// they wait for no acknowledgement, only for the older WQEs to complete.
pub(crate) fn complete_local_ops(cx: Ctx<'_>, core: &mut QpCore) {
    loop {
        let i = core.sq.ring.index();
        if !core.sq.ring.holds(i) || !core.meta(i).is_some_and(|m| m.started && m.sent) {
            return;
        }
        let local = SendWqe::new(core.shadow_slot(i)).is_some_and(|w| req::is_local_op(w.opcode()));
        if !local {
            return;
        }
        complete_oldest(cx, core, bindings::IB_WC_SUCCESS);
    }
}

/// Completes send WQE `i` (the requester could not send it) with `status`
/// and takes the QP to the error state: older WQEs still waiting for their
/// acknowledgement are flushed first, so completions stay in order.
pub(crate) fn fail_wqe(cx: Ctx<'_>, core: &mut QpCore, i: u32, status: u32) {
    while core.sq.ring.holds(i) && core.sq.ring.index() != i {
        complete_oldest(cx, core, bindings::IB_WC_WR_FLUSH_ERR);
    }
    complete_oldest(cx, core, status);
    to_error(cx, core);
}

/// Moves the QP to the error state and flushes both queues.
///
/// No asynchronous event: the error is reported in a completion (the
/// IBTA's fatal QP event is for errors that cannot be), as rxe does.
pub(crate) fn to_error(cx: Ctx<'_>, core: &mut QpCore) {
    crate::transport::qp::set_state(cx, core, QpState::Err);
    flush(cx, core);
}

/// Completes every queued WQE with `IB_WC_WR_FLUSH_ERR` (error state).
pub(crate) fn flush(cx: Ctx<'_>, core: &mut QpCore) {
    let qp = cx.qp();
    while !core.sq.ring.is_empty() {
        complete_oldest(cx, core, bindings::IB_WC_WR_FLUSH_ERR);
    }
    core.resp.recv = None;
    let mut slot = [0u8; crate::proto::wqe::RECV_WQE_SIZE];
    // An SRQ's WQEs belong to no QP in particular: they stay.
    while qp.srq.is_none() && core.rq.ring.peek(&mut slot) {
        core.rq.ring.advance();
        let wr_id = RecvWqe::new(&slot).map_or(0, |w| w.wr_id());
        let c = Completion {
            wr_id,
            status: bindings::IB_WC_WR_FLUSH_ERR,
            opcode: bindings::IB_WC_RECV,
            qp_num: qp.qpn,
            qp: qp.ibqp as usize,
            port_num: 1,
            ..Completion::default()
        };
        let _ = cx.recv_cq().post(&c, false);
    }
}

/// Goes back to the oldest unacknowledged packet, to send again from there
/// (the caller runs the requester next): from the middle of the oldest WQE
/// if the responder acknowledged its start (a read asks for the rest of its
/// data), else from its start.
fn rewind(cx: Ctx<'_>, core: &mut QpCore) {
    let dev = cx.dev();
    let i = core.sq.ring.index();
    let Some(m) = core.meta(i).filter(|m| m.started).copied() else {
        return;
    };
    let mut off = 0;
    let mut from = m.first_psn;
    let done = psn::psn_sub(core.comp.psn, m.first_psn);
    if psn::psn_compare(core.comp.psn, m.first_psn) > 0 && done < MAX_RESUME_PKTS {
        if let Some(o) = done.checked_mul(core.mtu(dev)) {
            if o < m.len {
                off = o;
                from = core.comp.psn;
            }
        }
    }
    core.req.index = i;
    core.req.off = off;
    core.req.psn = from;
    core.req.noack = 0;
}

/// A bound on how far into a WQE a rewind resumes (its packets): anything
/// larger is not a PSN of the WQE but a wrapped difference.
const MAX_RESUME_PKTS: u32 = 1 << 22;

/// Handles a response packet (ACK, NAK, read response, atomic ACK) on an
/// RC QP.
pub(crate) fn response(cx: Ctx<'_>, core: &mut QpCore, p: &Parsed<'_>) {
    let psn = p.bth().psn;
    core.comp.last_rx = Some(Instant::now());
    if is_stopped_nak(p) {
        stopped_nak(cx, core, psn);
        return;
    }
    // Only PSNs sent and not yet acknowledged mean anything.
    if psn::psn_compare(psn, core.comp.psn) < 0 || psn::psn_compare(psn, core.req.max_psn) >= 0 {
        return;
    }
    match p.opcode() {
        opc::RC_ACKNOWLEDGE => {
            let Some(aeth) = p.aeth() else { return };
            ack(cx, core, psn, aeth.decoded());
        }
        opc::RC_ATOMIC_ACKNOWLEDGE => {
            ack_before(cx, core, psn);
            atomic_ack(cx, core, p);
        }
        opc::RC_RDMA_READ_RESPONSE_FIRST
        | opc::RC_RDMA_READ_RESPONSE_MIDDLE
        | opc::RC_RDMA_READ_RESPONSE_LAST
        | opc::RC_RDMA_READ_RESPONSE_ONLY => {
            ack_before(cx, core, psn);
            read_response(cx, core, p);
        }
        _ => {}
    }
}

/// Whether the oldest WQE is all sent and its packets end at or before
/// `psn`.
fn oldest_done_by(core: &mut QpCore, psn: u32) -> Option<u32> {
    let i = core.sq.ring.index();
    if !core.sq.ring.holds(i) {
        return None;
    }
    let m = *core.meta(i)?;
    if !m.started || !m.sent || psn::psn_compare(m.last_psn, psn) > 0 {
        return None;
    }
    SendWqe::new(core.shadow_slot(i)).map(|w| w.opcode())
}

/// Completes the sends and writes a response for `psn` implicitly
/// acknowledges: those whose last PSN is before it.
fn ack_before(cx: Ctx<'_>, core: &mut QpCore, psn: u32) {
    let before = psn::psn_prev(psn);
    while let Some(opcode) = oldest_done_by(core, before) {
        if is_read_or_atomic(opcode) {
            // Its response should have come first: it was lost.
            rewind(cx, core);
            return;
        }
        complete_oldest(cx, core, bindings::IB_WC_SUCCESS);
    }
}

/// Whether the oldest WQE is a read or atomic that starts before `psn`.
fn awaits_response_before(core: &mut QpCore, psn: u32) -> bool {
    let i = core.sq.ring.index();
    if !core.sq.ring.holds(i) {
        return false;
    }
    let Some(m) = core.meta(i).copied() else {
        return false;
    };
    m.started
        && psn::psn_compare(m.first_psn, psn) < 0
        && SendWqe::new(core.shadow_slot(i)).is_some_and(|w| is_read_or_atomic(w.opcode()))
}

pub(crate) fn is_read_or_atomic(opcode: u32) -> bool {
    matches!(
        opcode,
        op::RDMA_READ | op::ATOMIC_CMP_AND_SWP | op::ATOMIC_FETCH_AND_ADD
    )
}

/// An ACK or NAK for `psn`.
fn ack(cx: Ctx<'_>, core: &mut QpCore, psn: u32, syn: Syndrome) {
    let (dev, qp) = (cx.dev(), cx.qp());
    match syn {
        Syndrome::Ack { .. } => {
            while let Some(opcode) = oldest_done_by(core, psn) {
                if is_read_or_atomic(opcode) {
                    rewind(cx, core);
                    return;
                }
                complete_oldest(cx, core, bindings::IB_WC_SUCCESS);
            }
            core.comp.psn = psn::psn_next(psn);
            core.comp.gap_retried = false;
            reset_retries(core);
            arm_retry_timer(cx, core);
        }
        Syndrome::RnrNak { .. } => {
            dev.counters().inc(Counter::RcvRnr);
            ack_before(cx, core, psn);
            if core.comp.rnr_left == 0 {
                dev.counters().inc(Counter::RnrRetryExceeded);
                fail_oldest(cx, core, bindings::IB_WC_RNR_RETRY_EXC_ERR);
                return;
            }
            // Seven means "retry for ever".
            if core.attr.rnr_retry != 7 {
                core.comp.rnr_left -= 1;
            }
            // Send again once the responder's timer has run out.
            let timer = match syn {
                Syndrome::RnrNak { timer } => timer,
                _ => 0,
            };
            let us = crate::proto::aeth::rnr_timer_usecs(timer);
            core.comp.rnr_wait = true;
            // If the retransmit timer is pending, the wait ends with it.
            let _ = qp.set_timer(kernel::time::msecs_to_jiffies(us.div_ceil(1000).max(1)));
        }
        Syndrome::Nak(NakCode::PsnSeqError) => {
            dev.counters().inc(Counter::RcvSeqErr);
            // The responder has all requests before `psn`: the rewind
            // resumes from there.
            if acked_through(cx, core, psn) {
                reset_retries(core);
            }
            rewind(cx, core);
        }
        Syndrome::Nak(NakCode::Stopped) => {
            // Taken by `stopped_nak` before the PSN window check.
        }
        Syndrome::Nak(code) => {
            ack_before(cx, core, psn);
            let status = match code {
                NakCode::RemoteAccessError => bindings::IB_WC_REM_ACCESS_ERR,
                NakCode::InvalidRequest => bindings::IB_WC_REM_INV_REQ_ERR,
                _ => bindings::IB_WC_REM_OP_ERR,
            };
            fail_oldest(cx, core, status);
        }
        Syndrome::Reserved(_) => {}
    }
}

/// Completes the oldest WQE with an error and takes the QP to error.
fn fail_oldest(cx: Ctx<'_>, core: &mut QpCore, status: u32) {
    complete_oldest(cx, core, status);
    to_error(cx, core);
}

/// The retry budgets start over after progress.
fn reset_retries(core: &mut QpCore) {
    core.comp.retry_left = core.attr.retry_cnt;
    core.comp.rnr_left = core.attr.rnr_retry;
}

/// A read response packet for the oldest WQE: its payload goes to the
/// WQE's SGEs.
fn read_response(cx: Ctx<'_>, core: &mut QpCore, p: &Parsed<'_>) {
    let (dev, qp) = (cx.dev(), cx.qp());
    let psn = p.bth().psn;
    let i = core.sq.ring.index();
    let Some(m) = core.meta(i).copied() else {
        return;
    };
    if !m.started {
        return;
    }
    // The read is the oldest WQE now: everything before it is complete, so
    // the expected PSN is at least its first.
    if psn::psn_compare(core.comp.psn, m.first_psn) < 0 {
        core.comp.psn = m.first_psn;
    }
    if psn::psn_compare(psn, m.last_psn) > 0 {
        return;
    }
    if psn != core.comp.psn {
        if psn::psn_compare(psn, core.comp.psn) > 0 && !core.comp.gap_retried {
            // Responses come in order: the ones before this were lost.
            // Ask again now rather than after a timeout, once per gap.
            core.comp.gap_retried = true;
            dev.counters().inc(Counter::CompRetry);
            rewind(cx, core);
        }
        return;
    }
    let slot = core.shadow_slot(i);
    let Some(w) = SendWqe::new(slot) else { return };
    if w.opcode() != op::RDMA_READ {
        return;
    }
    let mtu = core.mtu(dev);
    let off = psn::psn_sub(psn, m.first_psn).saturating_mul(mtu);
    let data = p.payload();
    let res = req::copy_sges(
        w.num_sge(),
        |k| w.sge(k),
        off,
        data.len(),
        |s, at, pos, n| {
            let mr = mr::lookup_local_write(dev, qp.pd, s.lkey)?;
            mr.write(
                s.addr.wrapping_add(at),
                data.get(pos..pos + n).ok_or(EINVAL)?,
            )
        },
    );
    if res.is_err() {
        fail_oldest(cx, core, bindings::IB_WC_LOC_PROT_ERR);
        return;
    }
    core.comp.psn = psn::psn_next(psn);
    core.comp.gap_retried = false;
    if psn == m.last_psn {
        complete_oldest(cx, core, bindings::IB_WC_SUCCESS);
        complete_local_ops(cx, core);
        reset_retries(core);
        arm_retry_timer(cx, core);
    }
}

/// An atomic acknowledge for the oldest WQE: the original value goes to its
/// first SGE.
fn atomic_ack(cx: Ctx<'_>, core: &mut QpCore, p: &Parsed<'_>) {
    let (dev, qp) = (cx.dev(), cx.qp());
    let psn = p.bth().psn;
    let i = core.sq.ring.index();
    let Some(m) = core.meta(i).copied() else {
        return;
    };
    let Some(orig) = p.atmack().map(|a| a.orig) else {
        return;
    };
    if !m.started || psn != m.first_psn {
        return;
    }
    let Some(w) = SendWqe::new(core.shadow_slot(i)) else {
        return;
    };
    if !matches!(
        w.opcode(),
        op::ATOMIC_CMP_AND_SWP | op::ATOMIC_FETCH_AND_ADD
    ) {
        return;
    }
    let bytes = orig.to_ne_bytes();
    let res = w.sge(0).ok_or(EINVAL).and_then(|s| {
        let mr = mr::lookup_local_write(dev, qp.pd, s.lkey)?;
        mr.write(s.addr, &bytes)
    });
    if res.is_err() {
        fail_oldest(cx, core, bindings::IB_WC_LOC_PROT_ERR);
        return;
    }
    core.comp.psn = psn::psn_next(psn);
    complete_oldest(cx, core, bindings::IB_WC_SUCCESS);
    complete_local_ops(cx, core);
    reset_retries(core);
    arm_retry_timer(cx, core);
}

/// The local ACK timeout in milliseconds: 4.096 us * 2^timeout, as the
/// IBTA says (at least 1 ms, the timer's grain).
fn timeout_ms(core: &QpCore) -> u32 {
    let ns = 4096u64 << core.attr.timeout.min(31);
    (ns / 1_000_000).clamp(1, u64::from(u32::MAX)) as u32
}

/// How long the retransmit timeout still has to run, if a response came
/// or an ACK was asked for less than a timeout ago: the timeout counts
/// from the last sign of life on either side, not from when the timer was
/// set.
fn time_left_ms(core: &QpCore) -> Option<u32> {
    let since = [core.comp.last_rx, core.req.asked_at]
        .into_iter()
        .flatten()
        .map(|t| t.elapsed().as_millis())
        .min()?;
    let left = i64::from(timeout_ms(core)) - since;
    (left > 0).then(|| left.clamp(1, i64::from(u32::MAX)) as u32)
}

/// Sets the retransmit timer while packets wait for their acknowledgement;
/// a timeout of 0 means none.
pub(crate) fn arm_retry_timer(cx: Ctx<'_>, core: &mut QpCore) {
    if core.attr.timeout == 0 || core.comp.psn == core.req.max_psn {
        return;
    }
    // Each retry without progress waits longer (up to 4 timeouts): on a
    // slow or congested link, what the last rewind resent may still be on
    // its way, and sending it yet again only adds to the queue. The IBTA
    // timeout is a minimum.
    let used = core
        .attr
        .retry_cnt
        .saturating_sub(core.comp.retry_left)
        .min(2);
    set_retry_timer(cx, core, timeout_ms(core).saturating_mul(1 << used));
}

/// Sets the retransmit timer to fire in `ms` unless it is pending: a
/// timer already pending keeps its start, "no progress" means none since
/// it was set.
fn set_retry_timer(cx: Ctx<'_>, core: &mut QpCore, ms: u32) {
    let qp = cx.qp();
    if qp.set_timer(kernel::time::msecs_to_jiffies(ms)) {
        core.comp.timer_psn = core.comp.psn;
    }
}

/// The QP's timer: a resume to send again, the end of an RNR wait, or a
/// retransmit timeout. Parked while the QP is stopped or paused: the
/// resume arms it again.
pub(crate) fn timer_fired(cx: Ctx<'_>, core: &mut QpCore) {
    let dev = cx.dev();
    if core.resume_due {
        let _ = send_resume(cx, core);
        let _ = cx.qp().set_timer(resume_retry_jiffies(core));
        return;
    }
    if !core.state.sends() {
        return;
    }
    if core.comp.rnr_wait {
        core.comp.rnr_wait = false;
        rewind(cx, core);
        arm_retry_timer(cx, core);
        return;
    }
    if !core.state.takes_responses() || core.comp.psn == core.req.max_psn {
        return;
    }
    if core.comp.psn != core.comp.timer_psn {
        // Progress since the timer was set: a new timeout from now.
        arm_retry_timer(cx, core);
        return;
    }
    if let Some(ms) = time_left_ms(core) {
        // Responses still coming in (what an earlier rewind asked for
        // again), or the last request asking for one is recent: give it
        // the rest of its timeout.
        set_retry_timer(cx, core, ms);
        return;
    }
    if core.comp.retry_left == 0 {
        dev.counters().inc(Counter::RetryExceeded);
        fail_oldest(cx, core, bindings::IB_WC_RETRY_EXC_ERR);
        return;
    }
    dev.counters().inc(Counter::CompRetry);
    core.comp.retry_left -= 1;
    rewind(cx, core);
    arm_retry_timer(cx, core);
}

/// Whether `p` is a stopped NAK (docs/migration.md).
fn is_stopped_nak(p: &Parsed<'_>) -> bool {
    p.opcode() == opc::RC_ACKNOWLEDGE
        && p.aeth()
            .is_some_and(|a| a.decoded() == Syndrome::Nak(NakCode::Stopped))
}

/// A stopped NAK for `psn`: the peer is being moved. Like a sequence error
/// NAK it says that every request before `psn` arrived; then the requester
/// holds (paused) until the peer's resume, spending no retries. Its PSN may
/// be the one after the highest sent (the peer got everything), one more
/// than an ordinary response's may be.
fn stopped_nak(cx: Ctx<'_>, core: &mut QpCore, psn: u32) {
    if psn::psn_compare(psn, core.comp.psn) < 0 || psn::psn_compare(psn, core.req.max_psn) > 0 {
        return;
    }
    if core.state.mig() != Some(Mig::Running) || !core.state.takes_responses() {
        return;
    }
    cx.dev().counters().inc(Counter::RcvStopped);
    acked_through(cx, core, psn);
    // A sign of life: the retries start over.
    reset_retries(core);
    crate::transport::qp::set_state(cx, core, core.state.with_mig(Mig::Paused));
}

/// What a sequence error NAK, a stopped NAK and a resume for `psn` all
/// say: every request before `psn` arrived, so the sends and writes among
/// them are complete and that much is acknowledged; but not past a read
/// or atomic, which its response acknowledges. Whether the oldest
/// unacknowledged PSN moved.
fn acked_through(cx: Ctx<'_>, core: &mut QpCore, psn: u32) -> bool {
    ack_before(cx, core, psn);
    if psn::psn_compare(psn, core.comp.psn) > 0 && !awaits_response_before(core, psn) {
        core.comp.psn = psn;
        core.comp.gap_retried = false;
        return true;
    }
    false
}

/// A resume from the peer, which was stopped and moved: it tells its
/// address (the packet's source), its QPN (the DETH's source QP) and the
/// PSN its responder expects (the BTH's). Accepted only by an RC QP that
/// takes responses, for a PSN in its window, from a peer that advertised
/// the extension; then the QP sends to the new place, rewinds to the
/// oldest unacknowledged PSN, and answers with an ACK. `false`: dropped.
pub(crate) fn resume(
    cx: Ctx<'_>,
    core: &mut QpCore,
    p: &Parsed<'_>,
    meta: &crate::transport::resp::PktMeta<'_>,
) -> bool {
    let psn = p.bth().psn;
    // RTR too: a QP that only receives still answers to the peer's
    // address, which has just changed.
    if !core.ext.peer || !matches!(core.state.mig(), Some(m) if m != Mig::Stopped) {
        return false;
    }
    if psn::psn_compare(psn, core.comp.psn) < 0 || psn::psn_compare(psn, core.req.max_psn) > 0 {
        return false;
    }
    let (Some(deth), Some(av)) = (p.deth(), core.av.as_mut()) else {
        return false;
    };
    // It came to our address, over the IP version of the connection.
    if meta.dst != crate::proto::ip::IpAddr::from_gid(&av.sgid) {
        return false;
    }
    av.dgid = meta.src.to_gid();
    core.attr.dest_qp_num = deth.src_qpn & crate::proto::bth::QPN_MASK;
    core.tx.forget_route();
    cx.dev().counters().inc(Counter::RcvResume);
    acked_through(cx, core, psn);
    reset_retries(core);
    crate::transport::qp::set_state(cx, core, core.state.with_mig(Mig::Running));
    core.comp.rnr_wait = false;
    rewind(cx, core);
    arm_retry_timer(cx, core);
    // The peer sends its resume until it hears from us.
    let last = psn::psn_prev(core.resp.psn);
    let _ = req::send_ack(cx, core, last, Syndrome::ack_unlimited().to_byte());
    true
}

/// How long a restored QP waits for a word from its peer before sending
/// its resume again: the retransmit timeout (at least 10 ms).
fn resume_retry_jiffies(core: &QpCore) -> kernel::time::Jiffies {
    kernel::time::msecs_to_jiffies(timeout_ms(core).max(10))
}

/// Sends a resume (docs/migration.md) to the peer: from the QP's address
/// (its new one, after a move), its QPN, its responder's expected PSN and
/// message count.
pub(crate) fn send_resume(cx: Ctx<'_>, core: &QpCore) -> Result {
    use crate::proto::{
        aeth::Aeth,
        bth::{Bth, DEFAULT_PKEY},
        headers::Deth,
        packet::Headers,
    };
    let (dev, qp) = (cx.dev(), cx.qp());
    let av = core.av.ok_or(EINVAL)?;
    let path = req::path_of(&av, qp.src_port);
    let mut bth = Bth::new(
        opc::RC_RXE_RS_RESUME,
        DEFAULT_PKEY,
        core.attr.dest_qp_num,
        core.resp.psn,
    );
    bth.ack_req = true;
    let mut h = Headers::new(bth);
    h.deth = Some(Deth {
        qkey: 0,
        resv: 0,
        src_qpn: qp.qpn,
    });
    h.aeth = Some(Aeth::new(
        Syndrome::ack_unlimited(),
        core.resp.msn & 0xff_ffff,
    ));
    h.bth.resv6 = core.ext.bits();
    dev.counters().inc(Counter::SentResume);
    req::emit(dev, &path, core.answers(), &h, 0, |_| Ok(()))
}

/// Stops the QP for migration: it sends nothing and runs no engine from
/// now on; a read being answered is dropped (the peer asks again, and the
/// replay slots answer it). The caller holds the QP's lock.
pub(crate) fn stop(cx: Ctx<'_>, core: &mut QpCore) -> Result {
    match core.state.mig() {
        Some(Mig::Stopped) => return Ok(()),
        Some(_) => {}
        None => return Err(EINVAL),
    }
    core.resp.out = None;
    core.resume_due = false;
    crate::transport::qp::set_state(cx, core, core.state.with_mig(Mig::Stopped));
    Ok(())
}

/// Resumes a stopped QP: it tells its peer (if the peer speaks the
/// extension) until it hears from it, and its requester sends again from
/// the oldest unacknowledged PSN.
pub(crate) fn resume_stopped(cx: Ctx<'_>, core: &mut QpCore) -> Result {
    if !core.state.stopped() {
        return Err(EINVAL);
    }
    crate::transport::qp::set_state(cx, core, core.state.with_mig(Mig::Running));
    if cx.qp().qp_type == bindings::IB_QPT_RC && core.ext.peer && core.av.is_some() {
        core.resume_due = true;
        let _ = send_resume(cx, core);
        let _ = cx.qp().set_timer(resume_retry_jiffies(core));
    }
    if core.state.sends() {
        rewind(cx, core);
        arm_retry_timer(cx, core);
    }
    cx.qp().schedule();
    Ok(())
}
