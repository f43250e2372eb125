// SPDX-License-Identifier: GPL-2.0

//! The responder: carries out request packets (sends into receive WQEs,
//! RDMA writes, reads and atomics into and out of MRs), acknowledges them,
//! and answers duplicates the way the IBTA says.

use kernel::prelude::*;

use crate::{
    bindings,
    proto::{
        aeth::{Aeth, NakCode, Syndrome},
        bth::{Bth, DEFAULT_PKEY},
        headers::Atmack,
        msgseq::{self, MsgPos, SeqBreak},
        opcode::{self as opc, OpcodeInfo},
        packet::{Headers, Packet as Parsed},
        psn,
        wqe::RecvWqe,
    },
    transport::{
        qp::{Ctx, QpCore, RdRes, ReadOut, RecvCtx, WriteCtx},
        req,
    },
    verbs::{
        counters::Counter,
        cq::Completion,
        device::RxeDev,
        mr::{self, KeyKind},
    },
};

/// What the network layer knows of a packet besides its bytes.
pub(crate) struct PktMeta<'a> {
    /// The IP header (20 bytes of IPv4 or 40 of IPv6), for a UD receive's
    /// GRH.
    pub(crate) ip_hdr: &'a [u8],
    /// The IP source and destination addresses.
    pub(crate) src: crate::proto::ip::IpAddr,
    pub(crate) dst: crate::proto::ip::IpAddr,
}

impl PktMeta<'_> {
    /// Whether the packet came over IPv6.
    pub(crate) fn ipv6(&self) -> bool {
        self.src.version() == crate::proto::ip::IpVersion::V6
    }
}

/// Why a request was refused: the NAK it earns.
enum Refusal {
    /// Nothing to receive into: RNR NAK (RC) or drop.
    Rnr,
    Nak(NakCode),
    /// Drop silently.
    Drop,
}

/// Handles a request packet.
pub(crate) fn request(cx: Ctx<'_>, core: &mut QpCore, p: &Parsed<'_>, meta: &PktMeta<'_>) {
    let (dev, qp) = (cx.dev(), cx.qp());
    if core.state.stopped() {
        // Being moved: a peer that knows tells its requester to hold
        // (docs/migration.md); another retransmits after the move.
        if qp.qp_type == bindings::IB_QPT_RC && core.ext.peer {
            let _ = nak(cx, core, core.resp.psn, NakCode::Stopped);
        }
        return;
    }
    if !core.state.accepts_requests() {
        dev.counters().inc(Counter::RcvdQpDropped);
        return;
    }
    let info = *p.info();
    match qp.qp_type {
        bindings::IB_QPT_RC => rc_request(cx, core, p, &info, meta),
        bindings::IB_QPT_UC => uc_request(cx, core, p, &info, meta),
        _ => ud_request(cx, core, p, meta),
    }
}

/// The opcode belongs to the QP's transport.
fn transport_ok(qp_type: u32, opcode: u8) -> bool {
    let t = opcode & 0xe0;
    match qp_type {
        bindings::IB_QPT_RC => t == 0x00,
        bindings::IB_QPT_UC => t == 0x20,
        _ => t == 0x60,
    }
}

fn rc_request(
    cx: Ctx<'_>,
    core: &mut QpCore,
    p: &Parsed<'_>,
    info: &OpcodeInfo,
    meta: &PktMeta<'_>,
) {
    let (dev, qp) = (cx.dev(), cx.qp());
    if !transport_ok(qp.qp_type, p.opcode()) {
        dev.counters().inc(Counter::RcvdQpDropped);
        return;
    }
    let psn = p.bth().psn;
    let cmp = psn::psn_compare(psn, core.resp.psn);
    if cmp > 0 {
        // A gap: ask for the missing packets, once per gap.
        if !core.resp.nak_sent {
            core.resp.nak_sent = true;
            dev.counters().inc(Counter::OutOfSeqReq);
            let _ = nak(cx, core, core.resp.psn, NakCode::PsnSeqError);
        }
        return;
    }
    if cmp < 0 {
        dev.counters().inc(Counter::DupReq);
        duplicate(cx, core, p, info);
        return;
    }
    core.resp.nak_sent = false;
    let done = match core.resp.pos.check(info) {
        Ok(()) => execute(cx, core, p, info, meta),
        // A break in the opcode sequence is an invalid request (class C).
        Err(_) => Err(Refusal::Nak(NakCode::InvalidRequest)),
    };
    match done {
        Ok(()) => {}
        Err(Refusal::Rnr) => {
            dev.counters().inc(Counter::SndRnr);
            let timer = core.attr.min_rnr_timer & 0x1f;
            let syn = Syndrome::RnrNak { timer }.to_byte();
            let _ = req::send_ack(cx, core, psn, syn);
        }
        Err(Refusal::Nak(code)) => {
            // An rkey violation is an access error event for the QP's
            // owner too (C9-222.1), unless a receive WQE can carry it: a
            // write with immediate's.
            if code == NakCode::RemoteAccessError && p.immdt().is_none() {
                cx.event(bindings::IB_EVENT_QP_ACCESS_ERR);
            }
            fail_recv_for(cx, core, code);
            let _ = nak(cx, core, psn, code);
            // Access and invalid-request errors end the connection.
            crate::transport::comp::to_error(cx, core);
        }
        Err(Refusal::Drop) => dev.counters().inc(Counter::RcvdQpDropped),
    }
}

