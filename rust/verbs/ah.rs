// SPDX-License-Identifier: GPL-2.0

//! Address handles: the destinations of UD sends. User space names them in
//! its send WQEs by number (`ah_num`, from `struct rxe_create_ah_resp`), so
//! user AHs live in the device's AH table; kernel AHs (created in atomic
//! context, named by pointer) only in their `ib_ah`.

use core::ptr::addr_of_mut;

use kernel::{prelude::*, sync::Arc};

use crate::{
    bindings,
    mig::restore,
    verbs::{av::Av, device::RxeDev, ucontext, udata},
};

/// An address handle's path and owner.
pub(crate) struct AhInner {
    pub(crate) av: Av,
    pd: usize,
}

/// An AH as the RDMA core sees it.
///
/// INVARIANT: `inner` is `Some` and, for user AHs, numbered `num` in the
/// device's table, from the end of `create_ah` until `destroy_ah`.
#[repr(C)]
pub(crate) struct RxeAh {
    /// Must be first: the core allocates the object with our size.
    ibah: bindings::ib_ah,
    inner: Option<Arc<AhInner>>,
    num: u32,
    /// The user context whose register holds the AH (NULL: a kernel AH).
    uctx: *mut bindings::ib_ucontext,
}

/// `struct rxe_create_ah_resp`.
#[repr(C)]
struct CreateAhResp {
    ah_num: u32,
    reserved: u32,
}

/// The path of user AH `num` in protection domain `pd`.
pub(crate) fn lookup(dev: &RxeDev, pd: usize, num: u32) -> Result<Av> {
    let ah = dev.ahs().with(num, Arc::clone).ok_or(EINVAL)?;
    if ah.pd != pd {
        return Err(EINVAL);
    }
    Ok(ah.av)
}

/// The path of a kernel AH.
///
/// # Safety
///
/// `ibah` must be a live AH of one of our devices.
pub(crate) unsafe fn av_of(ibah: *mut bindings::ib_ah) -> Result<Av> {
    // SAFETY: `ibah` is the first field of a `#[repr(C)]` `RxeAh`.
    let ah = unsafe { &*ibah.cast::<RxeAh>() };
    ah.inner.as_ref().map(|i| i.av).ok_or(EINVAL)
}

/// The number and path of a user AH, for a checkpoint; `None` for a
/// kernel AH.
///
/// # Safety
///
/// `ibah` must be a live AH of one of our devices.
pub(crate) unsafe fn dump_of(ibah: *mut bindings::ib_ah) -> Option<(u32, Av)> {
    // SAFETY: `ibah` is the first field of a `#[repr(C)]` `RxeAh`.
    let ah = unsafe { &*ibah.cast::<RxeAh>() };
    let av = ah.inner.as_ref()?.av;
    (ah.num != 0).then_some((ah.num, av))
}

/// The `create_ah` / `create_user_ah` callback.
///
/// # Safety
///
/// Called by the RDMA core with a zeroed AH of our size on one of our
/// devices, its attributes, and the user's udata (NULL for kernel AHs,
/// which may be created in atomic context).
pub(crate) unsafe extern "C" fn create_ah(
    ibah: *mut bindings::ib_ah,
    init: *mut bindings::rdma_ah_init_attr,
    udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    // SAFETY: As the core promises.
    crate::verbs::errno(unsafe { create(ibah, &*(*init).ah_attr, udata) })
}

