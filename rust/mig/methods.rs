// SPDX-License-Identifier: GPL-2.0

//! rxe-rs's own uverbs methods, for live migration (the ABI is
//! `rust/uverbs_glue.h`, the tables and argument copying
//! `rust/uverbs_glue.c`): query what the device can host, stop and resume
//! the QPs of the caller's context, set the numbers the next QP and MR
//! take. Everything but the query needs `CAP_CHECKPOINT_RESTORE` (or
//! `CAP_SYS_ADMIN`) over the network namespace of the device's netdev.

use kernel::{
    ffi::c_int,
    prelude::*,
    sync::Arc,
    uaccess::{UserPtr, UserSlice},
};

use crate::{
    bindings,
    mig::{dump, restore, stage},
    proto::{image, uapi},
    transport::{
        comp,
        qp::{Ctx, Live, Qp, QpCore},
    },
    verbs::{device::RxeDev, errno, ucontext},
};

// The ABI is written twice, in C for the method tables and in the proto
// crate for userspace: they must agree.
const _: () = {
    assert!(bindings::RXE_RS_METHOD_QUERY == uapi::METHOD_QUERY as u32);
    assert!(bindings::RXE_RS_METHOD_PAUSE == uapi::METHOD_PAUSE as u32);
    assert!(bindings::RXE_RS_METHOD_RESUME == uapi::METHOD_RESUME as u32);
    assert!(bindings::RXE_RS_METHOD_SET_NEXT == uapi::METHOD_SET_NEXT as u32);
    assert!(bindings::RXE_RS_ATTR_IN == uapi::ATTR_IN as u32);
    assert!(bindings::RXE_RS_ATTR_OUT == uapi::ATTR_OUT as u32);
    assert!(bindings::RXE_RS_UAPI_VERSION == uapi::VERSION);
    assert!(bindings::RXE_RS_SET_NEXT_QPN == uapi::SET_NEXT_QPN);
    assert!(bindings::RXE_RS_SET_NEXT_MRN == uapi::SET_NEXT_MRN);
    assert!(size_of::<bindings::rxe_rs_mig_in>() == uapi::MigIn::LEN);
    assert!(size_of::<bindings::rxe_rs_query_out>() == uapi::QueryOut::LEN);
    assert!(size_of::<bindings::rxe_rs_mig_out>() == uapi::MigOut::LEN);
    assert!(size_of::<bindings::rxe_rs_set_next_in>() == uapi::SetNextIn::LEN);
    assert!(bindings::RXE_RS_METHOD_DUMP == uapi::METHOD_DUMP as u32);
    assert!(size_of::<bindings::rxe_rs_dump_in>() == uapi::DumpIn::LEN);
    assert!(size_of::<bindings::rxe_rs_dump_out>() == uapi::DumpOut::LEN);
    assert!(size_of::<bindings::rxe_rs_fd_pair>() == uapi::FdPair::LEN);
    assert!(bindings::RXE_RS_DUMP_FDS_MAX == uapi::DUMP_FDS_MAX);
    assert!(bindings::RXE_RS_METHOD_STAGE == uapi::METHOD_STAGE as u32);
    assert!(size_of::<bindings::rxe_rs_stage_in>() == uapi::StageIn::LEN);
    assert!(size_of::<bindings::rxe_rs_stage_out>() == uapi::StageOut::LEN);
    assert!(bindings::RXE_RS_STAGE_CHECK == uapi::STAGE_CHECK);
    assert!(bindings::RXE_RS_CONFLICT_FORMAT == uapi::CONFLICT_FORMAT);
    assert!(bindings::RXE_RS_CONFLICT_QPN == uapi::CONFLICT_QPN);
    assert!(bindings::RXE_RS_CONFLICT_MRN == uapi::CONFLICT_MRN);
    assert!(bindings::RXE_RS_CONFLICT_AHN == uapi::CONFLICT_AHN);
    assert!(bindings::RXE_RS_CONFLICT_MTU == uapi::CONFLICT_MTU);
    assert!(bindings::RXE_RS_CONFLICT_ADDR == uapi::CONFLICT_ADDR);
};