/// Sends a NAK.
fn nak(cx: Ctx<'_>, core: &QpCore, psn: u32, code: NakCode) -> Result {
    req::send_ack(cx, core, psn, Syndrome::Nak(code).to_byte())
}

/// Completes the receive a refused request was being placed into (for a
/// write with immediate whose rkey is refused, the one it would have
/// consumed) with the status rxe gives it for the NAK: a remote access
/// error, a remote invalid request, or, for a remote operational error (the
/// receive's buffers could not take the data), a local QP operation error.
fn fail_recv_for(cx: Ctx<'_>, core: &mut QpCore, code: NakCode) {
    let status = match code {
        NakCode::RemoteAccessError => bindings::IB_WC_REM_ACCESS_ERR,
        NakCode::InvalidRequest => bindings::IB_WC_REM_INV_REQ_ERR,
        _ => bindings::IB_WC_LOC_QP_OP_ERR,
    };
    fail_recv(cx, core, status);
}

fn uc_request(
    cx: Ctx<'_>,
    core: &mut QpCore,
    p: &Parsed<'_>,
    info: &OpcodeInfo,
    meta: &PktMeta<'_>,
) {
    let (dev, qp) = (cx.dev(), cx.qp());
    if !transport_ok(qp.qp_type, p.opcode()) {
        dev.counters().inc(Counter::RcvdQpDropped);
        return;
    }
    let psn = p.bth().psn;
    if psn != core.resp.psn || core.resp.drop_msg {
        // A lost packet spoils its message: drop until a new one starts.
        if !info.is_first() {
            core.resp.drop_msg = true;
            core.resp.psn = psn::psn_next(psn);
            return;
        }
        abandon(cx, core);
    }
    core.resp.drop_msg = false;
    match core.resp.pos.check(info) {
        Ok(()) => {}
        // The message in progress lost its end; this packet starts anew.
        Err(SeqBreak::MissingLast) if info.is_first() => abandon(cx, core),
        // A middle or last packet of no message begun, or of another than
        // the one in progress: dropped, with the rest of its message.
        Err(_) => {
            abandon(cx, core);
            dev.counters().inc(Counter::RcvdQpDropped);
            core.resp.drop_msg = true;
            core.resp.psn = psn::psn_next(psn);
            return;
        }
    }
    let Err(refusal) = execute(cx, core, p, info, meta) else {
        return;
    };
    // UC has no NAKs. As in rxe: a receive that cannot take the data (too
    // short, a bad lkey: a malformed WQE, class A) completes in error and
    // the QP goes to the error state; for other refusals the message is
    // dropped, and its receive WQE stays at the head of the QP's own ring
    // for the next message, while one an SRQ gave completes in error, as
    // it cannot go back.
    let code = match refusal {
        Refusal::Nak(code) => code,
        Refusal::Rnr | Refusal::Drop => NakCode::InvalidRequest,
    };
    if code == NakCode::RemoteOpError || qp.srq.is_some() {
        fail_recv_for(cx, core, code);
    }
    if code == NakCode::RemoteOpError {
        crate::transport::comp::to_error(cx, core);
        return;
    }
    dev.counters().inc(Counter::RcvdQpDropped);
    core.resp.drop_msg = !info.is_last();
    abandon(cx, core);
    core.resp.psn = psn::psn_next(psn);
}

