// SPDX-License-Identifier: GPL-2.0

//! A queue pair as the engines see it: the QP object that the verbs, the
//! packet path and the QP's work items share, its timer and its work item.
//! What the engines keep of it between packets is in `engine`, the guard
//! that proves it locked and live in `guard`, who runs the engines and
//! when in `run`, its state in `state`. The verbs callbacks that create,
//! modify and destroy it are in `verbs::qp`.

mod diag;
mod engine;
mod guard;
mod run;
mod state;

pub(crate) use diag::Diag;
pub(crate) use engine::{
    enter, set_state, CompState, Ext, QpCore, RdRes, ReadOut, RecvCtx, ReqState, RespState, Shadow,
    WorkQueue, WqeMeta, WriteCtx,
};
pub(crate) use guard::{Ctx, Live};
pub(crate) use run::deliver;
pub(crate) use state::{Drain, Mig, OnPost, QpState};

use kernel::{
    new_mutex, new_spinlock_irq,
    prelude::*,
    sync::{atomic::Atomic, Arc, Mutex, SpinLockIrq},
    workqueue::{
        impl_has_delayed_work, impl_has_work, new_delayed_work, new_work, DelayedWork, Work,
        WorkItem,
    },
};

use crate::{
    bindings,
    net::skb::SkbQueue,
    transport::task::Task,
    verbs::{cq::RxeCq, device::RxeDev, post::KPost, srq::Srq},
};

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
    /// The user context the QP belongs to (its address; 0 for a kernel
    /// QP): what migration methods act on.
    pub(crate) uctx: usize,
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
    /// The last message the requester began was a one-sided one (RDMA
    /// read or write, atomic), and the send queue has not emptied since:
    /// see [`Qp::doorbell`].
    pub(crate) one_sided: Atomic<bool>,
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
        this.timer_due.store(true, kernel::sync::atomic::Release);
        // A timer's work is process context: it runs the engines itself
        // if nobody does.
        if this.task.begin() {
            this.run();
        }
    }
}

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

    /// The milliseconds the timer has left: 0 if it is due (its work
    /// queued), `None` if it is not set (racy: a hint).
    pub(crate) fn timer_left_ms(&self) -> Option<u32> {
        // SAFETY: `self.timer` is a live `DelayedWork`, so the pointer is
        // aligned and not dangling.
        let work = unsafe { DelayedWork::raw_as_work(&self.timer) };
        // SAFETY: The `work_struct` inside the QP's `delayed_work`; reading
        // its state is allowed in any context.
        let ms = unsafe { bindings::rxe_rs_delayed_work_left_ms(work.cast()) };
        u32::try_from(ms).ok()
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
    pub(crate) uctx: usize,
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
        uctx: init.uctx,
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
        one_sided: Atomic::new(false),
        _live: crate::transport::live::LiveQp::new(),
    }? Error)
}

/// The UDP source port of a QP's packets: as rxe, 0xc000 plus 14 bits
/// hashed from the QPN, so flows spread over paths.
fn src_port(qpn: u32) -> u16 {
    let h = qpn.wrapping_mul(0x61c8_8647) >> 18;
    0xc000 | (h & 0x3fff) as u16
}