/// The device of a user context.
///
/// # Safety
///
/// `uctx` is a live context of one of our devices (the core passes the
/// caller's to the method handlers).
unsafe fn dev_of<'a>(uctx: *mut bindings::ib_ucontext) -> &'a RxeDev {
    // SAFETY: As the caller promises.
    unsafe { RxeDev::from_ibdev((*uctx).device) }
}

/// Whether the caller may checkpoint what lives on `dev`.
fn privileged(dev: &RxeDev) -> Result {
    // SAFETY: The device holds its netdev.
    if unsafe { bindings::rxe_rs_checkpoint_capable(dev.ndev()) } {
        Ok(())
    } else {
        Err(EPERM)
    }
}

/// No flags are defined yet, and reserved fields are zero.
fn plain(flags: u32, reserved: &[u32]) -> Result {
    if flags != 0 || reserved.iter().any(|&r| r != 0) {
        return Err(EINVAL);
    }
    Ok(())
}

/// Runs `f` on every QP of the user context `uctx` that is not destroyed,
/// under its lock, and counts those for which it returned `true`.
fn for_each_qp(
    dev: &RxeDev,
    uctx: *mut bindings::ib_ucontext,
    mut f: impl FnMut(&mut Live<'_>) -> bool,
) -> u32 {
    let mut n = 0;
    let mut count = 0;
    while let Some((qpn, qp)) = dev.qps().next_from(n) {
        n = qpn.saturating_add(1);
        if qp.uctx == uctx as usize {
            if let Some(mut live) = Live::lock(&qp) {
                if f(&mut live) {
                    count += 1;
                }
            }
        }
        drop::<Arc<Qp>>(qp);
        if qpn == u32::MAX {
            break;
        }
    }
    count
}

/// QUERY: what the device can host; no privilege needed.
///
/// # Safety
///
/// Called by the method table with the caller's live context and valid
/// argument structures.
#[no_mangle]
pub(crate) unsafe extern "C" fn rxe_rs_uverbs_query(
    uctx: *mut bindings::ib_ucontext,
    input: *const bindings::rxe_rs_mig_in,
    out: *mut bindings::rxe_rs_query_out,
) -> c_int {
    // SAFETY: As the glue promises.
    let (dev, input, out) = unsafe { (dev_of(uctx), &*input, &mut *out) };
    errno((|| {
        plain(input.flags, &input.reserved)?;
        out.uapi_version = uapi::VERSION;
        out.image_version = u32::from(image::VERSION);
        out.next_qpn = dev.qps().next();
        out.next_mrn = dev.mrs().next();
        Ok(())
    })())
}

/// PAUSE and RESUME: runs `f` on every QP of the caller's context, and
/// answers how many it did something to.
///
/// # Safety
///
/// As for [`rxe_rs_uverbs_query`].
unsafe fn each_qp(
    uctx: *mut bindings::ib_ucontext,
    input: *const bindings::rxe_rs_mig_in,
    out: *mut bindings::rxe_rs_mig_out,
    f: impl Fn(Ctx<'_>, &mut QpCore) -> Result,
) -> c_int {
    // SAFETY: As the glue promises.
    let (dev, input, out) = unsafe { (dev_of(uctx), &*input, &mut *out) };
    errno((|| {
        plain(input.flags, &input.reserved)?;
        privileged(dev)?;
        out.qps = for_each_qp(dev, uctx, |live| {
            let (cx, core) = live.split();
            f(cx, core).is_ok()
        });
        Ok(())
    })())
}

/// PAUSE: stops every QP of the caller's context that can be (RTR, RTS,
/// SQD): they send nothing, and answer their peers with stopped NAKs.
///
/// # Safety
///
/// As for [`rxe_rs_uverbs_query`].
#[no_mangle]
pub(crate) unsafe extern "C" fn rxe_rs_uverbs_pause(
    uctx: *mut bindings::ib_ucontext,
    input: *const bindings::rxe_rs_mig_in,
    out: *mut bindings::rxe_rs_mig_out,
) -> c_int {
    // SAFETY: As our caller promises.
    unsafe { each_qp(uctx, input, out, comp::stop) }
}

/// RESUME: resumes every stopped QP of the caller's context. A context
/// being restored ends its restore first (`EBUSY` while objects of its
/// image are still to make).
///
/// # Safety
///
/// As for [`rxe_rs_uverbs_query`].
#[no_mangle]
pub(crate) unsafe extern "C" fn rxe_rs_uverbs_resume(
    uctx: *mut bindings::ib_ucontext,
    input: *const bindings::rxe_rs_mig_in,
    out: *mut bindings::rxe_rs_mig_out,
) -> c_int {
    // SAFETY: As the glue promises.
    let (dev, inp) = unsafe { (dev_of(uctx), &*input) };
    let finished = (|| {
        plain(inp.flags, &inp.reserved)?;
        privileged(dev)?;
        // SAFETY: The caller's live context.
        unsafe { restore::finish(dev, uctx) }
    })();
    if let Err(e) = finished {
        return e.to_errno();
    }
    // SAFETY: As our caller promises.
    unsafe { each_qp(uctx, input, out, comp::resume_stopped) }
}

/// DUMP: writes the checkpoint image of the caller's context, whose QPs
/// are stopped, to the caller's buffer (or only says its size).
///
/// # Safety
///
/// As for [`rxe_rs_uverbs_query`].
#[no_mangle]
pub(crate) unsafe extern "C" fn rxe_rs_uverbs_dump(
    uctx: *mut bindings::ib_ucontext,
    input: *const bindings::rxe_rs_dump_in,
    out: *mut bindings::rxe_rs_dump_out,
) -> c_int {
    // SAFETY: As the glue promises.
    let (dev, input, out) = unsafe { (dev_of(uctx), &*input, &mut *out) };
    errno((|| {
        if input.flags != 0 || input.nfds > uapi::DUMP_FDS_MAX {
            return Err(EINVAL);
        }
        privileged(dev)?;
        let fds = fd_pairs(input.fds, input.nfds)?;
        // SAFETY: The caller's live context.
        let d = unsafe { dump::dump(uctx, &fds) }?;
        let len = d.bytes.len();
        out.len = len as u64;
        out.records = d.records;
        out.objects = d.objects;
        if input.buf != 0 {
            if input.len < out.len {
                return Err(ENOSPC);
            }
            let buf = usize::try_from(input.buf).map_err(|_| EFAULT)?;
            UserSlice::new(UserPtr::from_addr(buf), len)
                .writer()
                .write_slice(&d.bytes)?;
        }
        Ok(())
    })())
}

/// DUMP's event files, from the caller's array of `n` [`uapi::FdPair`]s.
fn fd_pairs(addr: u64, n: u32) -> Result<KVec<uapi::FdPair>> {
    let mut out = KVec::new();
    if n == 0 {
        return Ok(out);
    }
    let len = (n as usize).checked_mul(uapi::FdPair::LEN).ok_or(EINVAL)?;
    let addr = usize::try_from(addr).map_err(|_| EFAULT)?;
    let mut bytes = KVec::from_elem(0u8, len, GFP_KERNEL)?;
    UserSlice::new(UserPtr::from_addr(addr), len)
        .reader()
        .read_slice(&mut bytes)?;
    for b in bytes.chunks_exact(uapi::FdPair::LEN) {
        out.push(uapi::from_bytes(b).ok_or(EINVAL)?, GFP_KERNEL)?;
    }
    Ok(out)
}

/// RESTORE_STAGE: checks an image against the device and, unless asked
/// only to check, keeps it for the restore of the caller's context (which
/// must have no objects yet). Answers what stands in the way.
///
/// # Safety
///
/// As for [`rxe_rs_uverbs_query`].
#[no_mangle]
pub(crate) unsafe extern "C" fn rxe_rs_uverbs_stage(
    uctx: *mut bindings::ib_ucontext,
    input: *const bindings::rxe_rs_stage_in,
    out: *mut bindings::rxe_rs_stage_out,
) -> c_int {
    // SAFETY: As the glue promises.
    let (dev, input, out) = unsafe { (dev_of(uctx), &*input, &mut *out) };
    errno((|| {
        if input.flags & !uapi::STAGE_CHECK != 0 || input.reserved != 0 {
            return Err(EINVAL);
        }
        privileged(dev)?;
        let bytes = stage::load(input.buf, input.len)?;
        let sgid = [input.sgid4, input.sgid6];
        let (c, entries) = stage::check(dev, &bytes, sgid)?;
        out.objects = u32::try_from(entries.len()).map_err(|_| EINVAL)?;
        out.conflicts = c.mask;
        out.new_qpns = c.new_qpns;
        out.qpns_taken = c.qpns_taken;
        out.mrns_taken = c.mrns_taken;
        out.ahns_taken = c.ahns_taken;
        out.mtu_over = c.mtu_over;
        out.first = c.first;
        if input.flags & uapi::STAGE_CHECK != 0 {
            return Ok(());
        }
        if c.mask != 0 {
            return Err(EADDRINUSE);
        }
        // SAFETY: The caller's live context.
        let objects = unsafe { ucontext::objects(uctx) };
        // The stage's lock before the register's, as creates take them.
        let mut slot = objects.stage();
        let register = objects.lock();
        if register.iter().next().is_some() || slot.is_some() {
            return Err(EBUSY);
        }
        *slot = Some(stage::new_stage(bytes, entries, sgid)?);
        Ok(())
    })())
}

/// SET_NEXT: the numbers the device's next QP and MR take (when free).
///
/// # Safety
///
/// As for [`rxe_rs_uverbs_query`].
#[no_mangle]
pub(crate) unsafe extern "C" fn rxe_rs_uverbs_set_next(
    uctx: *mut bindings::ib_ucontext,
    input: *const bindings::rxe_rs_set_next_in,
) -> c_int {
    // SAFETY: As the glue promises.
    let (dev, input) = unsafe { (dev_of(uctx), &*input) };
    errno((|| {
        let known = uapi::SET_NEXT_QPN | uapi::SET_NEXT_MRN;
        if input.flags & !known != 0 || input.reserved != 0 {
            return Err(EINVAL);
        }
        privileged(dev)?;
        set_next(dev, input.flags, input.qpn, input.mrn)
    })())
}

/// Sets the next QPN and/or MR index of `dev` (`flags` says which), both
/// or neither: a bad value changes nothing.
pub(crate) fn set_next(dev: &RxeDev, flags: u32, qpn: u32, mrn: u32) -> Result {
    let (want_qpn, want_mrn) = (
        flags & uapi::SET_NEXT_QPN != 0,
        flags & uapi::SET_NEXT_MRN != 0,
    );
    if (want_qpn && !dev.qps().in_range(qpn)) || (want_mrn && !dev.mrs().in_range(mrn)) {
        return Err(EINVAL);
    }
    if want_qpn {
        dev.qps().set_next(qpn)?;
    }
    if want_mrn {
        dev.mrs().set_next(mrn)?;
    }
    Ok(())
}

/// sysfs `next_qpn` (`which` 0) or `next_mrn` (1): the number the next QP
/// or MR takes.
///
/// # Safety
///
/// `ibdev` is one of our registered devices (its sysfs files exist).
#[no_mangle]
pub(crate) unsafe extern "C" fn rxe_rs_sysfs_next(
    ibdev: *mut bindings::ib_device,
    which: c_int,
) -> u32 {
    // SAFETY: As the caller promises.
    let dev = unsafe { RxeDev::from_ibdev(ibdev) };
    if which == 0 {
        dev.qps().next()
    } else {
        dev.mrs().next()
    }
}

/// Writes sysfs `next_qpn` or `next_mrn` (privileged as the methods).
///
/// # Safety
///
/// As for [`rxe_rs_sysfs_next`].
#[no_mangle]
pub(crate) unsafe extern "C" fn rxe_rs_sysfs_set_next(
    ibdev: *mut bindings::ib_device,
    which: c_int,
    n: u32,
) -> c_int {
    // SAFETY: As the caller promises.
    let dev = unsafe { RxeDev::from_ibdev(ibdev) };
    errno((|| {
        privileged(dev)?;
        let flags = if which == 0 {
            uapi::SET_NEXT_QPN
        } else {
            uapi::SET_NEXT_MRN
        };
        set_next(dev, flags, n, n)
    })())
}
