// SPDX-License-Identifier: GPL-2.0

//! Who runs a QP's engines, and when: one runner at a time makes passes
//! over the timeout due, the packets queued and the requester; whoever
//! brings work becomes the runner or arms it (see `transport::task`). A
//! doorbell, a timer or the work item runs; the receive path, in softirq,
//! hands the run to the local send it is nested in (`transport::runs`) or
//! to the work item.

use kernel::sync::{
    atomic::{Acquire, Relaxed},
    Arc,
};

use crate::{
    bindings,
    net::skb::RxSkb,
    proto::ip::IpAddr,
    transport::{resp::PktMeta, runs::Runs},
};

use super::{Ctx, Live, OnPost, Qp, QpCore};

/// At most this many packets are received, answer packets sent, or
/// requests sent by one run of the engines; then it makes way for other
/// work (a doorbell's run returns to user space) and the QP's work item
/// takes over.
const RUN_BUDGET: u32 = 64;

/// At most this many QPs a run takes on in turn (see [`Runs`]).
const RUNS_MAX: u32 = 32;

/// At most this many passes make one run: a run that keeps being armed
/// (a requester with more to send than a pass's budget arms it) makes way
/// for other work too.
const RUN_PASSES: u32 = 4;

/// At most this many packets wait on one QP; more are dropped (and counted
/// in `rcvd_qp_dropped`): a peer that sends faster than the QP can take is
/// held back by its window, and a flood must not eat the memory.
const RX_QUEUE_MAX: usize = 4096;

/// Whether a run goes on after a pass.
enum Pass {
    /// Its budget is spent: the work item takes over.
    Spent,
    /// The pass found nothing more to do.
    Done,
    /// The QP is destroyed.
    Gone,
}

impl Qp {
    /// Queues a packet for the engines, and makes sure they run. Any
    /// context (the receive path's softirq). `Err` gives the packet back
    /// when the queue is full.
    pub(crate) fn queue_packet(self: &Arc<Self>, skb: RxSkb) -> core::result::Result<(), RxSkb> {
        if self.rx.len() >= RX_QUEUE_MAX {
            return Err(skb);
        }
        self.rx.push(skb);
        self.schedule();
        Ok(())
    }

    /// What a send posted now meets, without the lock: the state as last
    /// set (it may change right after, as with any state read).
    pub(crate) fn on_post_send(&self) -> OnPost {
        OnPost::from_u32(self.posting.load(Relaxed))
    }

    /// A user QP's doorbell (process context, the poster's): if nobody
    /// runs the engines, they run, here and now when this QP is the only
    /// one of the device in use (`alone`) and sends messages, else in the
    /// QP's work item; otherwise the runner makes one more pass. The
    /// poster goes on at once either way.
    ///
    /// Here and now, the poster's system call carries out the request, its
    /// local peer's answer (taken on, see [`Runs`]) and the completion:
    /// no worker wakes, which on small messages costs more than the work
    /// when every CPU is busy, as with sends, whose receiver's consumer
    /// polls for them. Reads, writes and atomics leave the peer's consumer
    /// idle, and so, often, a CPU: a work item there runs the engines in
    /// parallel with the poster, and the poster posts and polls without
    /// waiting for them; unless nothing was in flight, as for a poster
    /// that waits for each completion, where a work item only adds its
    /// wake-up. Several QPs in use at once gain from their work items
    /// running in parallel too. Heuristics both: they decide where the
    /// engines run, never what they do.
    pub(crate) fn doorbell(self: &Arc<Self>, alone: bool) {
        if self.task.begin() {
            if alone && !self.one_sided.load(Relaxed) {
                self.run();
            } else {
                self.queue_work();
            }
        }
    }

    /// The engines' run, by the runner; then, as their runner too, the
    /// local peers its packets woke ([`Runs`]), and theirs, up to
    /// [`RUNS_MAX`] runs.
    pub(super) fn run(self: &Arc<Self>) {
        let runs = Runs::new();
        self.run_with(&runs);
        for _ in 0..RUNS_MAX {
            let Some(qp) = runs.pop() else {
                return;
            };
            qp.run_with(&runs);
        }
        // What is left goes to the work items (`Runs`' drop).
    }

    /// Passes until one finds nothing more to do and nobody armed the task
    /// meanwhile; after [`RUN_PASSES`] passes, or once the budget is spent,
    /// the work item takes the run over.
    fn run_with(self: &Arc<Self>, runs: &Runs) {
        let mut budget = RUN_BUDGET;
        for _ in 0..RUN_PASSES {
            match self.pass(&mut budget, runs) {
                Pass::Gone => {
                    self.purge_rx();
                    self.task.end();
                    return;
                }
                Pass::Spent => break,
                Pass::Done => {
                    if !self.task.end_pass() {
                        return;
                    }
                }
            }
        }
        // Still the runner: the work item goes on, after the other work
        // waiting.
        self.queue_work();
    }