/// Gives up the UC message in progress. Its receive, if from the QP's own
/// ring, stays there for the next message (class D1); one an SRQ gave
/// cannot go back and completes with a remote invalid request error (class
/// E), as in rxe. Unlike rxe, the packet that shows the message broken, if
/// it starts a new one, is carried out rather than dropped with its
/// message.
fn abandon(cx: Ctx<'_>, core: &mut QpCore) {
    let qp = cx.qp();
    if qp.srq.is_some() {
        fail_recv(cx, core, bindings::IB_WC_REM_INV_REQ_ERR);
    }
    core.resp.recv = None;
    core.resp.write = None;
    core.resp.pos = MsgPos::Between;
}

fn ud_request(cx: Ctx<'_>, core: &mut QpCore, p: &Parsed<'_>, meta: &PktMeta<'_>) {
    let (dev, qp) = (cx.dev(), cx.qp());
    if !transport_ok(qp.qp_type, p.opcode()) {
        dev.counters().inc(Counter::RcvdQpDropped);
        return;
    }
    let Some(deth) = p.deth() else { return };
    // The GSI QP takes the well-known qkey; others their own.
    let qkey = if qp.qp_type == bindings::IB_QPT_GSI {
        0x8001_0000
    } else {
        core.attr.qkey
    };
    if deth.qkey != qkey {
        // A wrong qkey is an access violation: dropped silently (IBTA).
        dev.counters().inc(Counter::RcvdQpDropped);
        return;
    }
    // A datagram the next receive cannot hold with its 40-byte GRH is
    // dropped, and the receive stays for the next one (class D), as rxe
    // does.
    if qp.srq.is_none() && !recv_holds(core, p.payload().len() + 40) {
        return;
    }
    let info = *p.info();
    core.resp.recv = None;
    match execute(cx, core, p, &info, meta) {
        Ok(()) => {}
        // Too big for the SRQ receive taken for it (class E): as rxe, that
        // receive completes with a remote invalid request error and the QP
        // goes on.
        Err(Refusal::Nak(NakCode::InvalidRequest)) => {
            fail_recv(cx, core, bindings::IB_WC_REM_INV_REQ_ERR);
        }
        Err(Refusal::Nak(code)) => {
            // The receive WQE taken could not hold the data (a bad lkey, an
            // SGE outside its MR): a malformed WQE, class A. As rxe, it
            // completes in error and the QP goes to the error state,
            // rather than vanish without a completion.
            fail_recv_for(cx, core, code);
            crate::transport::comp::to_error(cx, core);
        }
        // No receive WQE (RNR to RC), or no memory: the datagram is lost.
        Err(Refusal::Rnr | Refusal::Drop) => dev.counters().inc(Counter::RcvdQpDropped),
    }
}

/// Whether the receive WQE at the head of the QP's ring holds `len` bytes;
/// `true` if there is none to look at (taking it finds that out).
fn recv_holds(core: &mut QpCore, len: usize) -> bool {
    let mut slot = core::mem::take(&mut core.resp.spare);
    let holds = slot_sized(&mut slot, core.rq.ring.elem_size()).is_err()
        || !core.rq.ring.peek(&mut slot)
        || RecvWqe::new(&slot).is_none_or(|w| room(&w, core.rq.max_sge) >= len as u64);
    core.resp.spare = slot;
    holds
}

/// The bytes a receive WQE's SGEs (the first `max_sge` of them) hold.
fn room(w: &RecvWqe<'_>, max_sge: u32) -> u64 {
    (0..w.num_sge().min(max_sge))
        .filter_map(|k| w.sge(k))
        .map(|s| u64::from(s.length))
        .sum()
}

/// Makes `slot` `n` bytes long, for a receive WQE to be copied in whole
/// (the ring's and the SRQ's copies fill all `n`); allocates only when it
/// has never been that long (the buffers are kept and reused), and zeroes
/// only when its length changes.
fn slot_sized(slot: &mut KVec<u8>, n: usize) -> Result {
    if slot.len() == n {
        return Ok(());
    }
    slot.clear();
    slot.resize(n, 0u8, GFP_KERNEL).map_err(|_| ENOMEM)
}

