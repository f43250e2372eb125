// SPDX-License-Identifier: GPL-2.0

//! A QP's engine state: what its requester, completer and responder keep
//! between packets, under the QP's lock, and the QP object the verbs, the
//! packet path and the QP's work items share. The verbs callbacks that
//! create, modify and destroy it are in `verbs::qp`.

mod state;

pub(crate) use state::{Drain, OnPost, QpState};

use kernel::{
    new_mutex, new_spinlock_irq,
    prelude::*,
    sync::{
        atomic::{Acquire, Atomic, Relaxed, Release},
        lock::mutex::MutexGuard,
        Arc, Mutex, SpinLockIrq,
    },
    time::{Instant, Monotonic},
    workqueue::{
        impl_has_delayed_work, impl_has_work, new_delayed_work, new_work, DelayedWork, Work,
        WorkItem,
    },
};

use crate::{
    bindings,
    net::{
        skb::{RxSkb, SkbQueue},
        tx::{Tx, Via},
    },
    proto::{ip::IpAddr, msgseq::MsgPos, mtu::IbMtu},
    transport::{resp::PktMeta, runs::Runs, task::Task},
    verbs::{av::Av, cq::RxeCq, device::RxeDev, mr::MrRef, post::KPost, queue::Queue, srq::Srq},
};

/// A work queue: its ring and limits.
pub(crate) struct WorkQueue {
    pub(crate) ring: Queue,
    pub(crate) max_sge: u32,
    pub(crate) max_inline: u32,
}

/// What the requester and completer keep of a send WQE once it started:
/// the WQE's bytes are copied out of the user-writable ring into the
/// [`Shadow`], and everything after reads the copy.
#[derive(Clone, Copy, Default)]
pub(crate) struct WqeMeta {
    /// The copy in the shadow is this WQE's.
    pub(crate) started: bool,
    /// All its packets went out at least once (`last_psn` is valid).
    pub(crate) sent: bool,
    pub(crate) first_psn: u32,
    pub(crate) last_psn: u32,
    /// Total payload length (or read/atomic length).
    pub(crate) len: u32,
}

/// Requester state.
#[derive(Default)]
pub(crate) struct ReqState {
    /// The next PSN to send.
    pub(crate) psn: u32,
    /// The ring index of the WQE being sent (or the next to start).
    pub(crate) index: u32,
    /// The PSN after the highest ever sent: after a rewind, `psn` is back
    /// behind it while acknowledgements up to it are still valid.
    pub(crate) max_psn: u32,
    /// Bytes of that WQE already sent.
    pub(crate) off: u32,
    /// Packets sent since the last that asked for an ACK.
    pub(crate) noack: u32,
    /// When the last packet asking for an ACK went out: its answer is not
    /// late before a timeout from then, however long ago the timer was
    /// set (a long message takes a while to send on a slow link).
    pub(crate) asked_at: Option<Instant<Monotonic>>,
    /// Reads and atomics started and not yet completed: at most
    /// `max_rd_atomic`, as many as the responder keeps for replays.
    pub(crate) rd_atomic: u32,
}

/// Completer state (RC).
#[derive(Default)]
pub(crate) struct CompState {
    /// The oldest PSN not yet acknowledged.
    pub(crate) psn: u32,
    /// Retries left for the current timeout / RNR episode.
    pub(crate) retry_left: u8,
    pub(crate) rnr_left: u8,
    /// `psn` when the retransmit timer was last set: no progress since if
    /// it still is when the timer fires.
    pub(crate) timer_psn: u32,
    /// Waiting out an RNR NAK's timer before sending again.
    pub(crate) rnr_wait: bool,
    /// When the last response packet came, stale ones included: while
    /// they stream in, the link is busy (with what a rewind resent), not
    /// lost, and the retransmit timer waits for a whole timeout of quiet.
    pub(crate) last_rx: Option<Instant<Monotonic>>,
    /// A gap in read responses made the requester send again: not again
    /// until the completer makes progress.
    pub(crate) gap_retried: bool,
}

/// A receive in progress: the WQE being filled.
pub(crate) struct RecvCtx {
    pub(crate) slot: KVec<u8>,
    /// Bytes placed so far.
    pub(crate) off: u32,
}

