// SPDX-License-Identifier: GPL-2.0

//! Object accounting and numbering: how many objects of one kind a device
//! holds, against the limit it advertises, and the tables that find an
//! object by its number (with a settable next number, for restore).

use kernel::{
    new_mutex,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Mutex,
    },
    types::ForeignOwnable,
    xarray::{AllocKind, XArray},
};

/// A count of live objects bounded by `max`.
pub(crate) struct Limit {
    count: Atomic<u32>,
    max: u32,
}

impl Limit {
    /// No objects yet, at most `max`.
    pub(crate) const fn new(max: u32) -> Self {
        Limit {
            count: Atomic::new(0),
            max,
        }
    }

    /// Accounts one more object; `EINVAL` (as rxe says) past the limit.
    pub(crate) fn take(&self) -> Result {
        let mut cur = self.count.load(Relaxed);
        loop {
            if cur >= self.max {
                return Err(EINVAL);
            }
            match self.count.cmpxchg(cur, cur + 1, Relaxed) {
                Ok(_) => return Ok(()),
                Err(now) => cur = now,
            }
        }
    }

    /// Accounts one object fewer. Only for an object `take` accounted.
    pub(crate) fn give(&self) {
        self.count.fetch_sub(1u32, Relaxed);
    }
}

/// Objects by number: QPs by QPN, MRs by key index, SRQs, AHs. Numbers are
/// handed out cyclically from `min..=max` (a number is not reused soon
/// after its object goes, so stale packets and keys find nothing), and the
/// next number can be set, so a restored object gets its old one back.
///
/// All calls are made in process context (the packet path runs in work
/// items), so the array's plain spinlock is enough.
#[pin_data]
pub(crate) struct IdTable<T: ForeignOwnable> {
    #[pin]
    xa: XArray<T>,
    /// The next number to try. Also serializes allocations, so that a slot
    /// found empty is still empty when it is filled.
    #[pin]
    next: Mutex<u32>,
    min: u32,
    max: u32,
}

impl<T: ForeignOwnable> IdTable<T> {
    /// An empty table of numbers in `min..=max`.
    pub(crate) fn new(min: u32, max: u32) -> impl PinInit<Self> {
        pin_init!(Self {
            xa <- XArray::new(AllocKind::Alloc),
            next <- new_mutex!(min, "rxe_rs_id_next"),
            min,
            max,
        })
    }

    /// Stores `value` under a free number and returns the number.
    /// `ENOSPC` when every number is taken.
    pub(crate) fn insert(&self, value: T) -> Result<u32> {
        let mut next = self.next.lock();
        let span = u64::from(self.max - self.min) + 1;
        let mut n = (*next).clamp(self.min, self.max);
        let mut xa = self.xa.lock();
        for _ in 0..span {
            if xa.get(n as usize).is_none() {
                xa.store(n as usize, value, GFP_KERNEL)
                    .map_err(|e| e.error)?;
                *next = if n == self.max { self.min } else { n + 1 };
                return Ok(n);
            }
            n = if n == self.max { self.min } else { n + 1 };
        }
        Err(ENOSPC)
    }

    /// Sets the number the next `insert` tries first. `EINVAL` if out of
    /// range.
    #[allow(dead_code)] // Used by restore.
    pub(crate) fn set_next(&self, n: u32) -> Result {
        if n < self.min || n > self.max {
            return Err(EINVAL);
        }
        *self.next.lock() = n;
        Ok(())
    }

    /// Removes and returns the object numbered `n`.
    pub(crate) fn remove(&self, n: u32) -> Option<T> {
        self.xa.lock().remove(n as usize)
    }

    /// Runs `f` on the object numbered `n`, if there is one, under the
    /// table's lock (so `f` must not sleep; clone what it needs).
    pub(crate) fn with<R>(&self, n: u32, f: impl FnOnce(T::Borrowed<'_>) -> R) -> Option<R> {
        let xa = self.xa.lock();
        xa.get(n as usize).map(f)
    }
}
