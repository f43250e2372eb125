// SPDX-License-Identifier: GPL-2.0

//! What a QP's engines keep between packets, under the QP's lock: the
//! requester's, completer's and responder's state, the copies of the send
//! WQEs in flight, and what a state change does to them.

use kernel::{
    prelude::*,
    sync::atomic::Relaxed,
    time::{Instant, Monotonic},
};

use crate::{
    bindings,
    net::tx::{Tx, Via},
    proto::{msgseq::MsgPos, mtu::IbMtu},
    verbs::{av::Av, device::RxeDev, mr::MrRef, queue::Queue},
};

use super::{Ctx, QpState};

/// A work queue: its ring and limits.
pub(crate) struct WorkQueue {
    pub(crate) ring: Queue,
    pub(crate) max_sge: u32,
    pub(crate) max_inline: u32,
}

/// What the requester and completer keep of a send WQE once it started:
/// the WQE's bytes are copied out of the user-writable ring into the
/// [`Shadow`], and everything after reads the copy.
#[derive(Clone, Copy, Default)]
pub(crate) struct WqeMeta {
    /// The copy in the shadow is this WQE's.
    pub(crate) started: bool,
    /// All its packets went out at least once (`last_psn` is valid).
    pub(crate) sent: bool,
    pub(crate) first_psn: u32,
    pub(crate) last_psn: u32,
    /// Total payload length (or read/atomic length).
    pub(crate) len: u32,
}

/// Requester state.
#[derive(Default)]
pub(crate) struct ReqState {
    /// The next PSN to send.
    pub(crate) psn: u32,
    /// The ring index of the WQE being sent (or the next to start).
    pub(crate) index: u32,
    /// The PSN after the highest ever sent: after a rewind, `psn` is back
    /// behind it while acknowledgements up to it are still valid.
    pub(crate) max_psn: u32,
    /// Bytes of that WQE already sent.
    pub(crate) off: u32,
    /// Packets sent since the last that asked for an ACK.
    pub(crate) noack: u32,
    /// When the last packet asking for an ACK went out: its answer is not
    /// late before a timeout from then, however long ago the timer was
    /// set (a long message takes a while to send on a slow link).
    pub(crate) asked_at: Option<Instant<Monotonic>>,
    /// Reads and atomics started and not yet completed: at most
    /// `max_rd_atomic`, as many as the responder keeps for replays.
    pub(crate) rd_atomic: u32,
}

/// Completer state (RC).
#[derive(Default)]
pub(crate) struct CompState {
    /// The oldest PSN not yet acknowledged.
    pub(crate) psn: u32,
    /// Retries left for the current timeout / RNR episode.
    pub(crate) retry_left: u8,
    pub(crate) rnr_left: u8,
    /// `psn` when the retransmit timer was last set: no progress since if
    /// it still is when the timer fires.
    pub(crate) timer_psn: u32,
    /// Waiting out an RNR NAK's timer before sending again.
    pub(crate) rnr_wait: bool,
    /// When the last response packet came, stale ones included: while
    /// they stream in, the link is busy (with what a rewind resent), not
    /// lost, and the retransmit timer waits for a whole timeout of quiet.
    pub(crate) last_rx: Option<Instant<Monotonic>>,
    /// A gap in read responses made the requester send again: not again
    /// until the completer makes progress.
    pub(crate) gap_retried: bool,
}

/// A receive in progress: the WQE being filled.
pub(crate) struct RecvCtx {
    pub(crate) slot: KVec<u8>,
    /// Bytes placed so far.
    pub(crate) off: u32,
}

/// An RDMA write in progress.
pub(crate) struct WriteCtx {
    pub(crate) mr: MrRef,
    pub(crate) va: u64,
    pub(crate) resid: u32,
}

/// A read or atomic the responder answered, kept to answer a duplicate.
#[derive(Clone, Copy, Default)]
pub(crate) struct RdRes {
    pub(crate) valid: bool,
    pub(crate) atomic: bool,
    pub(crate) first_psn: u32,
    pub(crate) last_psn: u32,
    pub(crate) va: u64,
    pub(crate) rkey: u32,
    pub(crate) len: u32,
    /// The original value an atomic returned.
    pub(crate) orig: u64,
}