/// An RDMA write in progress.
pub(crate) struct WriteCtx {
    pub(crate) mr: MrRef,
    pub(crate) va: u64,
    pub(crate) resid: u32,
}

/// A read or atomic the responder answered, kept to answer a duplicate.
#[derive(Clone, Copy, Default)]
pub(crate) struct RdRes {
    pub(crate) valid: bool,
    pub(crate) atomic: bool,
    pub(crate) first_psn: u32,
    pub(crate) last_psn: u32,
    pub(crate) va: u64,
    pub(crate) rkey: u32,
    pub(crate) len: u32,
    /// The original value an atomic returned.
    pub(crate) orig: u64,
}

/// A read being answered: what, and the PSN of the next response packet.
#[derive(Clone, Copy)]
pub(crate) struct ReadOut {
    pub(crate) res: RdRes,
    pub(crate) next: u32,
}

/// Responder state.
#[derive(Default)]
pub(crate) struct RespState {
    /// The next expected PSN.
    pub(crate) psn: u32,
    /// Messages completed (the AETH's MSN).
    pub(crate) msn: u32,
    pub(crate) recv: Option<RecvCtx>,
    /// The buffer of the last completed receive, kept for the next one so
    /// that taking a receive WQE does not allocate.
    pub(crate) spare: KVec<u8>,
    pub(crate) write: Option<WriteCtx>,
    /// The length of the write in progress (a write with immediate reports
    /// it in its receive completion).
    pub(crate) write_total: u32,
    /// A sequence NAK went out for the current gap (send only one).
    pub(crate) nak_sent: bool,
    /// UC: drop packets until the next first/only.
    pub(crate) drop_msg: bool,
    /// Where the requests stand in the opcode sequence (RC, UC).
    pub(crate) pos: MsgPos,
    /// The read being answered, packet after packet, by the runner.
    pub(crate) out: Option<ReadOut>,
    /// Answered reads and atomics, a ring of `max_dest_rd_atomic`.
    pub(crate) res: KVec<RdRes>,
    pub(crate) res_next: usize,
}

/// What `modify_qp` changes and the protocol engines read and write, under
/// one lock: the work of a QP is serialized.
pub(crate) struct QpCore {
    /// The state: what the engines go by.
    pub(crate) state: QpState,
    /// The attributes as last set, but for the state (`state`).
    pub(crate) attr: bindings::ib_qp_attr,
    /// The primary path, once set.
    pub(crate) av: Option<Av>,
    /// Set by `destroy_qp`: the device, CQs and rings may be gone.
    pub(crate) destroyed: bool,
    pub(crate) sq: WorkQueue,
    pub(crate) rq: WorkQueue,
    /// Copies of the started send WQEs, and what the engines keep of them.
    pub(crate) shadow: Shadow,
    pub(crate) req: ReqState,
    pub(crate) comp: CompState,
    pub(crate) resp: RespState,
    /// How the QP's packets leave: the kept route (RC and UC: all take
    /// the primary path), and the run they go out for.
    pub(crate) tx: Tx,
}

impl QpCore {
    /// How the requester sends: with the kept route for a QP whose packets
    /// all take one path (RC, UC), as datagrams otherwise.
    pub(crate) fn requests(&self, qp_type: u32) -> Option<Via<'_>> {
        Some(match qp_type {
            bindings::IB_QPT_RC | bindings::IB_QPT_UC => Via::Connected(&self.tx),
            _ => Via::Datagram(&self.tx),
        })
    }

    /// How the responder answers (RC).
    pub(crate) fn answers(&self) -> Option<Via<'_>> {
        Some(Via::Connected(&self.tx))
    }

    /// The path MTU in bytes (UD: the port's).
    pub(crate) fn mtu(&self, dev: &RxeDev) -> u32 {
        let m = if self.attr.path_mtu == 0 {
            dev.active_mtu()
        } else {
            self.attr.path_mtu
        };
        IbMtu::from_raw(m).map_or(256, IbMtu::bytes)
    }

    /// The shadow copy of send WQE `i` (one in flight).
    pub(crate) fn shadow_slot(&self, i: u32) -> &[u8] {
        self.shadow.wqe(i)
    }

    /// The requester/completer record of send WQE `i` (one in flight).
    pub(crate) fn meta(&mut self, i: u32) -> Option<&mut WqeMeta> {
        self.shadow.meta(i)
    }

    /// Whether send WQE `i` may start: the WQEs from the oldest not yet
    /// completed to `i` fit in the shadow.
    pub(crate) fn fits_in_flight(&self, i: u32) -> bool {
        self.sq.ring.offset_of(i) < self.shadow.slots()
    }
}

