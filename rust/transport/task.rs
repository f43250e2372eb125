// SPDX-License-Identifier: GPL-2.0

//! The module's workqueue, on which the QPs' work items run (the engines'
//! runs that their doorbell, timer or packets could not run at once), so
//! that unloading the module can wait for all of them with one drain; and
//! the task state that makes one runner at a time do a QP's work.

use core::ptr::NonNull;

use kernel::{
    prelude::*,
    sync::atomic::{Acquire, Atomic, Full, Relaxed, Release},
    workqueue::Queue,
};

use crate::bindings;

/// The workqueue, created at module load.
///
/// INVARIANT: a live `workqueue_struct` until dropped, which drains and
/// destroys it.
pub(crate) struct TaskQueue(NonNull<bindings::workqueue_struct>);

// SAFETY: Workqueues are thread-safe.
unsafe impl Send for TaskQueue {}
// SAFETY: As above.
unsafe impl Sync for TaskQueue {}

impl TaskQueue {
    /// Creates the queue.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: No preconditions.
        let wq = unsafe { bindings::rxe_rs_alloc_workqueue() };
        Ok(TaskQueue(NonNull::new(wq).ok_or(ENOMEM)?))
    }

    /// The queue, for enqueueing.
    pub(crate) fn queue(&self) -> &Queue {
        // SAFETY: Live until `self` drops (invariant).
        unsafe { Queue::from_raw(self.0.as_ptr().cast()) }
    }
}

impl Drop for TaskQueue {
    fn drop(&mut self) {
        // SAFETY: Live (invariant); drains before freeing.
        unsafe { bindings::rxe_rs_destroy_workqueue(self.0.as_ptr()) };
    }
}

/// The queue while the module is loaded (set by [`install`]).
static TASKS: Atomic<*mut TaskQueue> = Atomic::new(core::ptr::null_mut());

/// Owns the module's queue and publishes it; unpublishes and destroys it on
/// drop.
pub(crate) struct Installed {
    _queue: KBox<TaskQueue>,
}

/// Creates the module's queue.
pub(crate) fn install() -> Result<Installed> {
    let mut q = KBox::new(TaskQueue::new()?, GFP_KERNEL)?;
    TASKS.store(&raw mut *q, Release);
    Ok(Installed { _queue: q })
}

impl Drop for Installed {
    fn drop(&mut self) {
        TASKS.store(core::ptr::null_mut(), Release);
        // The queue drops next, draining it.
    }
}

/// The module's queue. Everything that queues work runs while the module is
/// loaded (device ops, packet receipt), after `install`.
pub(crate) fn tasks() -> Option<&'static TaskQueue> {
    let p = TASKS.load(Acquire);
    // SAFETY: Set by `install` to a box that lives until `Installed` drops,
    // which happens after every device (and so every caller) is gone.
    unsafe { p.as_ref() }
}

/// Who runs a QP's engines: nobody, one runner, or one runner that must
/// make another pass (something came for the QP while it ran). One runner
/// at a time does all of a QP's protocol work, in whatever context became
/// it (a doorbell's system call, the QP's work item); everyone else who
/// brings work arms it and goes on, rather than wait for the QP's lock, as
/// the C rxe's tasks do. So a doorbell never sleeps behind the receive
/// path, nor the receive path behind a doorbell.
pub(crate) struct Task(Atomic<u32>);

const IDLE: u32 = 0;
const BUSY: u32 = 1;
const ARMED: u32 = 2;

impl Task {
    /// No runner yet.
    pub(crate) const fn new() -> Self {
        Task(Atomic::new(IDLE))
    }

    /// Becomes the runner if there is none (`true`: the caller must run,
    /// or hand the run to the work item); otherwise arms the runner, which
    /// makes one more pass and so sees what the caller brought.
    pub(crate) fn begin(&self) -> bool {
        let mut cur = self.0.load(Relaxed);
        loop {
            let next = match cur {
                IDLE => BUSY,
                BUSY => ARMED,
                _ => return false,
            };
            // Full: what the caller brought (a packet queued, a WQE
            // written) is visible to the runner it arms, and what the
            // last runner left to the new one.
            match self.0.cmpxchg(cur, next, Full) {
                Ok(_) => return next == BUSY,
                Err(now) => cur = now,
            }
        }
    }

    /// The runner ends a pass: `false` if it is done (no runner any more),
    /// `true` if it was armed meanwhile and must make another pass.
    pub(crate) fn end_pass(&self) -> bool {
        match self.0.cmpxchg(BUSY, IDLE, Full) {
            Ok(_) => false,
            Err(_) => {
                // Armed: the runner goes on, unarmed.
                self.0.store(BUSY, Release);
                true
            }
        }
    }

    /// The runner's state, for administrators (racy: a hint).
    pub(crate) fn name(&self) -> &'static CStr {
        match self.0.load(Relaxed) {
            IDLE => c"idle",
            BUSY => c"busy",
            _ => c"armed",
        }
    }

    /// The runner stops for good (the QP is destroyed): whoever begins
    /// next finds nothing to do.
    pub(crate) fn end(&self) {
        self.0.store(IDLE, Release);
    }
}