/// A read being answered: what, and the PSN of the next response packet.
#[derive(Clone, Copy)]
pub(crate) struct ReadOut {
    pub(crate) res: RdRes,
    pub(crate) next: u32,
}

/// Responder state.
#[derive(Default)]
pub(crate) struct RespState {
    /// The next expected PSN.
    pub(crate) psn: u32,
    /// Messages completed (the AETH's MSN).
    pub(crate) msn: u32,
    pub(crate) recv: Option<RecvCtx>,
    /// The buffer of the last completed receive, kept for the next one so
    /// that taking a receive WQE does not allocate.
    pub(crate) spare: KVec<u8>,
    pub(crate) write: Option<WriteCtx>,
    /// The length of the write in progress (a write with immediate reports
    /// it in its receive completion).
    pub(crate) write_total: u32,
    /// A sequence NAK went out for the current gap (send only one).
    pub(crate) nak_sent: bool,
    /// UC: drop packets until the next first/only.
    pub(crate) drop_msg: bool,
    /// Where the requests stand in the opcode sequence (RC, UC).
    pub(crate) pos: MsgPos,
    /// The read being answered, packet after packet, by the runner.
    pub(crate) out: Option<ReadOut>,
    /// Answered reads and atomics, a ring of `max_dest_rd_atomic`.
    pub(crate) res: KVec<RdRes>,
    pub(crate) res_next: usize,
    /// A restored QP's RDMA write in progress, until the restore ends and
    /// its MR can be found: rkey, address, bytes left.
    pub(crate) pending_write: Option<(u32, u64, u32)>,
}

/// How many packets of a connection say that rxe-rs speaks the migration
/// extension, at most, unanswered: a peer that has not answered by then
/// (the C rxe, hardware) never will, and the connection's traffic goes on
/// bit for bit as rxe's.
const EXT_ADVERTS: u8 = 16;

/// What a connected QP knows of its peer's support of the migration
/// extension, and what it still tells the peer (docs/migration.md,
/// "Advertisement"). Both sides say "I speak it" until the other says "I
/// heard"; after the first round trip, packets carry neither.
pub(crate) struct Ext {
    /// The peer speaks it: it may be sent stopped NAKs and resumes.
    pub(crate) peer: bool,
    /// The peer heard that we speak it.
    heard: bool,
    /// The peer's last packet said it speaks it: it has not heard us yet.
    ack_due: bool,
    /// Packets left that may say that we speak it.
    left: core::cell::Cell<u8>,
}

impl Default for Ext {
    fn default() -> Self {
        Ext {
            peer: false,
            heard: false,
            ack_due: false,
            left: core::cell::Cell::new(EXT_ADVERTS),
        }
    }
}

impl Ext {
    /// A restored connection's: the peer learned long ago whether we speak
    /// the extension, and `peer` says whether it does.
    pub(crate) fn restored(peer: bool) -> Self {
        Ext {
            peer,
            heard: true,
            ack_due: false,
            left: core::cell::Cell::new(0),
        }
    }

    /// The bits of BTH byte 4 for the next packet to the peer.
    pub(crate) fn bits(&self) -> u8 {
        use crate::proto::bth::{RESV6_RXE_RS_EXT, RESV6_RXE_RS_EXT_HEARD};
        let mut b = 0;
        let left = self.left.get();
        if !self.heard && left > 0 {
            self.left.set(left - 1);
            b |= RESV6_RXE_RS_EXT;
        }
        if self.ack_due {
            b |= RESV6_RXE_RS_EXT_HEARD;
        }
        b
    }