/// The most send WQEs a QP has in flight (started, not completed) at once.
/// An RC QP has at most 128 PSNs unacknowledged, UC and UD WQEs complete
/// once sent: only chains of local operations behind an unacknowledged
/// WQE come near it, and they wait for room. The memory a QP takes beyond
/// its rings so stays small however long its send queue.
const SHADOW_SLOTS: u32 = 1024;

/// Copies of the send WQEs in flight, and what the engines keep of each:
/// as many slots as the ring has, up to [`SHADOW_SLOTS`]. The WQEs in
/// flight are consecutive in the ring, from its oldest not completed on,
/// and never more than there are slots ([`QpCore::fits_in_flight`]), so
/// WQE `i` has slot `i` modulo their number to itself.
///
/// INVARIANT: `bytes` holds `mask + 1` slots of `elem` bytes, `meta`
/// `mask + 1` records; `mask + 1` is a power of two.
pub(crate) struct Shadow {
    bytes: KVVec<u8>,
    meta: KVVec<WqeMeta>,
    elem: usize,
    mask: u32,
}

impl Shadow {
    /// A shadow for the send WQEs of `ring`.
    pub(crate) fn new(ring: &Queue) -> Result<Self> {
        // Both powers of two: the ring's slots, and the cap.
        let slots = ring.capacity().saturating_add(1).min(SHADOW_SLOTS);
        let elem = ring.elem_size();
        let n = (slots as usize).checked_mul(elem).ok_or(EINVAL)?;
        let mut bytes = KVVec::new();
        bytes.resize(n, 0u8, GFP_KERNEL)?;
        let mut meta = KVVec::new();
        meta.resize(slots as usize, WqeMeta::default(), GFP_KERNEL)?;
        // INVARIANT: `slots` of each, a power of two.
        Ok(Shadow {
            bytes,
            meta,
            elem,
            mask: slots - 1,
        })
    }

    /// How many WQEs may be in flight at once.
    pub(crate) fn slots(&self) -> u32 {
        self.mask + 1
    }

    fn at(&self, i: u32) -> usize {
        (i & self.mask) as usize * self.elem
    }

    /// The copy of WQE `i`.
    pub(crate) fn wqe(&self, i: u32) -> &[u8] {
        let at = self.at(i);
        self.bytes.get(at..at + self.elem).unwrap_or_default()
    }

    /// The copy of WQE `i`, to fill.
    pub(crate) fn wqe_mut(&mut self, i: u32) -> Option<&mut [u8]> {
        let at = self.at(i);
        self.bytes.get_mut(at..at + self.elem)
    }

    /// The record of WQE `i`.
    pub(crate) fn meta(&mut self, i: u32) -> Option<&mut WqeMeta> {
        self.meta.get_mut((i & self.mask) as usize)
    }

    /// Forgets every record (a QP reset).
    fn clear(&mut self) {
        for m in self.meta.iter_mut() {
            *m = WqeMeta::default();
        }
    }
}

/// What a state change does to the engines besides recording the state:
/// a QP back in RESET forgets its protocol state, one in error flushes its
/// queues, and the requester has a look at a QP that may send (RTS) or
/// must see where its drain stands (SQD). A move to SQD while draining
/// already (to change other attributes) keeps the drain as it is.
pub(crate) fn enter(cx: Ctx<'_>, core: &mut QpCore, to: QpState) {
    let from = core.state;
    if core::mem::discriminant(&from) == core::mem::discriminant(&to) {
        return;
    }
    set_state(cx, core, to);
    match to {
        QpState::Reset => core.reset(),
        QpState::Err => crate::transport::comp::flush(cx, core),
        QpState::Rts | QpState::Sqd(_) => cx.qp().schedule(),
        QpState::Init | QpState::Rtr | QpState::Sqe => {}
    }
}

