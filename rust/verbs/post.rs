// SPDX-License-Identifier: GPL-2.0

//! Kernel consumers' post verbs: `ib_post_send` and `ib_post_recv` on
//! kernel QPs (the MAD layer's GSI QP, rdma_cm, storage and file system
//! clients). They may come in atomic context, so they only write WQEs into
//! the rings (under a spinlock of their own) and kick the QP's work; user
//! QPs write their rings themselves and ring the doorbell through
//! `post_send` with no work requests.

use kernel::{prelude::*, sync::Arc};

use crate::{
    bindings,
    proto::wqe::{self, flags, op, Sge},
    transport::qp::Qp,
    verbs::{ah, queue::RingProducer},
};

/// The producer ends of a kernel QP's rings (`None` for user QPs, and
/// once the QP is destroyed).
#[derive(Default)]
pub(crate) struct KPost {
    pub(crate) sq: Option<RingProducer>,
    pub(crate) rq: Option<RingProducer>,
    pub(crate) lim: Limits,
}

/// The QP's limits on what a WR may carry.
#[derive(Clone, Copy, Default)]
pub(crate) struct Limits {
    pub(crate) max_send_sge: u32,
    pub(crate) max_recv_sge: u32,
    pub(crate) max_inline: u32,
}

/// The SGE list of a work request.
///
/// # Safety
///
/// `list` must point to `n` readable `ib_sge`s (as the verbs contract says).
unsafe fn sges<'a>(list: *const bindings::ib_sge, n: u32) -> &'a [bindings::ib_sge] {
    if n == 0 || list.is_null() {
        return &[];
    }
    // SAFETY: As the caller promises.
    unsafe { core::slice::from_raw_parts(list, n as usize) }
}

/// Writes one kernel send WR into a WQE slot.
///
/// # Safety
///
/// `wr` must be a valid send WR of the kind its opcode says (the
/// `ib_rdma_wr` / `ib_atomic_wr` / `ib_ud_wr` / `ib_reg_wr` around it);
/// `qp` must not be destroyed.
unsafe fn fill_send(qp: &Qp, k: Limits, wr: &bindings::ib_send_wr, slot: &mut [u8]) -> Result {
    let opcode = wr.opcode;
    if !crate::transport::req::opcode_allowed(qp, opcode) {
        return Err(EINVAL);
    }
    let nsge = u32::try_from(wr.num_sge).map_err(|_| EINVAL)?;
    // SAFETY: The WR's SGE list (caller).
    let list = unsafe { sges(wr.sg_list, nsge) };
    let wflags = wr.send_flags as u32;
    // SAFETY: Every WR has the id union; its bits are what the consumer
    // gets back.
    let wr_id = unsafe { wr.__bindgen_anon_1.wr_id };
    // SAFETY: Immediate data and the rkey share the union; both are plain.
    let ex = unsafe { wr.ex.imm_data };
    wqe::write_send(slot, wr_id, opcode, wflags, ex).ok_or(EINVAL)?;
    if crate::transport::req::is_local_op(opcode) {
        // No payload; a local invalidate's key is in `ex`.
        if opcode == op::REG_MR {
            // SAFETY: A REG_MR WR is an `ib_reg_wr` (caller).
            let r = unsafe { &*core::ptr::from_ref(wr).cast::<bindings::ib_reg_wr>() };
            // SAFETY: As the caller promises.
            unsafe { fill_reg(qp, r, slot) }?;
        }
        return wqe::write_send_dma(slot, 0, 0, &[]).ok_or(EINVAL);
    }
    let mut words = [0u8; 32];
    match opcode {
        op::RDMA_WRITE | op::RDMA_WRITE_WITH_IMM | op::RDMA_READ => {
            // SAFETY: An RDMA WR is an `ib_rdma_wr` (caller).
            let r = unsafe { &*core::ptr::from_ref(wr).cast::<bindings::ib_rdma_wr>() };
            words[..8].copy_from_slice(&r.remote_addr.to_ne_bytes());
            words[8..12].copy_from_slice(&r.rkey.to_ne_bytes());
        }
        op::ATOMIC_CMP_AND_SWP | op::ATOMIC_FETCH_AND_ADD => {
            // SAFETY: An atomic WR is an `ib_atomic_wr` (caller).
            let a = unsafe { &*core::ptr::from_ref(wr).cast::<bindings::ib_atomic_wr>() };
            words[..8].copy_from_slice(&a.remote_addr.to_ne_bytes());
            words[8..16].copy_from_slice(&a.compare_add.to_ne_bytes());
            words[16..24].copy_from_slice(&a.swap.to_ne_bytes());
            words[24..28].copy_from_slice(&a.rkey.to_ne_bytes());
        }
        _ => {}
    }
    if matches!(qp.qp_type, bindings::IB_QPT_UD | bindings::IB_QPT_GSI) {
        // SAFETY: A UD WR is an `ib_ud_wr` (caller).
        let u = unsafe { &*core::ptr::from_ref(wr).cast::<bindings::ib_ud_wr>() };
        words[..4].copy_from_slice(&u.remote_qpn.to_ne_bytes());
        words[4..8].copy_from_slice(&u.remote_qkey.to_ne_bytes());
        if u.ah.is_null() {
            return Err(EINVAL);
        }
        // SAFETY: The consumer keeps the AH alive until the WR completes.
        let av = unsafe { ah::av_of(u.ah) }?;
        av.encode(slot.get_mut(wqe::ud_av_offset()..).ok_or(EINVAL)?)
            .ok_or(EINVAL)?;
    }
    wqe::write_send_wr(slot, &words).ok_or(EINVAL)?;
    if wflags & flags::INLINE != 0 {
        fill_inline(k, list, slot)
    } else {
        if nsge > k.max_send_sge {
            return Err(EINVAL);
        }
        fill_sges(list, slot, wqe::send_data_offset(), true)
    }
}