    /// One pass of the engines: a timeout due, the packets queued (the
    /// responder's answer in progress first), then the requester.
    fn pass(self: &Arc<Self>, budget: &mut u32, runs: &Runs) -> Pass {
        let Some(mut live) = Live::lock(self) else {
            return Pass::Gone;
        };
        let (cx, core) = live.split();
        // SAFETY: `runs` outlives the pass; cleared before the lock goes.
        unsafe { core.tx.set_runs(Some(runs)) };
        if self.timer_due.xchg(false, Acquire) {
            crate::transport::comp::timer_fired(cx, core);
        }
        let mut rx_left = true;
        while *budget > 0 {
            if core.resp.out.is_some() && !core.state.stopped() {
                // A read's responses go on before the next request.
                let sent = crate::transport::resp::send_out(cx, core, *budget).max(1);
                *budget = budget.saturating_sub(sent);
                continue;
            }
            let Some(skb) = self.rx.pop() else {
                rx_left = false;
                break;
            };
            *budget -= 1;
            crate::net::recv::receive(cx, core, skb);
        }
        if !rx_left {
            crate::transport::req::run(cx, core);
        }
        // SAFETY: No run.
        unsafe { core.tx.set_runs(None) };
        drop(live);
        if rx_left {
            Pass::Spent
        } else {
            Pass::Done
        }
    }

    /// Drops the packets queued for the QP (it is destroyed).
    pub(crate) fn purge_rx(&self) {
        while self.rx.pop().is_some() {}
    }

    /// Hands the run to the work item: the caller is the runner.
    pub(crate) fn hand_to_work(self: &Arc<Self>) {
        self.queue_work();
    }

    /// Queues the work item (the caller is the runner, handing over).
    fn queue_work(self: &Arc<Self>) {
        if let Some(t) = crate::transport::task::tasks() {
            let _ = t.queue().enqueue::<_, 0>(self.clone());
        }
    }

    /// Makes sure the engines run soon, from any context: becomes the
    /// runner and hands the run to the run sending on this CPU, if this is
    /// the receive path nested in a local send, else to the work item; or
    /// arms the runner.
    pub(crate) fn schedule(self: &Arc<Self>) {
        if self.task.begin() {
            if let Err(qp) = crate::transport::runs::hand_over(self.clone()) {
                qp.queue_work();
            }
        }
    }
}

/// Hands a checked packet for this QP to the responder (requests) or the
/// completer (responses), in the runner's pass.
pub(crate) fn deliver(
    cx: Ctx<'_>,
    core: &mut QpCore,
    p: &crate::proto::packet::Packet<'_>,
    meta: &PktMeta<'_>,
) {
    let (dev, qp) = (cx.dev(), cx.qp());
    let rc = qp.qp_type == bindings::IB_QPT_RC;
    if rc && p.opcode() == crate::proto::opcode::RC_RXE_RS_RESUME {
        // A moved peer's resume comes from its new address.
        if !crate::transport::comp::resume(cx, core, p, meta) {
            dev.counters()
                .inc(crate::verbs::counters::Counter::RcvdQpDropped);
        }
        return;
    }
    if !from_peer(qp, core, meta) {
        dev.counters()
            .inc(crate::verbs::counters::Counter::RcvdQpDropped);
        return;
    }
    if rc {
        core.ext.heard(p.bth().resv6);
        // The peer heard our resume, or never needed one.
        core.resume_due = false;
    }
    if p.info().is_request() {
        crate::transport::resp::request(cx, core, p, meta);
    } else if rc && !core.state.stopped() {
        // (A stopped QP takes no response: its requests go again after
        // the move.)
        // As the C rxe counts, responses to a QP that has not sent yet
        // excepted (it drops them before its completer sees them).
        if core.state.past_rtr() {
            dev.counters()
                .inc(crate::verbs::counters::Counter::SenderSched);
        }
        crate::transport::comp::response(cx, core, p);
    }
}

/// Whether a packet for a connected QP (RC, UC) comes from its peer: sent
/// from the address of the QP's destination GID to that of its source GID,
/// as rxe checks. Without it anyone who can reach the port and guess a QP
/// number and PSN could write into a connection. A QP without a path
/// (before RTR) has no peer. UD and GSI QPs take datagrams from anyone.
fn from_peer(qp: &Qp, core: &QpCore, meta: &PktMeta<'_>) -> bool {
    if !matches!(qp.qp_type, bindings::IB_QPT_RC | bindings::IB_QPT_UC) {
        return true;
    }
    core.av.as_ref().is_some_and(|av| {
        meta.src == IpAddr::from_gid(&av.dgid) && meta.dst == IpAddr::from_gid(&av.sgid)
    })
}