/// Records a new state, and what a doorbell rung in it meets (read without
/// the lock: see [`Qp::on_post_send`]).
pub(crate) fn set_state(cx: Ctx<'_>, core: &mut QpCore, to: QpState) {
    core.state = to;
    cx.qp().posting.store(to.on_post_send() as u32, Relaxed);
}

impl QpCore {
    /// Back to the reset state: the queues are emptied, the protocol state
    /// and the path forgotten.
    fn reset(&mut self) {
        self.av = None;
        self.sq.ring.discard_all();
        self.rq.ring.discard_all();
        self.shadow.clear();
        self.req = ReqState {
            index: self.sq.ring.index(),
            ..ReqState::default()
        };
        self.comp = CompState::default();
        let res = core::mem::take(&mut self.resp.res);
        let spare = core::mem::take(&mut self.resp.spare);
        self.resp = RespState {
            res,
            spare,
            ..RespState::default()
        };
        for r in self.resp.res.iter_mut() {
            *r = RdRes::default();
        }
    }
}

/// The driver's part of a QP.
///
/// INVARIANT: `dev` is the device the QP belongs to; `scq` and `rcq` are
/// CQs of it. All three outlive every use: the core keeps them until
/// `destroy_qp`, which sets `core.destroyed`, and no code path touches them
/// without holding `core` and seeing it clear.
#[pin_data]
pub(crate) struct Qp {
    pub(crate) qpn: u32,
    pub(crate) qp_type: u32,
    pub(crate) pd: usize,
    pub(crate) dev: *const RxeDev,
    pub(crate) scq: *mut RxeCq,
    pub(crate) rcq: *mut RxeCq,
    pub(crate) ibqp: *mut bindings::ib_qp,
    pub(crate) user: bool,
    /// Every send WQE completes (`IB_SIGNAL_ALL_WR`).
    pub(crate) sig_all: bool,
    /// The UDP source port of the QP's packets.
    pub(crate) src_port: u16,
    /// The shared receive queue the QP takes receive WQEs from, if any.
    pub(crate) srq: Option<Arc<Srq>>,
    #[pin]
    pub(crate) core: Mutex<QpCore>,
    /// Kernel QPs' post path into the rings.
    #[pin]
    pub(crate) kpost: SpinLockIrq<KPost>,
    /// Who runs the engines ([`Qp::run`]).
    task: Task,
    /// The QP's work item: the engines' runner when the context that
    /// became it cannot run them (the receive path's softirq), or has run
    /// its budget.
    #[pin]
    work: Work<Qp>,
    /// The retransmit (and RNR wait) timer.
    #[pin]
    timer: DelayedWork<Qp, 1>,
    /// The timer went off: the runner's next pass sees to it.
    timer_due: Atomic<bool>,
    /// Packets for the QP, queued by the receive path (softirq) for the
    /// runner.
    #[pin]
    rx: SkbQueue,
    /// What a send posted now meets, an [`OnPost`] (kept with the state,
    /// under the lock; read without it by the doorbell).
    posting: Atomic<u32>,
    /// Counts the QP until it is freed (checked at unload).
    _live: crate::transport::live::LiveQp,
}

impl_has_work! {
    impl HasWork<Self> for Qp { self.work }
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self, 1> for Qp { self.timer }
}

impl WorkItem<1> for Qp {
    type Pointer = Arc<Qp>;

    fn run(this: Arc<Qp>) {
        this.timer_due.store(true, Release);
        // A timer's work is process context: it runs the engines itself
        // if nobody does.
        if this.task.begin() {
            this.run();
        }
    }
}

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

// SAFETY: The raw pointers are only dereferenced through a `Live` guard,
// which holds `core` and has seen the QP not destroyed (type invariant);
// everything else is locked, atomic or immutable.
unsafe impl Send for Qp {}
// SAFETY: As above.
unsafe impl Sync for Qp {}

impl WorkItem for Qp {
    type Pointer = Arc<Qp>;