/// Carries out a request in sequence.
fn execute(
    cx: Ctx<'_>,
    core: &mut QpCore,
    p: &Parsed<'_>,
    info: &OpcodeInfo,
    meta: &PktMeta<'_>,
) -> core::result::Result<(), Refusal> {
    let (dev, qp) = (cx.dev(), cx.qp());
    let psn = p.bth().psn;
    if info.consumes_rwr() {
        // The receive a send or a write with immediate consumes is taken
        // before anything is checked or written, as rxe does: with none
        // posted, the requester gets an RNR NAK first, and a request found
        // wrong completes the receive it took in error.
        core.resp.recv = Some(take_recv(cx, core)?);
    }
    if !matches!(qp.qp_type, bindings::IB_QPT_UD | bindings::IB_QPT_GSI)
        && !lengths_fit(dev, core, p, info)
    {
        return Err(Refusal::Nak(NakCode::InvalidRequest));
    }
    if info.is_read() {
        return read(cx, core, p);
    }
    if info.is_atomic() {
        return atomic(cx, core, p);
    }
    let ends = info.is_last() || info.is_only();
    if info.is_write() {
        write(cx, core, p, info)?;
    } else {
        send(cx, core, p, info, meta)?;
    }
    if info.is_write() && ends && p.immdt().is_some() {
        // Write with immediate completes its receive WQE.
        write_imm(cx, core, p, meta)?;
    }
    core.resp.psn = psn::psn_next(psn);
    core.resp.pos = MsgPos::after(info);
    if ends {
        core.resp.msn = psn::psn_next(core.resp.msn);
    }
    if qp.qp_type == bindings::IB_QPT_RC && p.bth().ack_req {
        let _ = req::send_ack(cx, core, psn, Syndrome::ack_unlimited().to_byte());
    }
    Ok(())
}

/// Whether a connected request carries the payload its place in the
/// message requires and asks for no more than a RETH may (C9-92, C9-94);
/// if not, it is an invalid request, as in rxe.
fn lengths_fit(dev: &RxeDev, core: &QpCore, p: &Parsed<'_>, info: &OpcodeInfo) -> bool {
    msgseq::payload_fits(info, p.payload().len(), core.mtu(dev))
        && p.reth().is_none_or(|r| r.len <= msgseq::MAX_DMA_LEN)
}

/// Takes the next receive WQE for a new message, from the QP's ring or
/// its SRQ.
///
/// A WQE of the QP's own ring stays at its head until the receive is
/// completed ([`consume_recv`]), as in rxe: a message dropped on the way
/// (UC) leaves it for the next one, and a flush completes it once.
///
/// INVARIANT (with [`consume_recv`]): while `core.resp.recv` holds a WQE of
/// the QP's own ring, that WQE is the ring's head.
fn take_recv(cx: Ctx<'_>, core: &mut QpCore) -> core::result::Result<RecvCtx, Refusal> {
    let qp = cx.qp();
    let n = match &qp.srq {
        Some(srq) => srq.slot_size(),
        None => core.rq.ring.elem_size(),
    };
    let mut slot = core::mem::take(&mut core.resp.spare);
    slot_sized(&mut slot, n).map_err(|_| Refusal::Drop)?;
    let got = match &qp.srq {
        Some(srq) => srq.take(&mut slot),
        None => core.rq.ring.peek(&mut slot),
    };
    if !got {
        core.resp.spare = slot;
        return Err(Refusal::Rnr);
    }
    Ok(RecvCtx { slot, off: 0 })
}

/// Takes the receive in progress for its completion; a WQE of the QP's
/// own ring leaves the ring now.
fn consume_recv(cx: Ctx<'_>, core: &mut QpCore) -> Option<RecvCtx> {
    let qp = cx.qp();
    let ctx = core.resp.recv.take()?;
    if qp.srq.is_none() {
        core.rq.ring.advance();
    }
    Some(ctx)
}

/// Places `data` at the current offset of the receive in progress.
fn place(cx: Ctx<'_>, core: &mut QpCore, data: &[u8]) -> core::result::Result<(), Refusal> {
    let (dev, qp) = (cx.dev(), cx.qp());
    let max_sge = match &qp.srq {
        Some(srq) => srq.max_sge(),
        None => core.rq.max_sge,
    };
    let Some(ctx) = core.resp.recv.as_mut() else {
        return Err(Refusal::Nak(NakCode::InvalidRequest));
    };
    // A message longer than the port takes is an invalid request (the
    // IBTA's length error), before any of this packet is placed: without
    // the bound, a peer's endless SEND would run the offset past 4 GiB.
    let end =
        msgseq::message_grows(ctx.off, data.len()).ok_or(Refusal::Nak(NakCode::InvalidRequest))?;
    let w = RecvWqe::new(&ctx.slot).ok_or(Refusal::Drop)?;
    let nsge = w.num_sge().min(max_sge);
    req::copy_sges(
        nsge,
        |k| w.sge(k),
        ctx.off,
        data.len(),
        |s, at, pos, n| {
            let mr = mr::lookup_local_write(dev, qp.pd, s.lkey)?;
            mr.write(
                s.addr.wrapping_add(at),
                data.get(pos..pos + n).ok_or(EINVAL)?,
            )
        },
    )
    // Data the receive cannot take, too much of it included, is a
    // malformed WQE to rxe (class A): a remote operational error.
    .map_err(|_| Refusal::Nak(NakCode::RemoteOpError))?;
    ctx.off = end;
    Ok(())
}