/// Writes a fast registration into a WQE: the MR by its table index, and
/// the iova and length `map_mr_sg` gave its `ib_mr` (which the consumer
/// may have moved since, within the mapping).
///
/// # Safety
///
/// `r.mr` must be NULL or a live MR (the verbs contract: the consumer
/// keeps it until the WR completes); `qp` is not destroyed (its post path
/// is open).
unsafe fn fill_reg(qp: &Qp, r: &bindings::ib_reg_wr, slot: &mut [u8]) -> Result {
    let ibmr = r.mr;
    // Another device's MR is not an `RxeMr`: compare devices first.
    // SAFETY: A live MR (caller) and our live QP.
    if ibmr.is_null() || unsafe { (*ibmr).device != (*qp.ibqp).device } {
        return Err(EINVAL);
    }
    // SAFETY: An MR of our device, so one this module made.
    let mr_index = unsafe { crate::verbs::mr::index_of(ibmr) };
    // SAFETY: A live MR (caller); the consumer does not map it meanwhile.
    let (iova, length) = unsafe { ((*ibmr).iova, (*ibmr).length) };
    let reg = wqe::Reg {
        mr_index,
        key: r.key,
        access: r.access as u32,
        iova,
        length,
    };
    wqe::write_reg(slot, &reg).ok_or(EINVAL)
}

/// Copies an inline send's payload (kernel addresses) into the WQE.
fn fill_inline(k: Limits, list: &[bindings::ib_sge], slot: &mut [u8]) -> Result {
    let total = list
        .iter()
        .try_fold(0u32, |a, s| a.checked_add(s.length))
        .ok_or(EINVAL)?;
    if total > k.max_inline {
        return Err(EINVAL);
    }
    let mut at = wqe::send_data_offset();
    for s in list {
        let n = s.length as usize;
        let dst = slot.get_mut(at..at + n).ok_or(EINVAL)?;
        // SAFETY: An inline SGE's address is kernel memory of its length
        // (the verbs contract for kernel consumers).
        let src = unsafe { core::slice::from_raw_parts(s.addr as usize as *const u8, n) };
        dst.copy_from_slice(src);
        at += n;
    }
    wqe::write_send_dma(slot, total, 0, &[]).ok_or(EINVAL)
}