    /// Takes note of the bits of a packet from the peer.
    pub(crate) fn heard(&mut self, bits: u8) {
        use crate::proto::bth::{RESV6_RXE_RS_EXT, RESV6_RXE_RS_EXT_HEARD};
        self.ack_due = bits & RESV6_RXE_RS_EXT != 0;
        self.peer |= self.ack_due;
        self.heard |= bits & RESV6_RXE_RS_EXT_HEARD != 0;
    }
}

/// What `modify_qp` changes and the protocol engines read and write, under
/// one lock: the work of a QP is serialized.
pub(crate) struct QpCore {
    /// The state: what the engines go by.
    pub(crate) state: QpState,
    /// The attributes as last set, but for the state (`state`).
    pub(crate) attr: bindings::ib_qp_attr,
    /// The primary path, once set.
    pub(crate) av: Option<Av>,
    /// Set by `destroy_qp`: the device, CQs and rings may be gone.
    pub(crate) destroyed: bool,
    pub(crate) sq: WorkQueue,
    pub(crate) rq: WorkQueue,
    /// Copies of the started send WQEs, and what the engines keep of them.
    pub(crate) shadow: Shadow,
    pub(crate) req: ReqState,
    pub(crate) comp: CompState,
    pub(crate) resp: RespState,
    /// How the QP's packets leave: the kept route (RC and UC: all take
    /// the primary path), and the run they go out for.
    pub(crate) tx: Tx,
    /// The migration extension's advertisement (RC).
    pub(crate) ext: Ext,
    /// Resumed after a stop: the resume goes out again on the timer until
    /// a packet from the peer comes.
    pub(crate) resume_due: bool,
}

impl QpCore {
    /// How the requester sends: with the kept route for a QP whose packets
    /// all take one path (RC, UC), as datagrams otherwise.
    pub(crate) fn requests(&self, qp_type: u32) -> Option<Via<'_>> {
        Some(match qp_type {
            bindings::IB_QPT_RC | bindings::IB_QPT_UC => Via::Connected(&self.tx),
            _ => Via::Datagram(&self.tx),
        })
    }

    /// How the responder answers (RC).
    pub(crate) fn answers(&self) -> Option<Via<'_>> {
        Some(Via::Connected(&self.tx))
    }

    /// The path MTU in bytes (UD: the port's).
    pub(crate) fn mtu(&self, dev: &RxeDev) -> u32 {
        let m = if self.attr.path_mtu == 0 {
            dev.active_mtu()
        } else {
            self.attr.path_mtu
        };
        IbMtu::from_raw(m).map_or(256, IbMtu::bytes)
    }

    /// The shadow copy of send WQE `i` (one in flight).
    pub(crate) fn shadow_slot(&self, i: u32) -> &[u8] {
        self.shadow.wqe(i)
    }

    /// The requester/completer record of send WQE `i` (one in flight).
    pub(crate) fn meta(&mut self, i: u32) -> Option<&mut WqeMeta> {
        self.shadow.meta(i)
    }

    /// Whether send WQE `i` may start: the WQEs from the oldest not yet
    /// completed to `i` fit in the shadow.
    pub(crate) fn fits_in_flight(&self, i: u32) -> bool {
        self.sq.ring.offset_of(i) < self.shadow.slots()
    }
}

/// The most send WQEs a QP has in flight (started, not completed) at once.
/// An RC QP has at most 128 PSNs unacknowledged, UC and UD WQEs complete
/// once sent: only chains of local operations behind an unacknowledged
/// WQE come near it, and they wait for room. The memory a QP takes beyond
/// its rings so stays small however long its send queue.
const SHADOW_SLOTS: u32 = 1024;

/// Copies of the send WQEs in flight, and what the engines keep of each:
/// as many slots as the ring has, up to [`SHADOW_SLOTS`]. The WQEs in
/// flight are consecutive in the ring, from its oldest not completed on,
/// and never more than there are slots ([`QpCore::fits_in_flight`]), so
/// WQE `i` has slot `i` modulo their number to itself.
///
/// INVARIANT: `bytes` holds `mask + 1` slots of `elem` bytes, `meta`
/// `mask + 1` records; `mask + 1` is a power of two.
pub(crate) struct Shadow {
    bytes: KVVec<u8>,
    meta: KVVec<WqeMeta>,
    elem: usize,
    mask: u32,
}