/// A send packet.
fn send(
    cx: Ctx<'_>,
    core: &mut QpCore,
    p: &Parsed<'_>,
    info: &OpcodeInfo,
    meta: &PktMeta<'_>,
) -> core::result::Result<(), Refusal> {
    let (dev, qp) = (cx.dev(), cx.qp());
    // A first packet's receive was taken by `execute`.
    if info.is_first() {
        if matches!(qp.qp_type, bindings::IB_QPT_UD | bindings::IB_QPT_GSI) {
            // A datagram too big for an SRQ's receive, found only once it
            // is taken (a QP's own receive was checked before): an invalid
            // request, which `ud_request` completes the receive with.
            if let Some(srq) = &qp.srq {
                let need = p.payload().len() as u64 + 40;
                let w = core.resp.recv.as_ref().and_then(|c| RecvWqe::new(&c.slot));
                if w.is_none_or(|w| room(&w, srq.max_sge()) < need) {
                    return Err(Refusal::Nak(NakCode::InvalidRequest));
                }
            }
            // UD receives start with the 40-byte GRH: IPv4 headers sit in
            // its last 20 bytes.
            let mut grh = [0u8; 40];
            let at = if meta.ipv6() { 0 } else { 20 };
            let n = meta.ip_hdr.len().min(40 - at);
            if let (Some(d), Some(s)) = (grh.get_mut(at..at + n), meta.ip_hdr.get(..n)) {
                d.copy_from_slice(s);
            }
            place(cx, core, &grh)?;
        }
    } else if core.resp.recv.is_none() {
        return Err(Refusal::Nak(NakCode::InvalidRequest));
    }
    place(cx, core, p.payload())?;
    if info.is_last() || info.is_only() {
        let mut wc_flags = 0;
        let mut ex = 0;
        if let Some(imm) = p.immdt() {
            wc_flags |= bindings::IB_WC_WITH_IMM;
            ex = imm.imm.to_be();
        }
        if let Some(ieth) = p.ieth() {
            // After the data is placed, as rxe does.
            if mr::invalidate(dev, qp.pd, ieth.rkey).is_err() {
                fail_recv(cx, core, bindings::IB_WC_REM_INV_REQ_ERR);
                return Err(Refusal::Nak(NakCode::InvalidRequest));
            }
            wc_flags |= bindings::IB_WC_WITH_INVALIDATE;
            ex = ieth.rkey;
        }
        let mut src_qp = 0;
        if let Some(d) = p.deth() {
            wc_flags |= bindings::IB_WC_GRH;
            src_qp = d.src_qpn;
        }
        complete_recv(
            cx,
            core,
            bindings::IB_WC_RECV,
            wc_flags,
            ex,
            src_qp,
            meta,
            p.bth().se,
        );
    }
    Ok(())
}

/// Completes the receive in progress.
#[allow(clippy::too_many_arguments)]
fn complete_recv(
    cx: Ctx<'_>,
    core: &mut QpCore,
    opcode: u32,
    wc_flags: u32,
    ex: u32,
    src_qp: u32,
    meta: &PktMeta<'_>,
    solicited: bool,
) {
    let (dev, qp) = (cx.dev(), cx.qp());
    let Some(ctx) = consume_recv(cx, core) else {
        return;
    };
    let wr_id = RecvWqe::new(&ctx.slot).map_or(0, |w| w.wr_id());
    let c = Completion {
        wr_id,
        status: bindings::IB_WC_SUCCESS,
        opcode,
        byte_len: ctx.off,
        ex,
        qp_num: qp.qpn,
        qp: qp.ibqp as usize,
        src_qp,
        wc_flags,
        port_num: 1,
        network_hdr_type: if meta.ipv6() {
            bindings::RDMA_NETWORK_IPV6 as u8
        } else {
            bindings::RDMA_NETWORK_IPV4 as u8
        },
        ..Completion::default()
    };
    core.resp.spare = ctx.slot;
    dev.counters().inc(Counter::RdmaRecv);
    let _ = cx.recv_cq().post(&c, solicited);
}