/// Writes an SGE list (and the total length) at `off` of a WQE.
fn fill_sges(list: &[bindings::ib_sge], slot: &mut [u8], off: usize, send: bool) -> Result {
    let mut total = 0u32;
    for (i, s) in list.iter().enumerate() {
        total = total.checked_add(s.length).ok_or(EINVAL)?;
        let sge = Sge {
            addr: s.addr,
            length: s.length,
            lkey: s.lkey,
        };
        wqe::put_sge(slot, off + i * wqe::SGE_SIZE, &sge).ok_or(EINVAL)?;
    }
    let n = list.len() as u32;
    if send {
        wqe::write_send_dma(slot, total, n, &[]).ok_or(EINVAL)
    } else {
        wqe::write_recv_counts(slot, total, n).ok_or(EINVAL)
    }
}

/// `post_send` for a kernel QP.
///
/// # Safety
///
/// `wr` is the consumer's (non-empty) chain of valid send WRs; `bad` is
/// writable.
pub(crate) unsafe fn post_send(
    qp: &Arc<Qp>,
    mut wr: *const bindings::ib_send_wr,
    bad: *mut *const bindings::ib_send_wr,
) -> Result {
    let mut res = Ok(());
    {
        let mut k = qp.kpost.lock();
        let lim = k.lim;
        while !wr.is_null() {
            // SAFETY: A WR of the chain (caller).
            let w = unsafe { &*wr };
            let Some(sq) = k.sq.as_mut() else {
                res = Err(EINVAL);
                break;
            };
            // SAFETY: As the caller promises; the QP's rings are still in
            // `kpost`, which `destroy_qp` empties first, so it is not
            // destroyed.
            if let Err(e) = sq.produce(|slot| unsafe { fill_send(qp, lim, w, slot) }) {
                res = Err(e);
                break;
            }
            wr = w.next;
        }
    }
    if res.is_err() && !bad.is_null() {
        // SAFETY: Writable (caller).
        unsafe { *bad = wr };
    }
    qp.schedule();
    res
}

/// `post_recv` for a kernel QP.
///
/// # Safety
///
/// `wr` is the consumer's chain of valid receive WRs; `bad` is writable.
pub(crate) unsafe fn post_recv(
    qp: &Qp,
    wr: *const bindings::ib_recv_wr,
    bad: *mut *const bindings::ib_recv_wr,
) -> Result {
    let mut k = qp.kpost.lock();
    let max_sge = k.lim.max_recv_sge;
    let Some(rq) = k.rq.as_mut() else {
        if !bad.is_null() {
            // SAFETY: Writable (caller).
            unsafe { *bad = wr };
        }
        return Err(EINVAL);
    };
    // SAFETY: As the caller promises.
    unsafe { post_recv_into(rq, max_sge, wr, bad) }
}

/// Writes a chain of receive WRs into a receive ring (a QP's or an SRQ's).
///
/// # Safety
///
/// `wr` is the consumer's chain of valid receive WRs; `bad` is writable.
pub(crate) unsafe fn post_recv_into(
    rq: &mut RingProducer,
    max_sge: u32,
    mut wr: *const bindings::ib_recv_wr,
    bad: *mut *const bindings::ib_recv_wr,
) -> Result {
    let mut res = Ok(());
    while !wr.is_null() {
        // SAFETY: A WR of the chain (caller).
        let w = unsafe { &*wr };
        let n = u32::try_from(w.num_sge).unwrap_or(u32::MAX);
        if n > max_sge {
            res = Err(EINVAL);
            break;
        }
        // SAFETY: The WR's SGE list.
        let list = unsafe { sges(w.sg_list, n) };
        // SAFETY: Every WR has the id union.
        let wr_id = unsafe { w.__bindgen_anon_1.wr_id };
        let r = rq.produce(|slot| {
            wqe::write_recv_id(slot, wr_id).ok_or(EINVAL)?;
            fill_sges(list, slot, wqe::recv_data_offset(), false)
        });
        if let Err(e) = r {
            res = Err(e);
            break;
        }
        wr = w.next;
    }
    if res.is_err() && !bad.is_null() {
        // SAFETY: Writable (caller).
        unsafe { *bad = wr };
    }
    res
}
