// SPDX-License-Identifier: GPL-2.0

//! A snapshot of a QP's engines for administrators (`rdma res show qp
//! -dd`, see `verbs::restrack`): where its requester, completer and
//! responder are, its migration sub-state, and whether anything is due to
//! run it. What a stuck connection is diagnosed from.

use kernel::sync::Arc;

use super::{Mig, Qp};

/// What [`Qp::diag`] reports.
pub(crate) struct Diag {
    /// The migration sub-state (`None`: the state has none).
    pub(crate) mig: Option<Mig>,
    /// The oldest unacknowledged PSN.
    pub(crate) comp_psn: u32,
    /// The PSN the requester sends next.
    pub(crate) req_psn: u32,
    /// One past the highest PSN sent.
    pub(crate) max_psn: u32,
    /// The PSN the responder expects.
    pub(crate) resp_psn: u32,
    pub(crate) retry_left: u8,
    pub(crate) rnr_left: u8,
    pub(crate) rnr_wait: bool,
    /// A restored QP still sends its resume.
    pub(crate) resume_due: bool,
    /// The peer has shown it speaks the migration extension.
    pub(crate) peer_ext: bool,
    /// Packets queued for the runner.
    pub(crate) rx_queued: u32,
    /// The runner: "idle", "busy" or "armed".
    pub(crate) runner: &'static kernel::str::CStr,
    /// The milliseconds the timer has left (0: due), `None`: not set.
    pub(crate) timer_ms: Option<u32>,
}

impl Qp {
    /// The snapshot, under the QP's lock (process context). `None`: the
    /// QP is destroyed.
    pub(crate) fn diag(self: &Arc<Self>) -> Option<Diag> {
        let mut live = super::Live::lock(self)?;
        let (_, core) = live.split();
        Some(Diag {
            mig: core.state.mig(),
            comp_psn: core.comp.psn,
            req_psn: core.req.psn,
            max_psn: core.req.max_psn,
            resp_psn: core.resp.psn,
            retry_left: core.comp.retry_left,
            rnr_left: core.comp.rnr_left,
            rnr_wait: core.comp.rnr_wait,
            resume_due: core.resume_due,
            peer_ext: core.ext.peer,
            rx_queued: u32::try_from(self.rx.len()).unwrap_or(u32::MAX),
            runner: self.task.name(),
            timer_ms: self.timer_left_ms(),
        })
    }
}
