// SPDX-License-Identifier: GPL-2.0

//! The proof that a QP is locked and live: [`Live`] holds the QP's lock
//! and has seen it not destroyed, and hands the engines a [`Ctx`] through
//! which they reach the QP's device, CQs and owner without `unsafe`.

use core::ops::{Deref, DerefMut};

use kernel::sync::{lock::mutex::MutexGuard, Arc};

use crate::{
    bindings,
    verbs::{cq::RxeCq, device::RxeDev},
};

use super::{Qp, QpCore};

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

impl Deref for Live<'_> {
    type Target = QpCore;

    fn deref(&self) -> &QpCore {
        &self.guard
    }
}

impl DerefMut for Live<'_> {
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
