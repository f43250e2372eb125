// SPDX-License-Identifier: GPL-2.0

//! Counts of live objects that may outlive their verbs object (a QP stays
//! alive while packets, work items or timers hold it), checked when the
//! module unloads: by then everything that held one has been drained, so a
//! count left over is a leak, and worse, a timer or work item that would
//! run module code after the module is gone. Like the C rxe's pool cleanup,
//! a leak WARNs, which the tests' kernel-log check turns into a failure.

use kernel::{
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

/// QPs alive (`Qp` values not yet dropped).
static QPS: Atomic<usize> = Atomic::new(0);

/// Held by every `Qp`: counts it while it lives.
pub(crate) struct LiveQp(());

impl LiveQp {
    pub(crate) fn new() -> Self {
        QPS.add(1, Relaxed);
        LiveQp(())
    }
}

impl Drop for LiveQp {
    fn drop(&mut self) {
        QPS.fetch_sub(1, Relaxed);
    }
}

/// Checks the counts when dropped: the module's last field.
pub(crate) struct UnloadCheck;

impl Drop for UnloadCheck {
    fn drop(&mut self) {
        let qps = QPS.load(Relaxed);
        if qps != 0 {
            pr_err!("{qps} QPs still alive at unload (leaked)\n");
        }
        kernel::warn_on!(qps != 0);
    }
}