/// Completes the receive in progress, if any, with an error `status`: for
/// a refused request ([`fail_recv_for`]), or a send with invalidate whose
/// rkey could not be invalidated (only the current key of a
/// fast-registration MR of the QP's PD can be; rxe completes it so too and
/// moves the QP to the error state, and the caller also NAKs the request,
/// so the requester learns it failed).
fn fail_recv(cx: Ctx<'_>, core: &mut QpCore, status: u32) {
    let qp = cx.qp();
    let Some(ctx) = consume_recv(cx, core) else {
        return;
    };
    let c = Completion {
        wr_id: RecvWqe::new(&ctx.slot).map_or(0, |w| w.wr_id()),
        status,
        opcode: bindings::IB_WC_RECV,
        qp_num: qp.qpn,
        qp: qp.ibqp as usize,
        port_num: 1,
        ..Completion::default()
    };
    let _ = cx.recv_cq().post(&c, true);
}

/// A write with immediate's last packet: consumes a receive WQE and
/// completes it.
fn write_imm(
    cx: Ctx<'_>,
    core: &mut QpCore,
    p: &Parsed<'_>,
    meta: &PktMeta<'_>,
) -> core::result::Result<(), Refusal> {
    // Taken by `execute` before the write.
    let ctx = core.resp.recv.as_mut().ok_or(Refusal::Drop)?;
    ctx.off = core.resp.write_total;
    let imm = p.immdt().map_or(0, |i| i.imm.to_be());
    complete_recv(
        cx,
        core,
        bindings::IB_WC_RECV_RDMA_WITH_IMM,
        bindings::IB_WC_WITH_IMM,
        imm,
        0,
        meta,
        p.bth().se,
    );
    Ok(())
}

/// An RDMA write packet.
fn write(
    cx: Ctx<'_>,
    core: &mut QpCore,
    p: &Parsed<'_>,
    info: &OpcodeInfo,
) -> core::result::Result<(), Refusal> {
    let (dev, qp) = (cx.dev(), cx.qp());
    if info.is_first() || info.is_only() {
        let reth = p.reth().ok_or(Refusal::Drop)?;
        // An operation the QP does not enable is an invalid request (class
        // C), as rxe has it; the rkey's violations are access errors.
        if core.attr.qp_access_flags as u32 & bindings::IB_ACCESS_REMOTE_WRITE == 0 {
            return Err(Refusal::Nak(NakCode::InvalidRequest));
        }
        let ctx = if reth.len == 0 {
            None
        } else {
            let mr = mr::lookup(
                dev,
                qp.pd as *mut _,
                reth.rkey,
                KeyKind::Remote,
                bindings::IB_ACCESS_REMOTE_WRITE,
            )
            .map_err(|_| Refusal::Nak(NakCode::RemoteAccessError))?;
            mr.covers(reth.va, reth.len)
                .map_err(|_| Refusal::Nak(NakCode::RemoteAccessError))?;
            Some(WriteCtx {
                mr,
                va: reth.va,
                resid: reth.len,
            })
        };
        core.resp.write = ctx;
        core.resp.write_total = reth.len;
    }
    let data = p.payload();
    if data.is_empty() {
        return Ok(());
    }
    let Some(ctx) = core.resp.write.as_mut() else {
        return Err(Refusal::Nak(NakCode::InvalidRequest));
    };
    if data.len() as u64 > u64::from(ctx.resid) {
        return Err(Refusal::Nak(NakCode::InvalidRequest));
    }
    ctx.mr
        .write(ctx.va, data)
        .map_err(|_| Refusal::Nak(NakCode::RemoteAccessError))?;
    ctx.va = ctx.va.wrapping_add(data.len() as u64);
    ctx.resid -= data.len() as u32;
    if info.is_last() || info.is_only() {
        core.resp.write = None;
    }
    Ok(())
}

