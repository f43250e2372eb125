// SPDX-License-Identifier: GPL-2.0

//! The state of a QP: the IBTA's state machine (o10-2.2), as the engines
//! see it.
//!
//! `modify_qp` moves a QP between the states (`ib_modify_qp_is_ok` says
//! which moves the verbs allow); the engines move it to the error state,
//! and out of a send queue drain's draining phase. Everything else asks
//! the predicates below, never compares states: the migration sub-states
//! that refine RTR, RTS and SQD ([`Mig`]: a stopped QP sends nothing and
//! answers requests with a stopped NAK; a paused one holds its send queue
//! and spends no retries) change what the predicates answer, not the
//! engines that ask them.

use crate::bindings;

/// Where a send queue drain stands (the SQD state).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Drain {
    /// Messages begun before the drain are still going out or waiting for
    /// their acknowledgements; `notify`: the owner asked to hear of the
    /// end (`IB_EVENT_SQ_DRAINED`).
    Draining { notify: bool },
    /// Every message begun is complete; new ones wait for RTS.
    Drained,
}

/// Where a connected QP stands in a migration (rxe-rs's extension, see
/// docs/migration.md): sub-states of RTR, RTS and SQD that the verbs do
/// not see.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Mig {
    /// Not migrating.
    Running,
    /// This side is being moved: it sends nothing, runs no engine, and
    /// answers requests with a stopped NAK (to a peer that speaks the
    /// extension).
    Stopped,
    /// The peer is being moved: the requester holds its send queue, spends
    /// no retries and parks its timer until the peer's resume.
    Paused,
}

/// A QP's state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum QpState {
    Reset,
    Init,
    /// Ready to receive: the responder works, the requester does not.
    Rtr(Mig),
    /// Ready to send.
    Rts(Mig),
    /// Send queue drain: the messages begun are finished (sent,
    /// retransmitted, acknowledged), no new one is started; the responder
    /// goes on.
    Sqd(Drain, Mig),
    /// Send queue error (UC, UD): the send queue is flushed, the receive
    /// side goes on.
    Sqe,
    Err,
}

impl QpState {
    /// The state an `enum ib_qp_state` value names (SQD: draining, and
    /// no notification asked for; not migrating); `None` for a value that
    /// names none.
    pub(crate) fn from_ib(s: u32) -> Option<Self> {
        Some(match s {
            bindings::IB_QPS_RESET => QpState::Reset,
            bindings::IB_QPS_INIT => QpState::Init,
            bindings::IB_QPS_RTR => QpState::Rtr(Mig::Running),
            bindings::IB_QPS_RTS => QpState::Rts(Mig::Running),
            bindings::IB_QPS_SQD => QpState::Sqd(Drain::Draining { notify: false }, Mig::Running),
            bindings::IB_QPS_SQE => QpState::Sqe,
            bindings::IB_QPS_ERR => QpState::Err,
            _ => return None,
        })
    }

    /// The `enum ib_qp_state` value the verbs report.
    pub(crate) fn to_ib(self) -> u32 {
        match self {
            QpState::Reset => bindings::IB_QPS_RESET,
            QpState::Init => bindings::IB_QPS_INIT,
            QpState::Rtr(_) => bindings::IB_QPS_RTR,
            QpState::Rts(_) => bindings::IB_QPS_RTS,
            QpState::Sqd(..) => bindings::IB_QPS_SQD,
            QpState::Sqe => bindings::IB_QPS_SQE,
            QpState::Err => bindings::IB_QPS_ERR,
        }
    }

    /// The migration sub-state, in the states that have one.
    pub(crate) fn mig(self) -> Option<Mig> {
        match self {
            QpState::Rtr(m) | QpState::Rts(m) | QpState::Sqd(_, m) => Some(m),
            _ => None,
        }
    }

    /// The same state with migration sub-state `m`, where it has one.
    pub(crate) fn with_mig(self, m: Mig) -> Self {
        match self {
            QpState::Rtr(_) => QpState::Rtr(m),
            QpState::Rts(_) => QpState::Rts(m),
            QpState::Sqd(d, _) => QpState::Sqd(d, m),
            other => other,
        }
    }

    /// Stopped for migration.
    pub(crate) fn stopped(self) -> bool {
        self.mig() == Some(Mig::Stopped)
    }

    /// The requester may start a new message.
    pub(crate) fn starts_messages(self) -> bool {
        self == QpState::Rts(Mig::Running)
    }

    /// The requester may send the rest of a message begun, and send again
    /// what was lost (RTS, and SQD, which finishes what RTS began), and the
    /// retransmit timer counts retries: unless migrating.
    pub(crate) fn sends(self) -> bool {
        matches!(
            self,
            QpState::Rts(Mig::Running) | QpState::Sqd(_, Mig::Running)
        )
    }

    /// The completer takes acknowledgements and responses: while the
    /// requester sends, and while it waits for a stopped peer (what was
    /// on its way before the stop still counts).
    pub(crate) fn takes_responses(self) -> bool {
        matches!(
            self,
            QpState::Rts(Mig::Running | Mig::Paused) | QpState::Sqd(_, Mig::Running | Mig::Paused)
        )
    }

    /// The responder carries out requests: from RTR on, and in SQD and
    /// SQE, which stop the send side only; not while stopped.
    pub(crate) fn accepts_requests(self) -> bool {
        match self.mig() {
            Some(m) => m != Mig::Stopped,
            None => self == QpState::Sqe,
        }
    }

    /// The QP has been ready to send (RTS or a state after it): the C rxe
    /// counts responses only from then on.
    pub(crate) fn past_rtr(self) -> bool {
        !matches!(self, QpState::Reset | QpState::Init | QpState::Rtr(_))
    }

    /// What a send posted now meets.
    pub(crate) fn on_post_send(self) -> OnPost {
        match self {
            QpState::Reset | QpState::Init | QpState::Rtr(_) => OnPost::Refuse,
            QpState::Rts(_) | QpState::Sqd(..) => OnPost::Queue,
            QpState::Sqe | QpState::Err => OnPost::Flush,
        }
    }

    /// The error state: every WQE completes flushed.
    pub(crate) fn is_err(self) -> bool {
        self == QpState::Err
    }

    /// A drain that has not ended yet.
    pub(crate) fn draining(self) -> bool {
        matches!(self, QpState::Sqd(Drain::Draining { .. }, _))
    }
}

/// What becomes of a send WQE posted in some state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(u32)]
pub(crate) enum OnPost {
    /// Not yet (before RTS): the post fails.
    Refuse,
    /// It waits its turn in the send queue.
    Queue,
    /// It completes at once, flushed (the send queue is in error).
    Flush,
}

impl OnPost {
    /// The value `as u32` gave (anything else: refuse).
    pub(crate) fn from_u32(v: u32) -> Self {
        match v {
            x if x == OnPost::Queue as u32 => OnPost::Queue,
            x if x == OnPost::Flush as u32 => OnPost::Flush,
            _ => OnPost::Refuse,
        }
    }
}
