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
        self.insert_with(|_| Ok(value))
    }

    /// Stores what `make` returns for a free number, and returns the
    /// number. `make` runs unlocked (it may allocate and sleep); the number
    /// stays free meanwhile because allocations are serialized.
    pub(crate) fn insert_with(&self, make: impl FnOnce(u32) -> Result<T>) -> Result<u32> {
        let mut next = self.next.lock();
        let n = self.find_free((*next).clamp(self.min, self.max))?;
        self.fill(n, make(n)?)?;
        *next = if n == self.max { self.min } else { n + 1 };
        Ok(n)
    }

    /// Stores what `make` returns under the fixed number `n` (the GSI QP's,
    /// or a restored object's). `EBUSY` if taken.
    pub(crate) fn insert_at_with(&self, n: u32, make: impl FnOnce(u32) -> Result<T>) -> Result {
        let _serial = self.next.lock();
        if self.xa.lock().get(n as usize).is_some() {
            return Err(EBUSY);
        }
        self.fill(n, make(n)?)
    }

    /// The first free number from `start` on, cyclically.
    fn find_free(&self, start: u32) -> Result<u32> {
        let span = u64::from(self.max - self.min) + 1;
        let xa = self.xa.lock();
        let mut n = start;
        for _ in 0..span {
            if xa.get(n as usize).is_none() {
                return Ok(n);
            }
            n = if n == self.max { self.min } else { n + 1 };
        }
        Err(ENOSPC)
    }

    /// Stores `value` at the free number `n` (the caller holds `next`).
    fn fill(&self, n: u32, value: T) -> Result {
        self.xa
            .lock()
            .store(n as usize, value, GFP_KERNEL)
            .map(drop)
            .map_err(|e| e.error)
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
