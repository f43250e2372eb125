// SPDX-License-Identifier: GPL-2.0

//! Object accounting: how many objects of one kind a device holds, against
//! the limit it advertises. (Index allocation for QPs, MRs and SRQs, with
//! settable next values for restore, joins this file with the data path.)

use kernel::{
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
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
