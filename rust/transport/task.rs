// SPDX-License-Identifier: GPL-2.0

//! The module's workqueue: every QP's protocol work (requester runs,
//! retransmissions) and the receive path's deferred packets run on it, so
//! unloading the module can wait for all of them with one drain.

use core::ptr::NonNull;

use kernel::{
    prelude::*,
    sync::atomic::{Acquire, Atomic, Release},
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
