// SPDX-License-Identifier: GPL-2.0

//! Object accounting and numbering: how many objects of one kind a device
//! holds, against the limit it advertises, and the tables that find an
//! object by its number (with a settable next number, for restore).

use kernel::{
    new_mutex, new_spinlock_irq,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{
        atomic::{Atomic, Relaxed},
        Mutex, SpinLockIrq,
    },
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
/// Lookups may come from any context, the receive path's softirq
/// included: the tree is under an interrupt-safe spinlock, and nothing
/// allocates or frees under it (nodes are allocated before it is taken,
/// objects dropped after it is let go).
#[pin_data]
pub(crate) struct IdTable<T> {
    #[pin]
    tree: SpinLockIrq<RBTree<u32, T>>,
    /// The next number to try. Also serializes allocations, so that a slot
    /// found empty is still empty when it is filled.
    #[pin]
    next: Mutex<u32>,
    min: u32,
    max: u32,
}

impl<T: Unpin> IdTable<T> {
    /// An empty table of numbers in `min..=max`.
    pub(crate) fn new(min: u32, max: u32) -> impl PinInit<Self> {
        pin_init!(Self {
            tree <- new_spinlock_irq!(RBTree::new(), "rxe_rs_id_tree"),
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
        if self.tree.lock().get(&n).is_some() {
            return Err(EBUSY);
        }
        self.fill(n, make(n)?)
    }

    /// Stores what `make` returns under `n` if it is free, else under a
    /// free number as [`IdTable::insert_with`] would; returns the number.
    pub(crate) fn insert_preferring(
        &self,
        n: u32,
        make: impl FnOnce(u32) -> Result<T>,
    ) -> Result<u32> {
        let mut next = self.next.lock();
        let free = self.in_range(n) && self.tree.lock().get(&n).is_none();
        if free {
            self.fill(n, make(n)?)?;
            return Ok(n);
        }
        let n = self.find_free((*next).clamp(self.min, self.max))?;
        self.fill(n, make(n)?)?;
        *next = if n == self.max { self.min } else { n + 1 };
        Ok(n)
    }

    /// The first free number from `start` on, cyclically. Walks the run of
    /// taken numbers that begins at `start`, so it costs what that run is
    /// long, at most every object once.
    fn find_free(&self, start: u32) -> Result<u32> {
        let tree = self.tree.lock();
        let mut n = start;
        while tree.get(&n).is_some() {
            n = if n == self.max { self.min } else { n + 1 };
            if n == start {
                return Err(ENOSPC);
            }
        }
        Ok(n)
    }

    /// Stores `value` at the free number `n` (the caller holds `next`).
    fn fill(&self, n: u32, value: T) -> Result {
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?.into_node(n, value);
        // `n` is free (the caller checked under `next`): nothing is
        // replaced, so nothing is dropped under the lock.
        let old = self.tree.lock().insert(node);
        drop(old);
        Ok(())
    }

    /// Whether `n` is a number of the table.
    pub(crate) fn in_range(&self, n: u32) -> bool {
        (self.min..=self.max).contains(&n)
    }

    /// The number the next `insert` tries first.
    pub(crate) fn next(&self) -> u32 {
        *self.next.lock()
    }

    /// Sets the number the next `insert` tries first. `EINVAL` if out of
    /// range.
    pub(crate) fn set_next(&self, n: u32) -> Result {
        if n < self.min || n > self.max {
            return Err(EINVAL);
        }
        *self.next.lock() = n;
        Ok(())
    }

    /// Removes and returns the object numbered `n` (to be dropped by the
    /// caller, outside the lock).
    pub(crate) fn remove(&self, n: u32) -> Option<T> {
        let node = self.tree.lock().remove_node(&n);
        node.map(|n| n.to_key_value().1)
    }

    /// The object with the lowest number at or after `n`, with its number:
    /// a walk over the table takes the lock one step at a time.
    pub(crate) fn next_from(&self, n: u32) -> Option<(u32, T)>
    where
        T: Clone,
    {
        let tree = self.tree.lock();
        let cursor = tree.cursor_lower_bound(&n)?;
        let (k, v) = cursor.current();
        Some((*k, v.clone()))
    }

    /// Runs `f` on the object numbered `n`, if there is one, under the
    /// table's lock (so `f` must not sleep, nor drop what the table holds;
    /// clone what it needs).
    pub(crate) fn with<R>(&self, n: u32, f: impl FnOnce(&T) -> R) -> Option<R> {
        let tree = self.tree.lock();
        tree.get(&n).map(f)
    }
}