    fn run(this: Arc<Qp>) {
        // Queued only by whoever became the runner (`kick`, a run handed
        // over): this is the runner.
        this.run();
    }
}

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
    /// Runs the timer handler after `jiffies` (unless it is already set).
    /// Returns whether a new timer was set (`false`: one is pending).
    pub(crate) fn set_timer(self: &Arc<Self>, jiffies: kernel::time::Jiffies) -> bool {
        crate::transport::task::tasks().is_some_and(|t| {
            t.queue()
                .enqueue_delayed::<_, 1>(self.clone(), jiffies)
                .is_ok()
        })
    }

    /// Takes back a pending timer, so a destroyed QP is not kept alive by
    /// a timer that may be hours away (and would outlive the module).
    ///
    /// A timer already running is not waited for: it sees the QP destroyed.
    pub(crate) fn cancel_timer(self: &Arc<Self>) {
        // SAFETY: `self.timer` is a live `DelayedWork`, so the pointer is
        // aligned and not dangling.
        let work = unsafe { DelayedWork::raw_as_work(&self.timer) };
        // SAFETY: The `work_struct` inside the QP's `delayed_work`, set up
        // by `new_delayed_work!`; cancelling is allowed in any context.
        if unsafe { bindings::rxe_rs_cancel_delayed_work(work.cast()) } {
            // SAFETY: The pending work owned one reference, which
            // `enqueue_delayed` made with `Arc::into_raw` of this same
            // `Arc`; cancelled, it will never run, so the reference is ours
            // to drop.
            drop(unsafe { Arc::from_raw(Arc::as_ptr(self)) });
        }
    }

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
    /// one of the device in use (`alone`), else in the QP's work item;
    /// otherwise the runner makes one more pass. The poster goes on at
    /// once either way.
    ///
    /// Here and now, the poster's system call carries out the request, its
    /// local peer's answer (taken on, see [`Runs`]) and the completion:
    /// no worker wakes, which on small messages costs more than the work.
    /// Several QPs in use at once gain more from their work items running
    /// in parallel, on the other CPUs, while the poster posts.
    pub(crate) fn doorbell(self: &Arc<Self>, alone: bool) {
        if self.task.begin() {
            if alone {
                self.run();
            } else {
                self.queue_work();
            }
        }
    }

    /// The engines' run, by the runner; then, as their runner too, the
    /// local peers its packets woke ([`Runs`]), and theirs, up to
    /// [`RUNS_MAX`] runs.
    fn run(self: &Arc<Self>) {
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
            if core.resp.out.is_some() {
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

/// The engine state of a live QP, locked: proof that the QP's lock is held
/// and that `destroy_qp` has not run, so that the QP's device, CQs and
/// `ib_qp` live.
///
/// INVARIANT: `guard` holds `qp.core`, and `guard.destroyed` is false.
pub(crate) struct Live<'a> {
    qp: &'a Arc<Qp>,
    guard: MutexGuard<'a, QpCore>,
}

impl<'a> Live<'a> {
    /// Locks the QP's engine state; `None` if the QP is destroyed.
    pub(crate) fn lock(qp: &'a Arc<Qp>) -> Option<Self> {
        let guard = qp.core.lock();
        if guard.destroyed {
            return None;
        }
        // INVARIANT: Locked, and seen not destroyed under the lock.
        Some(Live { qp, guard })
    }

    /// What the engines take: the QP's context and its state.
    pub(crate) fn split(&mut self) -> (Ctx<'_>, &mut QpCore) {
        // SAFETY: `dev` is the QP's device, live while the QP is not
        // destroyed (`Qp` invariant), which it is not while `self` holds
        // the lock (type invariant); the reference lives no longer than
        // this borrow of `self`.
        let dev = unsafe { &*self.qp.dev };
        // INVARIANT: Made from a `Live`, borrowed for as long as it lives.
        (Ctx { qp: self.qp, dev }, &mut self.guard)
    }
}

impl core::ops::Deref for Live<'_> {
    type Target = QpCore;

    fn deref(&self) -> &QpCore {
        &self.guard
    }
}

impl core::ops::DerefMut for Live<'_> {
    fn deref_mut(&mut self) -> &mut QpCore {
        &mut self.guard
    }
}

