// SPDX-License-Identifier: GPL-2.0

//! Mapping rings into user space. Each user-visible ring gets an entry in
//! the RDMA core's per-context mmap table (`rdma_user_mmap_entry`); user
//! space maps it at the offset the create call returned (`struct mminfo`).
//!
//! The entry owns the ring's memory: the object that made the ring removes
//! the entry when it is destroyed (no new mappings from then on), and the
//! core calls `mmap_free` once no `mmap` call is using it. Mappings made
//! before stay valid: `remap_vmalloc_range` inserts the pages with page
//! references of their own, dropped at `munmap`.

use core::ptr::NonNull;

use kernel::{error::to_result, prelude::*};

use crate::{bindings, verbs::queue::Queue};

/// A ring's mmap entry.
///
/// INVARIANT: `buf` is a `vmalloc_user` allocation of `size` bytes owned by
/// the entry; `rdma` is first, so the core's pointer to it is ours.
#[repr(C)]
pub(crate) struct MmapEntry {
    rdma: bindings::rdma_user_mmap_entry,
    buf: NonNull<u8>,
    size: usize,
}

/// `struct mminfo` of the rxe user ABI: where user space maps a ring.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct MmInfo {
    pub(crate) offset: u64,
    pub(crate) size: u32,
    pub(crate) pad: u32,
}

/// Makes `q` mappable by the user context `uctx`; returns where to map it.
///
/// # Safety
///
/// `uctx` must be a live user context of one of our devices.
pub(crate) unsafe fn share(uctx: *mut bindings::ib_ucontext, q: &mut Queue) -> Result<MmInfo> {
    let (buf, size) = q.buffer();
    let entry = KBox::new(
        MmapEntry {
            // SAFETY: Plain data; the core fills it in on insertion.
            rdma: unsafe { core::mem::zeroed() },
            buf,
            size,
        },
        GFP_KERNEL,
    )?;
    let entry = KBox::into_raw(entry);
    // SAFETY: `entry` is a fresh allocation whose first member the core
    // takes over; `uctx` is live (caller).
    let ret = unsafe {
        bindings::rdma_user_mmap_entry_insert(uctx, core::ptr::addr_of_mut!((*entry).rdma), size)
    };
    if let Err(e) = to_result(ret) {
        // SAFETY: Not inserted: still ours alone.
        drop(unsafe { KBox::from_raw(entry) });
        return Err(e);
    }
    // SAFETY: Inserted entries are valid until `mmap_free`.
    let offset = unsafe { bindings::rxe_rs_mmap_offset(core::ptr::addr_of_mut!((*entry).rdma)) };
    // SAFETY: `entry` is not null (from a `KBox`).
    q.set_mapped(unsafe { NonNull::new_unchecked(entry) });
    Ok(MmInfo {
        offset,
        size: u32::try_from(size).map_err(|_| EINVAL)?,
        pad: 0,
    })
}

/// Drops the ring owner's hold on an entry: no new mappings; the memory is
/// freed once no `mmap` call uses the entry (existing mappings keep their
/// pages).
///
/// # Safety
///
/// `entry` must be an entry from [`share`], removed only once.
pub(crate) unsafe fn remove(entry: NonNull<MmapEntry>) {
    // SAFETY: Inserted and not yet removed (caller).
    unsafe {
        bindings::rdma_user_mmap_entry_remove(core::ptr::addr_of_mut!((*entry.as_ptr()).rdma))
    };
}

/// The offset user space maps an entry at.
///
/// # Safety
///
/// `entry` must be an entry from [`share`], not yet removed.
pub(crate) unsafe fn offset(entry: NonNull<MmapEntry>) -> u64 {
    // SAFETY: Inserted and not removed (caller): valid.
    unsafe { bindings::rxe_rs_mmap_offset(core::ptr::addr_of_mut!((*entry.as_ptr()).rdma)) }
}

/// The `mmap` callback: maps a ring that a create call returned.
///
/// # Safety
///
/// Called by the RDMA core with a live context of ours and the VMA being
/// set up.
pub(crate) unsafe extern "C" fn mmap(
    uctx: *mut bindings::ib_ucontext,
    vma: *mut bindings::vm_area_struct,
) -> kernel::ffi::c_int {
    // SAFETY: Arguments from the core; the lookup checks offset, length and
    // that the mapping is shared, and takes a reference on the entry.
    let rdma = unsafe { bindings::rdma_user_mmap_entry_get(uctx, vma) };
    if rdma.is_null() {
        return EINVAL.to_errno();
    }
    let entry = rdma.cast::<MmapEntry>();
    // SAFETY: Our entries only; referenced until the put below.
    let ret = unsafe { bindings::remap_vmalloc_range(vma, (*entry).buf.as_ptr().cast(), 0) };
    // SAFETY: The reference from `rdma_user_mmap_entry_get`; the mapping
    // holds page references of its own.
    unsafe { bindings::rdma_user_mmap_entry_put(rdma) };
    ret
}

/// The `mmap_free` callback: the entry's last reference is gone.
///
/// # Safety
///
/// Called by the RDMA core once for each entry inserted by [`share`].
pub(crate) unsafe extern "C" fn mmap_free(rdma: *mut bindings::rdma_user_mmap_entry) {
    // SAFETY: Ours (from `KBox::into_raw` in `share`), and no one else
    // refers to it any more.
    let entry = unsafe { KBox::from_raw(rdma.cast::<MmapEntry>()) };
    // SAFETY: The entry owns the buffer (invariant).
    unsafe { bindings::vfree(entry.buf.as_ptr().cast()) };
}
