// SPDX-License-Identifier: GPL-2.0

//! What `rdma res show qp -dd` shows of a QP beyond the core's fields: the
//! engines' snapshot (`transport::qp::Diag`) as driver attributes.

use kernel::prelude::*;

use crate::{
    bindings,
    transport::qp::{Diag, Mig},
    verbs::qp::RxeQp,
};

/// The `fill_res_qp_entry` callback.
///
/// # Safety
///
/// Called by the RDMA core (process context) for a live QP of ours, with
/// the netlink message being built.
pub(crate) unsafe extern "C" fn fill_res_qp_entry(
    msg: *mut bindings::sk_buff,
    ibqp: *mut bindings::ib_qp,
) -> kernel::ffi::c_int {
    // SAFETY: A live QP of ours.
    let Ok(qp) = (unsafe { RxeQp::qp(ibqp) }) else {
        return 0;
    };
    let Some(d) = qp.diag() else {
        return 0;
    };
    // SAFETY: The message being built, as the core promises.
    let nest = unsafe { bindings::rxe_rs_nl_driver_start(msg) };
    if nest.is_null() {
        return EMSGSIZE.to_errno();
    }
    // SAFETY: As above; `nest` was opened in `msg` just now.
    match unsafe { put(msg, &d) } {
        Ok(()) => {
            // SAFETY: As above.
            unsafe { bindings::rxe_rs_nl_nest_end(msg, nest) };
            0
        }
        Err(e) => {
            // SAFETY: As above.
            unsafe { bindings::rxe_rs_nl_nest_cancel(msg, nest) };
            e.to_errno()
        }
    }
}

/// # Safety
///
/// `msg` is a netlink message being built.
unsafe fn put(msg: *mut bindings::sk_buff, d: &Diag) -> Result {
    let mig = match d.mig {
        None => c"-",
        Some(Mig::Running) => c"running",
        Some(Mig::Paused) => c"paused",
        Some(Mig::Stopped) => c"stopped",
    };
    // SAFETY: As the caller promises; the names are C strings.
    unsafe {
        string(msg, c"mig", mig)?;
        string(msg, c"runner", d.runner)?;
        hex(msg, c"comp_psn", d.comp_psn)?;
        hex(msg, c"req_psn", d.req_psn)?;
        hex(msg, c"max_psn", d.max_psn)?;
        hex(msg, c"resp_psn", d.resp_psn)?;
        num(msg, c"retry_left", d.retry_left.into())?;
        num(msg, c"rnr_left", d.rnr_left.into())?;
        num(msg, c"rnr_wait", d.rnr_wait.into())?;
        num(msg, c"resume_due", d.resume_due.into())?;
        num(msg, c"peer_ext", d.peer_ext.into())?;
        num(msg, c"rx_queued", d.rx_queued)?;
        // The timer's milliseconds left; 0xffffffff: not set.
        num(msg, c"timer_ms", d.timer_ms.unwrap_or(u32::MAX))
    }
}

/// # Safety
///
/// As for [`put`].
unsafe fn string(msg: *mut bindings::sk_buff, name: &CStr, v: &CStr) -> Result {
    // SAFETY: As the caller promises; both strings are NUL-terminated.
    to_result(unsafe {
        bindings::rdma_nl_put_driver_string(msg, name.as_char_ptr(), v.as_char_ptr())
    })
}

/// # Safety
///
/// As for [`put`].
unsafe fn num(msg: *mut bindings::sk_buff, name: &CStr, v: u32) -> Result {
    // SAFETY: As the caller promises; the name is NUL-terminated.
    to_result(unsafe { bindings::rdma_nl_put_driver_u32(msg, name.as_char_ptr(), v) })
}

/// # Safety
///
/// As for [`put`].
unsafe fn hex(msg: *mut bindings::sk_buff, name: &CStr, v: u32) -> Result {
    // SAFETY: As the caller promises; the name is NUL-terminated.
    to_result(unsafe { bindings::rdma_nl_put_driver_u32_hex(msg, name.as_char_ptr(), v) })
}

fn to_result(rc: kernel::ffi::c_int) -> Result {
    if rc == 0 {
        Ok(())
    } else {
        Err(EMSGSIZE)
    }
}