/// What the engines use of a live QP besides its state: the QP, its
/// device, its CQs and its owner's event handler.
///
/// INVARIANT: made only by [`Live::split`], so a `Ctx` cannot outlive the
/// guard it came from: while it lives, the QP is locked and not destroyed.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'b> {
    qp: &'b Arc<Qp>,
    dev: &'b RxeDev,
}

impl<'b> Ctx<'b> {
    /// The QP.
    pub(crate) fn qp(self) -> &'b Arc<Qp> {
        self.qp
    }

    /// The QP's device.
    pub(crate) fn dev(self) -> &'b RxeDev {
        self.dev
    }

    /// The send CQ.
    pub(crate) fn send_cq(self) -> &'b RxeCq {
        // SAFETY: A CQ of the QP, live while the QP is not destroyed (`Qp`
        // invariant), which it is not while `self` lives (type invariant).
        unsafe { &*self.qp.scq }
    }

    /// The receive CQ.
    pub(crate) fn recv_cq(self) -> &'b RxeCq {
        // SAFETY: As in `send_cq`.
        unsafe { &*self.qp.rcq }
    }

    /// Reports an asynchronous event on the QP to its owner.
    pub(crate) fn event(self, event: bindings::ib_event_type) {
        // SAFETY: The core's QP, live while the QP is not destroyed, which
        // it is not while `self` lives (type invariant).
        let ibqp = unsafe { &*self.qp.ibqp };
        if let Some(handler) = ibqp.event_handler {
            // SAFETY: Plain data.
            let mut ev: bindings::ib_event = unsafe { core::mem::zeroed() };
            ev.device = ibqp.device;
            ev.element.qp = self.qp.ibqp;
            ev.event = event;
            // SAFETY: The owner's handler with its context.
            unsafe { handler(&mut ev, ibqp.qp_context) };
        }
    }
}

/// What a QP is made from, besides its rings and attributes.
#[derive(Clone, Copy)]
pub(crate) struct Init {
    pub(crate) qp_type: u32,
    pub(crate) dev: *const RxeDev,
    pub(crate) scq: *mut RxeCq,
    pub(crate) rcq: *mut RxeCq,
    pub(crate) ibqp: *mut bindings::ib_qp,
    pub(crate) user: bool,
    pub(crate) sig_all: bool,
}

/// The initializer of a QP numbered `qpn`.
pub(crate) fn new_qp(
    qpn: u32,
    init: Init,
    pd: usize,
    core: QpCore,
    srq: Option<Arc<Srq>>,
) -> impl PinInit<Qp, Error> {
    let port = src_port(qpn);
    try_pin_init!(Qp {
        qpn,
        qp_type: init.qp_type,
        pd,
        dev: init.dev,
        scq: init.scq,
        rcq: init.rcq,
        ibqp: init.ibqp,
        user: init.user,
        sig_all: init.sig_all,
        src_port: port,
        srq,
        core <- new_mutex!(core, "rxe_rs_qp_core"),
        kpost <- new_spinlock_irq!(KPost::default(), "rxe_rs_qp_kpost"),
        task: Task::new(),
        work <- new_work!("rxe_rs_qp_work"),
        timer <- new_delayed_work!("rxe_rs_qp_timer"),
        timer_due: Atomic::new(false),
        rx <- SkbQueue::new(),
        posting: Atomic::new(OnPost::Refuse as u32),
        _live: crate::transport::live::LiveQp::new(),
    }? Error)
}

/// The UDP source port of a QP's packets: as rxe, 0xc000 plus 14 bits
/// hashed from the QPN, so flows spread over paths.
fn src_port(qpn: u32) -> u16 {
    let h = qpn.wrapping_mul(0x61c8_8647) >> 18;
    0xc000 | (h & 0x3fff) as u16
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
    if !from_peer(qp, core, meta) {
        dev.counters()
            .inc(crate::verbs::counters::Counter::RcvdQpDropped);
        return;
    }
    if p.info().is_request() {
        crate::transport::resp::request(cx, core, p, meta);
    } else if qp.qp_type == bindings::IB_QPT_RC {
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
