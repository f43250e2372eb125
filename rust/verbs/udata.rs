// SPDX-License-Identifier: GPL-2.0

//! The driver-private part of a uverbs call (`struct ib_udata`): the rxe
//! provider's command extension in, and our response (ring locations,
//! object numbers) out.

use kernel::{error::to_result, prelude::*};

use crate::bindings;

/// Bytes user space left for the response.
///
/// # Safety
///
/// `udata` must be a live `ib_udata` (not NULL).
pub(crate) unsafe fn outlen(udata: *mut bindings::ib_udata) -> usize {
    // SAFETY: Live (caller).
    unsafe { (*udata).outlen }
}

/// Bytes of command user space passed.
///
/// # Safety
///
/// `udata` must be a live `ib_udata` (not NULL).
pub(crate) unsafe fn inlen(udata: *mut bindings::ib_udata) -> usize {
    // SAFETY: Live (caller).
    unsafe { (*udata).inlen }
}

/// Writes `resp` to the response buffer (as much of it as fits, as the
/// rdma core's convention for growing structures says).
///
/// # Safety
///
/// `udata` must be a live `ib_udata` (not NULL); `T` must be plain data
/// with no padding that could leak kernel memory.
pub(crate) unsafe fn respond<T>(udata: *mut bindings::ib_udata, resp: &T) -> Result {
    // SAFETY: Live (caller).
    let len = size_of::<T>().min(unsafe { outlen(udata) });
    // SAFETY: `resp` is `len` readable bytes; the helper copies to user
    // space with the checks of `copy_to_user`.
    to_result(unsafe {
        bindings::rxe_rs_copy_to_udata(udata, core::ptr::from_ref(resp).cast(), len)
    })
}

/// Reads the command extension into `cmd`; `EINVAL` if user space passed
/// less than a whole one.
///
/// # Safety
///
/// `udata` must be a live `ib_udata` (not NULL); `T` must be plain data for
/// which any bytes are valid.
pub(crate) unsafe fn read<T>(udata: *mut bindings::ib_udata, cmd: &mut T) -> Result {
    // SAFETY: Live (caller).
    if unsafe { inlen(udata) } < size_of::<T>() {
        return Err(EINVAL);
    }
    // SAFETY: `cmd` is `size_of::<T>()` writable bytes of a type valid for
    // any bytes; the helper copies from user space with its checks.
    to_result(unsafe {
        bindings::rxe_rs_copy_from_udata(core::ptr::from_mut(cmd).cast(), udata, size_of::<T>())
    })
}