/// # Safety
///
/// As for [`create_ah`].
unsafe fn create(
    ibah: *mut bindings::ib_ah,
    attr: &bindings::rdma_ah_attr,
    udata: *mut bindings::ib_udata,
) -> Result {
    // SAFETY: Our AH's device.
    let dev = unsafe { RxeDev::from_ibdev((*ibah).device) };
    let av = Av::from_ah_attr(dev, attr)?;
    // SAFETY: The core's AH.
    let pd = unsafe { (*ibah).pd } as usize;
    let user = !udata.is_null();
    // SAFETY: `udata` is NULL (a kernel AH, maybe in atomic context: no
    // lock is taken then) or the caller's. The AH's handle is not known
    // yet: the restore checks it at its end.
    let claim = unsafe { restore::Claim::take(udata, ucontext::ObjKind::Ah, None) }?;
    let staged_num = match &claim {
        Some(c) => {
            let a = c.ah()?;
            // SAFETY: The core's AH and its PD.
            if unsafe { bindings::rxe_rs_pd_handle((*ibah).pd) } != a.pd {
                return Err(EINVAL);
            }
            Some(a.num)
        }
        None => None,
    };
    // SAFETY: `udata` is NULL (nothing is allocated then) or the caller's.
    let slot = unsafe { ucontext::Slot::new(udata) }?;
    let flags = if user { GFP_KERNEL } else { GFP_ATOMIC };
    let inner = Arc::new(AhInner { av, pd }, flags)?;
    let mut num = 0;
    if user {
        // SAFETY: The caller's udata.
        if unsafe { udata::outlen(udata) } < size_of::<CreateAhResp>() {
            return Err(EINVAL);
        }
        dev.state().ah_count.take()?;
        let inserted = match staged_num {
            // A restored AH keeps its number: user space names it by
            // that in its send WQEs.
            Some(n) => dev
                .ahs()
                .insert_at_with(n, |_| Ok(inner.clone()))
                .map(|()| n),
            None => dev.ahs().insert(inner.clone()),
        };
        num = match inserted {
            Ok(n) => n,
            Err(e) => {
                dev.state().ah_count.give();
                return Err(e);
            }
        };
        let resp = CreateAhResp {
            ah_num: num,
            reserved: 0,
        };
        // SAFETY: The caller's udata, checked big enough.
        if let Err(e) = unsafe { udata::respond(udata, &resp) } {
            drop(dev.ahs().remove(num));
            dev.state().ah_count.give();
            return Err(e);
        }
    }
    let ah = ibah.cast::<RxeAh>();
    // SAFETY: Our part of the core's zeroed allocation.
    unsafe {
        addr_of_mut!((*ah).inner).write(Some(inner));
        addr_of_mut!((*ah).num).write(num);
        addr_of_mut!((*ah).uctx).write(slot.uctx());
    }
    // SAFETY: The AH is made; `destroy_ah` forgets it.
    unsafe { slot.fill(ibah.cast(), ucontext::ObjKind::Ah) };
    if let Some(c) = claim {
        c.done();
    }
    Ok(())
}

/// The `query_ah` callback.
///
/// # Safety
///
/// Called by the RDMA core for a live AH of ours with a writable result.
pub(crate) unsafe extern "C" fn query_ah(
    ibah: *mut bindings::ib_ah,
    attr: *mut bindings::rdma_ah_attr,
) -> kernel::ffi::c_int {
    // SAFETY: As the core promises.
    match unsafe { av_of(ibah) } {
        Ok(av) => {
            // SAFETY: Writable (the core).
            av.write_ah_attr(unsafe { &mut *attr });
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// The `destroy_ah` callback.
///
/// # Safety
///
/// Called by the RDMA core once for an AH `create_ah` made.
pub(crate) unsafe extern "C" fn destroy_ah(
    ibah: *mut bindings::ib_ah,
    _flags: u32,
) -> kernel::ffi::c_int {
    let ah = ibah.cast::<RxeAh>();
    // SAFETY: The context the AH was made on, which outlives it.
    unsafe { ucontext::forget_in((*ah).uctx, ibah.cast()) };
    // SAFETY: Ours; taking leaves `None`.
    let inner = unsafe { (*ah).inner.take() };
    // SAFETY: As above.
    let num = unsafe { (*ah).num };
    if num != 0 {
        // SAFETY: Our AH's device.
        let dev = unsafe { RxeDev::from_ibdev((*ibah).device) };
        drop(dev.ahs().remove(num));
        dev.state().ah_count.give();
    }
    drop(inner);
    0
}