impl Shadow {
    /// A shadow for the send WQEs of `ring`.
    pub(crate) fn new(ring: &Queue) -> Result<Self> {
        // Both powers of two: the ring's slots, and the cap.
        let slots = ring.capacity().saturating_add(1).min(SHADOW_SLOTS);
        let elem = ring.elem_size();
        let n = (slots as usize).checked_mul(elem).ok_or(EINVAL)?;
        let mut bytes = KVVec::new();
        bytes.resize(n, 0u8, GFP_KERNEL)?;
        let mut meta = KVVec::new();
        meta.resize(slots as usize, WqeMeta::default(), GFP_KERNEL)?;
        // INVARIANT: `slots` of each, a power of two.
        Ok(Shadow {
            bytes,
            meta,
            elem,
            mask: slots - 1,
        })
    }

    /// How many WQEs may be in flight at once.
    pub(crate) fn slots(&self) -> u32 {
        self.mask + 1
    }

    fn at(&self, i: u32) -> usize {
        (i & self.mask) as usize * self.elem
    }

    /// The copy of WQE `i`.
    pub(crate) fn wqe(&self, i: u32) -> &[u8] {
        let at = self.at(i);
        self.bytes.get(at..at + self.elem).unwrap_or_default()
    }

    /// The copy of WQE `i`, to fill.
    pub(crate) fn wqe_mut(&mut self, i: u32) -> Option<&mut [u8]> {
        let at = self.at(i);
        self.bytes.get_mut(at..at + self.elem)
    }

    /// The record of WQE `i`.
    pub(crate) fn meta(&mut self, i: u32) -> Option<&mut WqeMeta> {
        self.meta.get_mut((i & self.mask) as usize)
    }

    /// Forgets every record (a QP reset).
    fn clear(&mut self) {
        for m in self.meta.iter_mut() {
            *m = WqeMeta::default();
        }
    }
}

/// What a state change does to the engines besides recording the state:
/// a QP back in RESET forgets its protocol state, one in error flushes its
/// queues, and the requester has a look at a QP that may send (RTS) or
/// must see where its drain stands (SQD). A move to SQD while draining
/// already (to change other attributes) keeps the drain as it is.
pub(crate) fn enter(cx: Ctx<'_>, core: &mut QpCore, to: QpState) {
    let from = core.state;
    if core::mem::discriminant(&from) == core::mem::discriminant(&to) {
        return;
    }
    set_state(cx, core, to);
    match to {
        QpState::Reset => core.reset(),
        QpState::Err => crate::transport::comp::flush(cx, core),
        QpState::Rts(_) | QpState::Sqd(..) => cx.qp().schedule(),
        QpState::Init | QpState::Rtr(_) | QpState::Sqe => {}
    }
}

/// Records a new state, and what a doorbell rung in it meets (read without
/// the lock: see [`Qp::on_post_send`]).
pub(crate) fn set_state(cx: Ctx<'_>, core: &mut QpCore, to: QpState) {
    core.state = to;
    cx.qp().posting.store(to.on_post_send() as u32, Relaxed);
}

impl QpCore {
    /// Back to the reset state: the queues are emptied, the protocol state
    /// and the path forgotten.
    fn reset(&mut self) {
        self.av = None;
        self.ext = Ext::default();
        self.resume_due = false;
        self.sq.ring.discard_all();
        self.rq.ring.discard_all();
        self.shadow.clear();
        self.req = ReqState {
            index: self.sq.ring.index(),
            ..ReqState::default()
        };
        self.comp = CompState::default();
        let res = core::mem::take(&mut self.resp.res);
        let spare = core::mem::take(&mut self.resp.spare);
        self.resp = RespState {
            res,
            spare,
            ..RespState::default()
        };
        for r in self.resp.res.iter_mut() {
            *r = RdRes::default();
        }
    }
}
