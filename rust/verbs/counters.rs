// SPDX-License-Identifier: GPL-2.0

//! The device's hardware counters, as `rdma statistic show link DEV/1`
//! shows them: the C rxe's (rxe_hw_counters.c), in its order and with its
//! names, so that tools read either driver alike, followed by rxe-rs's own.
//!
//! Counters only go up; any context may bump them (they are atomics).

use kernel::{
    prelude::*,
    sync::atomic::{Atomic, Relaxed},
};

use crate::{bindings, verbs::device::RxeDev};

/// One counter. The first 17 are the C rxe's `enum rxe_counters`.
// The data path (queue pairs) counts most of them.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Counter {
    /// Packets handed to the IP stack (`sent_pkts`).
    SentPkts,
    /// Packets accepted for a queue pair (`rcvd_pkts`).
    RcvdPkts,
    /// Duplicate requests (`duplicate_request`).
    DupReq,
    /// Requests out of sequence (`out_of_seq_request`).
    OutOfSeqReq,
    /// RNR NAKs received (`rcvd_rnr_err`).
    RcvRnr,
    /// RNR NAKs sent (`send_rnr_err`).
    SndRnr,
    /// Sequence error NAKs received (`rcvd_seq_err`).
    RcvSeqErr,
    /// Response packets handed on to the completer (`ack_deferred`): as
    /// the C rxe counts its `RXE_CNT_SENDER_SCHED`, every response that
    /// reaches a QP (here they all wait for the QP's runner).
    SenderSched,
    /// Transport retries exhausted (`retry_exceeded_err`).
    RetryExceeded,
    /// RNR retries exhausted (`retry_rnr_exceeded_err`).
    RnrRetryExceeded,
    /// Completer retries (`completer_retry_err`).
    CompRetry,
    /// Packets the IP stack refused (`send_err`).
    SendErr,
    /// Times the port went down (`link_downed`).
    LinkDowned,
    /// Sends completed (`rdma_sends`).
    RdmaSend,
    /// Receives completed (`rdma_recvs`).
    RdmaRecv,
    /// Bytes handed to the IP stack, IP and UDP headers included
    /// (`sent_bytes`).
    SentBytes,
    /// Bytes of the packets counted by `rcvd_pkts`, IP and UDP headers
    /// included (`rcvd_bytes`).
    RcvdBytes,
    /// rxe-rs: packets dropped because they are not valid RoCEv2 packets
    /// (`rcvd_malformed`): too short for their headers, an IP header rxe
    /// does not take (IPv4 options, IPv6 extension headers), an unknown
    /// opcode, a transport header version other than 0, a pad count or
    /// length that does not fit the opcode, or a wrong ICRC.
    RcvdMalformed,
    /// rxe-rs: valid packets dropped because no queue pair of the device
    /// has their destination QP number (`rcvd_unknown_qp`).
    RcvdUnknownQp,
    /// rxe-rs: valid requests their queue pair dropped without an answer
    /// (`rcvd_qp_dropped`): the QP is not ready to receive, the packet is
    /// not from a connected QP's peer, the opcode is of another transport,
    /// the Q_Key is wrong, a UD datagram found no receive WQE, a UC
    /// request was refused, or the request could not be carried out for
    /// want of memory.
    RcvdQpDropped,
    /// rxe-rs: stopped NAKs received: a peer being moved paused one of our
    /// QPs (`rcvd_stopped`, docs/migration.md).
    RcvStopped,
    /// rxe-rs: resumes taken from moved peers (`rcvd_resume`).
    RcvResume,
    /// rxe-rs: resumes sent by our moved QPs (`sent_resume`).
    SentResume,
}

/// How many counters there are.
pub(crate) const NUM_COUNTERS: usize = Counter::SentResume as usize + 1;

/// The names, by counter.
const NAMES: [&CStr; NUM_COUNTERS] = [
    c"sent_pkts",
    c"rcvd_pkts",
    c"duplicate_request",
    c"out_of_seq_request",
    c"rcvd_rnr_err",
    c"send_rnr_err",
    c"rcvd_seq_err",
    c"ack_deferred",
    c"retry_exceeded_err",
    c"retry_rnr_exceeded_err",
    c"completer_retry_err",
    c"send_err",
    c"link_downed",
    c"rdma_sends",
    c"rdma_recvs",
    c"sent_bytes",
    c"rcvd_bytes",
    c"rcvd_malformed",
    c"rcvd_unknown_qp",
    c"rcvd_qp_dropped",
    c"rcvd_stopped",
    c"rcvd_resume",
    c"sent_resume",
];