/// An RDMA read request: answered at once with response packets.
fn read(cx: Ctx<'_>, core: &mut QpCore, p: &Parsed<'_>) -> core::result::Result<(), Refusal> {
    let (dev, qp) = (cx.dev(), cx.qp());
    let reth = p.reth().ok_or(Refusal::Drop)?;
    if core.attr.qp_access_flags as u32 & bindings::IB_ACCESS_REMOTE_READ == 0 {
        return Err(Refusal::Nak(NakCode::InvalidRequest));
    }
    if core.resp.res.is_empty() {
        // max_dest_rd_atomic of 0: reads are not allowed.
        return Err(Refusal::Nak(NakCode::InvalidRequest));
    }
    if reth.len != 0 {
        mr::lookup(
            dev,
            qp.pd as *mut _,
            reth.rkey,
            KeyKind::Remote,
            bindings::IB_ACCESS_REMOTE_READ,
        )
        .and_then(|mr| mr.covers(reth.va, reth.len))
        .map_err(|_| Refusal::Nak(NakCode::RemoteAccessError))?;
    }
    let mtu = core.mtu(dev);
    let psn = p.bth().psn;
    let npkts = reth.len.div_ceil(mtu).max(1);
    let res = RdRes {
        valid: true,
        atomic: false,
        first_psn: psn,
        last_psn: psn::psn_add(psn, npkts - 1),
        va: reth.va,
        rkey: reth.rkey,
        len: reth.len,
        orig: 0,
    };
    remember(core, res);
    core.resp.msn = psn::psn_next(core.resp.msn);
    core.resp.psn = psn::psn_add(psn, npkts);
    // The responses go out from the runner's pass, a budget at a time
    // (`send_out`), before the next request is looked at.
    core.resp.out = Some(ReadOut { res, next: psn });
    Ok(())
}

/// Keeps an answered read or atomic for duplicates.
fn remember(core: &mut QpCore, res: RdRes) {
    let n = core.resp.res.len();
    if n == 0 {
        return;
    }
    let at = core.resp.res_next % n;
    if let Some(slot) = core.resp.res.get_mut(at) {
        *slot = res;
    }
    core.resp.res_next = (at + 1) % n;
}

/// Sends up to `budget` read response packets of `core.resp.out`, and
/// returns how many. The answer ends when its last packet is sent, or when
/// a packet cannot be made (the MR went away since, or no memory): the
/// requester then asks again, or the QP fails on its side.
pub(crate) fn send_out(cx: Ctx<'_>, core: &mut QpCore, budget: u32) -> u32 {
    let Some(out) = core.resp.out.take() else {
        return 0;
    };
    let res = out.res;
    let mtu = core.mtu(cx.dev());
    let npkts = res.len.div_ceil(mtu).max(1);
    let mut k = psn::psn_sub(out.next, res.first_psn);
    let mut sent = 0;
    while k < npkts && sent < budget {
        if send_read_response(cx, core, &res, k).is_err() {
            return sent;
        }
        k += 1;
        sent += 1;
    }
    if k < npkts {
        core.resp.out = Some(ReadOut {
            res,
            next: psn::psn_add(res.first_psn, k),
        });
    }
    sent
}

/// Sends read response packet `k` of `res`.
fn send_read_response(cx: Ctx<'_>, core: &QpCore, res: &RdRes, k: u32) -> Result {
    let (dev, qp) = (cx.dev(), cx.qp());
    let av = core.av.ok_or(EINVAL)?;
    let path = req::path_of(&av, qp.src_port);
    let mtu = core.mtu(dev);
    let npkts = res.len.div_ceil(mtu).max(1);
    let off = k.checked_mul(mtu).ok_or(EINVAL)?;
    let n = res.len.saturating_sub(off).min(mtu);
    let first = k == 0;
    let last = k + 1 == npkts;
    let opcode = match (first, last) {
        (true, true) => opc::RC_RDMA_READ_RESPONSE_ONLY,
        (true, false) => opc::RC_RDMA_READ_RESPONSE_FIRST,
        (false, true) => opc::RC_RDMA_READ_RESPONSE_LAST,
        (false, false) => opc::RC_RDMA_READ_RESPONSE_MIDDLE,
    };
    let psn = psn::psn_add(res.first_psn, k);
    let mut h = Headers::new(Bth::new(opcode, DEFAULT_PKEY, core.attr.dest_qp_num, psn));
    if first || last {
        h.aeth = Some(Aeth::new(
            Syndrome::ack_unlimited(),
            core.resp.msn & 0xff_ffff,
        ));
    }
    h.bth.resv6 = core.ext.bits();
    let va = res.va.wrapping_add(u64::from(off));
    req::emit(dev, &path, core.answers(), &h, n as usize, |buf| {
        if buf.is_empty() {
            return Ok(());
        }
        // Looked up again for each packet: the MR may be deregistered
        // between two passes of the runner.
        let mr = mr::lookup(
            dev,
            qp.pd as *mut _,
            res.rkey,
            KeyKind::Remote,
            bindings::IB_ACCESS_REMOTE_READ,
        )?;
        mr.read(va, buf)
    })
}

