// SPDX-License-Identifier: GPL-2.0

//! The verbs layer: the device the RDMA core sees and the objects user
//! space and kernel consumers create on it (contexts, PDs, CQs, MRs, AHs,
//! SRQs, QPs), with the rings they share and the numbers they are found
//! by. It calls down into the transport (a QP's engines) and is called by
//! the RDMA core through the ops table.

use kernel::prelude::*;

pub(crate) mod ah;
pub(crate) mod av;
pub(crate) mod counters;
pub(crate) mod cq;
pub(crate) mod device;
pub(crate) mod mmap;
pub(crate) mod mr;
pub(crate) mod ops;
pub(crate) mod pool;
pub(crate) mod post;
pub(crate) mod qp;
pub(crate) mod queue;
pub(crate) mod restrack;
pub(crate) mod srq;
pub(crate) mod ucontext;
pub(crate) mod udata;

/// Turns a `Result` into the errno convention of the ops.
pub(crate) fn errno(r: Result) -> kernel::ffi::c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}