/// The counter descriptions the RDMA core shows: static, as the core keeps
/// a pointer to them in every stats struct it allocates.
struct Descs([bindings::rdma_stat_desc; NUM_COUNTERS]);

// SAFETY: The descriptions are read-only; their name pointers point to
// static strings.
unsafe impl Sync for Descs {}

// `CStrExt::as_char_ptr` is not `const`; the cast gives the kernel's `char`.
#[allow(clippy::disallowed_methods)]
static DESCS: Descs = {
    let mut d = [bindings::rdma_stat_desc {
        name: core::ptr::null(),
        flags: 0,
        priv_: core::ptr::null(),
    }; NUM_COUNTERS];
    let mut i = 0;
    while i < NUM_COUNTERS {
        d[i].name = NAMES[i].as_ptr().cast();
        i += 1;
    }
    Descs(d)
};

/// A device's counters.
pub(crate) struct Counters([Atomic<u64>; NUM_COUNTERS]);

impl Counters {
    /// All counters at zero.
    pub(crate) const fn new() -> Self {
        Counters([const { Atomic::new(0) }; NUM_COUNTERS])
    }

    /// The cell of counter `c`. Every `Counter` is below `NUM_COUNTERS`,
    /// so the index is in bounds.
    fn cell(&self, c: Counter) -> &Atomic<u64> {
        &self.0[c as usize]
    }

    /// Counts one.
    pub(crate) fn inc(&self, c: Counter) {
        self.add(c, 1);
    }

    /// Counts `n`.
    pub(crate) fn add(&self, c: Counter, n: u64) {
        self.cell(c).add(n, Relaxed);
    }

    /// The values, in counter order.
    fn values(&self) -> impl Iterator<Item = u64> + '_ {
        self.0.iter().map(|c| c.load(Relaxed))
    }
}

/// The `alloc_hw_port_stats` callback: a stats struct for our counters.
///
/// # Safety
///
/// Called by the RDMA core for one of our devices.
pub(crate) unsafe extern "C" fn alloc_hw_port_stats(
    _ibdev: *mut bindings::ib_device,
    _port_num: u32,
) -> *mut bindings::rdma_hw_stats {
    // SAFETY: `DESCS` is static and holds `NUM_COUNTERS` descriptions.
    unsafe {
        bindings::rdma_alloc_hw_stats_struct(
            DESCS.0.as_ptr(),
            NUM_COUNTERS as i32,
            bindings::RDMA_HW_STATS_DEFAULT_LIFESPAN as kernel::ffi::c_ulong,
        )
    }
}

/// The `get_hw_stats` callback: fills in every counter (whatever `index`
/// asks for, as rxe does) and returns how many.
///
/// # Safety
///
/// Called by the RDMA core for one of our devices with a stats struct from
/// [`alloc_hw_port_stats`] (or NULL), under the struct's lock.
pub(crate) unsafe extern "C" fn get_hw_stats(
    ibdev: *mut bindings::ib_device,
    stats: *mut bindings::rdma_hw_stats,
    port: u32,
    _index: kernel::ffi::c_int,
) -> kernel::ffi::c_int {
    if port == 0 || stats.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: The core calls this for our registered device.
    let dev = unsafe { RxeDev::from_ibdev(ibdev) };
    // SAFETY: `stats` is a live struct the core allocated with our
    // descriptions; the core holds its lock, so we may write its values.
    let stats = unsafe { &mut *stats };
    let n = usize::try_from(stats.num_counters)
        .unwrap_or(0)
        .min(NUM_COUNTERS);
    // SAFETY: The struct was allocated with `num_counters` values after it.
    let values = unsafe { stats.value.as_mut_slice(n) };
    for (v, c) in values.iter_mut().zip(dev.counters().values()) {
        *v = c;
    }
    n as kernel::ffi::c_int
}