/// An atomic request.
fn atomic(cx: Ctx<'_>, core: &mut QpCore, p: &Parsed<'_>) -> core::result::Result<(), Refusal> {
    let (dev, qp) = (cx.dev(), cx.qp());
    let a = p.atmeth().ok_or(Refusal::Drop)?;
    if core.attr.qp_access_flags as u32 & bindings::IB_ACCESS_REMOTE_ATOMIC == 0 {
        return Err(Refusal::Nak(NakCode::InvalidRequest));
    }
    if core.resp.res.is_empty() {
        return Err(Refusal::Nak(NakCode::InvalidRequest));
    }
    let mr = mr::lookup(
        dev,
        qp.pd as *mut _,
        a.rkey,
        KeyKind::Remote,
        bindings::IB_ACCESS_REMOTE_ATOMIC,
    )
    .map_err(|_| Refusal::Nak(NakCode::RemoteAccessError))?;
    let cas = p.opcode() == opc::RC_COMPARE_SWAP;
    let orig = mr
        .with_u64(a.va, |ptr| {
            // SAFETY: `ptr` is an aligned u64 in a mapped page of the MR,
            // valid while the closure runs; other CPUs (and user space) may
            // access it, so only atomic operations touch it.
            let word = unsafe { kernel::sync::atomic::Atomic::<u64>::from_ptr(ptr) };
            if cas {
                match word.cmpxchg(a.compare, a.swap_add, kernel::sync::atomic::Full) {
                    Ok(v) | Err(v) => v,
                }
            } else {
                word.fetch_add(a.swap_add, kernel::sync::atomic::Full)
            }
        })
        .map_err(|e| {
            if e == EINVAL {
                Refusal::Nak(NakCode::InvalidRequest)
            } else {
                Refusal::Nak(NakCode::RemoteAccessError)
            }
        })?;
    let psn = p.bth().psn;
    let res = RdRes {
        valid: true,
        atomic: true,
        first_psn: psn,
        last_psn: psn,
        va: a.va,
        rkey: a.rkey,
        len: 8,
        orig,
    };
    remember(core, res);
    core.resp.msn = psn::psn_next(core.resp.msn);
    core.resp.psn = psn::psn_next(psn);
    send_atomic_ack(cx, core, psn, orig).map_err(|_| Refusal::Drop)
}

/// Sends an atomic acknowledge.
fn send_atomic_ack(cx: Ctx<'_>, core: &QpCore, psn: u32, orig: u64) -> Result {
    let (dev, qp) = (cx.dev(), cx.qp());
    let av = core.av.ok_or(EINVAL)?;
    let path = req::path_of(&av, qp.src_port);
    let mut h = Headers::new(Bth::new(
        opc::RC_ATOMIC_ACKNOWLEDGE,
        DEFAULT_PKEY,
        core.attr.dest_qp_num,
        psn,
    ));
    h.aeth = Some(Aeth::new(
        Syndrome::ack_unlimited(),
        core.resp.msn & 0xff_ffff,
    ));
    h.atmack = Some(Atmack { orig });
    h.bth.resv6 = core.ext.bits();
    req::emit(dev, &path, core.answers(), &h, 0, |_| Ok(()))
}

/// A request already carried out: sends and writes are acknowledged again,
/// reads and atomics answered again from what was kept.
fn duplicate(cx: Ctx<'_>, core: &mut QpCore, p: &Parsed<'_>, info: &OpcodeInfo) {
    let psn = p.bth().psn;
    if info.is_read() || info.is_atomic() {
        let found = core
            .resp
            .res
            .iter()
            .find(|r| {
                r.valid
                    && psn::psn_compare(psn, r.first_psn) >= 0
                    && psn::psn_compare(psn, r.last_psn) <= 0
            })
            .copied();
        if let Some(r) = found {
            if r.atomic {
                let _ = send_atomic_ack(cx, core, psn, r.orig);
            } else {
                // Replayed from the PSN asked for, as a new read is
                // answered. One in progress gives way: the requester asks
                // again for all it still needs, in order.
                core.resp.out = Some(ReadOut { res: r, next: psn });
            }
        }
        return;
    }
    // Acknowledge up to the last packet carried out.
    let last = psn::psn_prev(core.resp.psn);
    let _ = req::send_ack(cx, core, last, Syndrome::ack_unlimited().to_byte());
}
