// SPDX-License-Identifier: GPL-2.0

//! The QPs a run takes on: a packet that a QP's runner sends to a local
//! peer (over veth, or loopback) is received within the send itself, in
//! the softirq that the IP layer runs on the way out. Rather than wake a
//! worker for the peer QP, the receive path hands the peer to the run that
//! sent the packet, which runs it once its own pass is done, in process
//! context, on the same CPU. On small messages a wakeup costs more than
//! the work it wakes for, and a busy CPU makes the woken worker wait; this
//! way a request, its answer and the completion can all be carried out in
//! the one system call that posted the request.
//!
//! The run that is sending is found through a per-CPU pointer, set only
//! while it sends, with preemption disabled: a softirq that finds it set
//! runs nested in that very send, on that CPU.

use core::{cell::Cell, ptr::NonNull};

use kernel::sync::Arc;

use crate::{bindings, transport::qp::Qp};

/// How many QPs a run takes on at most; more go to their work items.
const MAX: usize = 16;

/// The QPs handed to a run, whose runner it has become.
///
/// Not `Sync`: its owner uses it in process context, and a softirq nested
/// in the owner's [`Runs::sending`] on the same CPU; the two never
/// overlap.
pub(crate) struct Runs {
    qps: [Cell<Option<Arc<Qp>>>; MAX],
    n: Cell<usize>,
}

impl Runs {
    /// An empty set.
    pub(crate) fn new() -> Self {
        Runs {
            qps: Default::default(),
            n: Cell::new(0),
        }
    }

    /// Takes on `qp`, whose runner the caller became; gives it back if
    /// there is no room.
    fn take_on(&self, qp: Arc<Qp>) -> Result<(), Arc<Qp>> {
        let n = self.n.get();
        match self.qps.get(n) {
            Some(slot) => {
                slot.set(Some(qp));
                self.n.set(n + 1);
                Ok(())
            }
            None => Err(qp),
        }
    }

    /// The QP taken on last, if any.
    pub(crate) fn pop(&self) -> Option<Arc<Qp>> {
        let n = self.n.get().checked_sub(1)?;
        self.n.set(n);
        self.qps.get(n).and_then(Cell::take)
    }

    /// Runs `send` (a packet handed to the IP layer) with this run as the
    /// one that is sending on this CPU.
    pub(crate) fn sending<R>(&self, send: impl FnOnce() -> R) -> R {
        let me = core::ptr::from_ref(self).cast_mut().cast();
        // SAFETY: Disables preemption and publishes `me` on this CPU until
        // `rxe_rs_runs_exit`, below, in this same call: a softirq that
        // reads it runs nested in `send`, while `self` lives.
        let prev = unsafe { bindings::rxe_rs_runs_enter(me) };
        let r = send();
        // SAFETY: Pairs with the `enter` above, on the same CPU
        // (preemption is disabled in between).
        unsafe { bindings::rxe_rs_runs_exit(prev) };
        r
    }
}

impl Drop for Runs {
    fn drop(&mut self) {
        // Whatever is left is owned: its work items take the runs over.
        while let Some(qp) = self.pop() {
            qp.hand_to_work();
        }
    }
}

/// Hands `qp`, whose runner the caller became, to the run sending on this
/// CPU, if the caller runs nested in one (the receive path's softirq, on
/// the way out of a local send); gives it back otherwise.
pub(crate) fn hand_over(qp: Arc<Qp>) -> Result<(), Arc<Qp>> {
    // SAFETY: No preconditions; a read of this CPU's pointer.
    let cur = unsafe { bindings::rxe_rs_runs_current() };
    let Some(runs) = NonNull::new(cur.cast::<Runs>()) else {
        return Err(qp);
    };
    // SAFETY: The pointer is set only by `Runs::sending`, with preemption
    // disabled, and cleared before it returns; reading it set here means
    // this code runs nested in that call on this CPU, while the `Runs`
    // lives and its owner does not touch it.
    unsafe { runs.as_ref() }.take_on(qp)
}
