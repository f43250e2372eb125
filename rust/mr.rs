// SPDX-License-Identifier: GPL-2.0

//! Memory regions: user memory with pinned pages, and the DMA MR of kernel
//! consumers. An MR is found by its key (index << 8 | 8-bit key) in the
//! device's table; the packet path holds a reference while it copies, so a
//! deregistration never pulls pages out from under a transfer.

use core::ptr::NonNull;

use kernel::{
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc,
    },
};

use crate::{bindings, device::RxeDev};

/// Access flags rxe supports on an MR (`RXE_ACCESS_SUPPORTED_MR` without
/// the features rxe-rs does not have yet: on-demand paging, flush).
const ACCESS_SUPPORTED: u32 = bindings::IB_ACCESS_LOCAL_WRITE
    | bindings::IB_ACCESS_REMOTE_WRITE
    | bindings::IB_ACCESS_REMOTE_READ
    | bindings::IB_ACCESS_REMOTE_ATOMIC
    | bindings::IB_ACCESS_MW_BIND
    // Hints a driver may ignore (relaxed ordering): rxe accepts them.
    | bindings::IB_ACCESS_OPTIONAL;

/// Remote access flags: an MR with any of them can be the target of a
/// remote operation through its rkey.
const ACCESS_REMOTE: u32 = bindings::IB_ACCESS_REMOTE_WRITE
    | bindings::IB_ACCESS_REMOTE_READ
    | bindings::IB_ACCESS_REMOTE_ATOMIC;

const PAGE_SHIFT: u32 = kernel::page::PAGE_SHIFT as u32;
const PAGE_SIZE: u64 = 1 << PAGE_SHIFT;

/// Where an MR's bytes are.
enum Backing {
    /// Kernel virtual addresses: the iova is the address (kernel PDs only).
    Dma,
    /// Pinned user pages.
    ///
    /// INVARIANT: `umem` is a live `ib_umem` owned by this MR; `pages` are
    /// its pages in order, the first holding the MR's start at
    /// `first_offset`.
    User {
        umem: NonNull<bindings::ib_umem>,
        pages: KVec<NonNull<bindings::page>>,
        first_offset: u64,
    },
}

/// What the packet path needs of an MR.
pub(crate) struct Mr {
    /// The PD, compared by address only (`rereg` may change it).
    pd: Atomic<usize>,
    /// `IB_ACCESS_*` (`rereg` may change it).
    access: Atomic<u32>,
    iova: u64,
    length: u64,
    /// Set once, right after the MR gets its number; zero (which no lookup
    /// asks for: index 0 is never handed out) until then.
    lkey: Atomic<u32>,
    rkey: Atomic<u32>,
    backing: Backing,
}

// SAFETY: Pages and the umem are not tied to a thread; the MR is immutable
// after creation.
unsafe impl Send for Mr {}
// SAFETY: As above.
unsafe impl Sync for Mr {}

impl Drop for Mr {
    fn drop(&mut self) {
        if let Backing::User { umem, .. } = &self.backing {
            // SAFETY: Owned (invariant); the last reference is gone, so no
            // copy is in progress.
            unsafe { bindings::ib_umem_release(umem.as_ptr()) };
        }
    }
}

/// Which key a lookup is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// An lkey in a local SGE.
    Local,
    /// An rkey from the wire.
    Remote,
}

impl Mr {
    /// Whether `[iova, iova + len)` lies within the MR.
    fn offset_of(&self, iova: u64, len: usize) -> Result<u64> {
        let off = iova.checked_sub(self.iova).ok_or(EFAULT)?;
        let end = off.checked_add(len as u64).ok_or(EFAULT)?;
        if end > self.length {
            return Err(EFAULT);
        }
        Ok(off)
    }

    /// Whether the MR allows `access` (`IB_ACCESS_*` bits).
    pub(crate) fn allows(&self, access: u32) -> bool {
        self.access.load(Relaxed) & access == access
    }

    /// Whether `key` names this MR for `kind`, in protection domain `pd`.
    fn matches(&self, key: u32, kind: KeyKind, pd: usize) -> bool {
        let k = match kind {
            KeyKind::Local => self.lkey.load(Relaxed),
            KeyKind::Remote => self.rkey.load(Relaxed),
        };
        k == key && k != 0 && self.pd.load(Relaxed) == pd
    }

    /// Copies `data` into the MR at `iova`.
    pub(crate) fn write(&self, iova: u64, data: &[u8]) -> Result {
        let off = self.offset_of(iova, data.len())?;
        match &self.backing {
            Backing::Dma => {
                // SAFETY: A DMA MR belongs to a kernel consumer, which
                // promises that the addresses it posts are valid kernel
                // memory (as with the C rxe).
                unsafe {
                    core::ptr::copy_nonoverlapping(data.as_ptr(), iova as *mut u8, data.len())
                };
                Ok(())
            }
            Backing::User {
                pages,
                first_offset,
                ..
            } => for_each_page(pages, first_offset + off, data.len(), |page, po, at, n| {
                // SAFETY: `page` is pinned by the umem; `po + n <= PAGE_SIZE`;
                // `data[at..at + n]` is in bounds (`for_each_page`).
                unsafe {
                    bindings::rxe_rs_memcpy_to_page(page, po, data.as_ptr().add(at).cast(), n)
                }
            }),
        }
    }

    /// Copies from the MR at `iova` into `out`.
    pub(crate) fn read(&self, iova: u64, out: &mut [u8]) -> Result {
        let off = self.offset_of(iova, out.len())?;
        match &self.backing {
            Backing::Dma => {
                // SAFETY: As in `write`.
                unsafe {
                    core::ptr::copy_nonoverlapping(iova as *const u8, out.as_mut_ptr(), out.len())
                };
                Ok(())
            }
            Backing::User {
                pages,
                first_offset,
                ..
            } => {
                let dst = out.as_mut_ptr();
                for_each_page(pages, first_offset + off, out.len(), |page, po, at, n| {
                    // SAFETY: As in `write`, the other way.
                    unsafe { bindings::rxe_rs_memcpy_from_page(dst.add(at).cast(), page, po, n) }
                })
            }
        }
    }

    /// The 64-bit word at `iova` for an atomic operation, as a pointer into
    /// a mapped page, passed to `f` while mapped. `EINVAL` if unaligned.
    pub(crate) fn with_u64<R>(&self, iova: u64, f: impl FnOnce(*mut u64) -> R) -> Result<R> {
        if iova % 8 != 0 {
            return Err(EINVAL);
        }
        let off = self.offset_of(iova, 8)?;
        match &self.backing {
            Backing::Dma => Ok(f(iova as *mut u64)),
            Backing::User {
                pages,
                first_offset,
                ..
            } => {
                let at = first_offset + off;
                let page = pages.get((at >> PAGE_SHIFT) as usize).ok_or(EFAULT)?;
                // SAFETY: A pinned page; the mapping is undone below.
                let va = unsafe { bindings::rxe_rs_kmap_local_page(page.as_ptr()) };
                // 8-aligned and within the page: iova and page start agree
                // modulo 8 because the MR's start offset is preserved.
                // SAFETY: `at % PAGE_SIZE + 8 <= PAGE_SIZE`.
                let r = f(unsafe { va.cast::<u8>().add((at % PAGE_SIZE) as usize) }.cast());
                // SAFETY: Mapped above, on this thread.
                unsafe { bindings::rxe_rs_kunmap_local(va) };
                Ok(r)
            }
        }
    }

    /// The MR's lkey.
    pub(crate) fn lkey(&self) -> u32 {
        self.lkey.load(Relaxed)
    }
}

/// Walks `len` bytes of `pages` from byte `start` of the first page,
/// calling `f(page, offset in page, offset in the buffer, bytes)`.
fn for_each_page(
    pages: &[NonNull<bindings::page>],
    start: u64,
    len: usize,
    mut f: impl FnMut(*mut bindings::page, usize, usize, usize),
) -> Result {
    let mut done = 0usize;
    let mut at = start;
    while done < len {
        let page = pages.get((at >> PAGE_SHIFT) as usize).ok_or(EFAULT)?;
        let po = (at % PAGE_SIZE) as usize;
        let n = (PAGE_SIZE as usize - po).min(len - done);
        f(page.as_ptr(), po, done, n);
        done += n;
        at += n as u64;
    }
    Ok(())
}

/// An MR as the RDMA core sees it.
///
/// INVARIANT: `index` numbers `mr` in the device's MR table until
/// `dereg_mr`.
#[repr(C)]
struct RxeMr {
    /// Must be first: the core's pointer to it is our pointer to the MR.
    ibmr: bindings::ib_mr,
    index: u32,
    mr: Arc<Mr>,
}

/// Finds the MR for `key`, checking the PD and the access asked for.
pub(crate) fn lookup(
    dev: &RxeDev,
    pd: *mut bindings::ib_pd,
    key: u32,
    kind: KeyKind,
    access: u32,
) -> Result<Arc<Mr>> {
    let mr = dev.mrs().with(key >> 8, |m| Arc::from(m)).ok_or(EINVAL)?;
    if !mr.matches(key, kind, pd as usize) || !mr.allows(access) {
        return Err(EACCES);
    }
    Ok(mr)
}

/// Finds the MR of a local SGE the driver writes into (receive buffers,
/// read responses, atomic results).
pub(crate) fn lookup_local_write(dev: &RxeDev, pd: usize, lkey: u32) -> Result<Arc<Mr>> {
    lookup(
        dev,
        pd as *mut _,
        lkey,
        KeyKind::Local,
        bindings::IB_ACCESS_LOCAL_WRITE,
    )
}

/// Adds the MR `build` makes to the device's table, gives it its keys
/// (`remote`: an rkey too) and makes the `ib_mr` for it.
fn publish(
    dev: &RxeDev,
    pd: *mut bindings::ib_pd,
    remote: bool,
    build: impl FnOnce() -> Result<Mr>,
) -> Result<*mut bindings::ib_mr> {
    dev.state().mr_count.take()?;
    let res = build()
        .and_then(|mr| Ok(Arc::new(mr, GFP_KERNEL)?))
        .and_then(|mr| publish_arc(dev, pd, remote, mr));
    if res.is_err() {
        dev.state().mr_count.give();
    }
    res
}

fn publish_arc(
    dev: &RxeDev,
    pd: *mut bindings::ib_pd,
    remote: bool,
    mr: Arc<Mr>,
) -> Result<*mut bindings::ib_mr> {
    // SAFETY: Plain data.
    let mut ibmr: bindings::ib_mr = unsafe { core::mem::zeroed() };
    ibmr.device = dev.ibdev();
    ibmr.pd = pd;
    ibmr.iova = mr.iova;
    ibmr.length = mr.length;
    let mut boxed = KBox::new(
        RxeMr {
            ibmr,
            index: 0,
            mr: mr.clone(),
        },
        GFP_KERNEL,
    )?;
    let index = dev.mrs().insert(mr.clone())?;
    let key = make_key(index);
    mr.lkey.store(key, Relaxed);
    let rkey = if remote { key } else { 0 };
    mr.rkey.store(rkey, Relaxed);
    boxed.index = index;
    boxed.ibmr.lkey = key;
    boxed.ibmr.rkey = rkey;
    Ok(KBox::into_raw(boxed).cast())
}

/// A fresh key for index `index`: the index and 8 random bits.
fn make_key(index: u32) -> u32 {
    // SAFETY: No preconditions.
    let r = unsafe { bindings::get_random_u32() };
    (index << 8) | (r & 0xff)
}

/// Turns an op's result into the core's `ERR_PTR` convention.
fn err_ptr(r: Result<*mut bindings::ib_mr>) -> *mut bindings::ib_mr {
    match r {
        Ok(p) => p,
        Err(e) => e.to_ptr(),
    }
}

/// The `get_dma_mr` callback: an MR over all kernel memory, for kernel
/// consumers.
///
/// # Safety
///
/// Called by the RDMA core with a live PD of one of our devices.
pub(crate) unsafe extern "C" fn get_dma_mr(
    pd: *mut bindings::ib_pd,
    access: kernel::ffi::c_int,
) -> *mut bindings::ib_mr {
    // SAFETY: Our PD's device.
    let dev = unsafe { RxeDev::from_ibdev((*pd).device) };
    let access = access as u32;
    err_ptr(publish(dev, pd, true, || {
        Ok(Mr {
            pd: Atomic::new(pd as usize),
            access: Atomic::new(access),
            iova: 0,
            length: u64::MAX,
            lkey: Atomic::new(0),
            rkey: Atomic::new(0),
            backing: Backing::Dma,
        })
    }))
}

/// The `reg_user_mr` callback: pins the pages of `[start, start + length)`
/// and registers them at `iova`.
///
/// # Safety
///
/// Called by the RDMA core with a live PD of one of our devices.
pub(crate) unsafe extern "C" fn reg_user_mr(
    pd: *mut bindings::ib_pd,
    start: u64,
    length: u64,
    iova: u64,
    access: kernel::ffi::c_int,
    dmah: *mut bindings::ib_dmah,
    _udata: *mut bindings::ib_udata,
) -> *mut bindings::ib_mr {
    let access = access as u32;
    if !dmah.is_null() || access & !ACCESS_SUPPORTED != 0 {
        return EOPNOTSUPP.to_ptr();
    }
    // SAFETY: Our PD's device.
    let dev = unsafe { RxeDev::from_ibdev((*pd).device) };
    if length == 0 || (start ^ iova) % PAGE_SIZE != 0 {
        // The core's page walk keeps `start`'s offset in the first page;
        // keys address bytes by `iova`, so both must agree within a page.
        return EINVAL.to_ptr();
    }
    err_ptr(publish(dev, pd, access & ACCESS_REMOTE != 0, || {
        // SAFETY: Our device; the core checks the range is user memory.
        let backing = unsafe { pin_user(dev, start, length, access) }?;
        Ok(Mr {
            pd: Atomic::new(pd as usize),
            access: Atomic::new(access),
            iova,
            length,
            lkey: Atomic::new(0),
            rkey: Atomic::new(0),
            backing,
        })
    }))
}

/// Pins the user pages of `[start, start + length)`.
///
/// # Safety
///
/// `dev` must be registered; called in the context of the owning process.
unsafe fn pin_user(dev: &RxeDev, start: u64, length: u64, access: u32) -> Result<Backing> {
    let mut umem: *mut bindings::ib_umem = core::ptr::null_mut();
    // SAFETY: Our device; `umem` is writable.
    kernel::error::to_result(unsafe {
        bindings::rxe_rs_umem_get(dev.ibdev(), start, length, access as i32, &mut umem)
    })?;
    let umem = NonNull::new(umem).ok_or(EFAULT)?;
    // SAFETY: A live umem.
    let n = unsafe { bindings::rxe_rs_umem_num_pages(umem.as_ptr()) };
    let mut pages = KVec::<NonNull<bindings::page>>::with_capacity(n, GFP_KERNEL);
    let filled = match &mut pages {
        Ok(v) => {
            // SAFETY: `v` has room for `n` entries, which the helper fills
            // in with the umem's pages (never null).
            let got =
                unsafe { bindings::rxe_rs_umem_pages(umem.as_ptr(), v.as_mut_ptr().cast(), n) };
            if got == n {
                // SAFETY: The first `n` entries are initialized.
                unsafe { v.inc_len(n) };
                true
            } else {
                false
            }
        }
        Err(_) => false,
    };
    if !filled {
        // SAFETY: Ours, unused.
        unsafe { bindings::ib_umem_release(umem.as_ptr()) };
        return Err(ENOMEM);
    }
    Ok(Backing::User {
        umem,
        pages: pages.map_err(|_| ENOMEM)?,
        first_offset: start % PAGE_SIZE,
    })
}

/// The `rereg_user_mr` callback: as rxe, only a new PD or new access
/// flags, in place (the pages stay pinned as they were).
///
/// # Safety
///
/// Called by the RDMA core for a live MR of ours (and a live PD when
/// `IB_MR_REREG_PD` is set).
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe extern "C" fn rereg_user_mr(
    ibmr: *mut bindings::ib_mr,
    flags: kernel::ffi::c_int,
    _start: u64,
    _length: u64,
    _iova: u64,
    access: kernel::ffi::c_int,
    pd: *mut bindings::ib_pd,
    _udata: *mut bindings::ib_udata,
) -> *mut bindings::ib_mr {
    let flags = flags as u32;
    let supported = bindings::IB_MR_REREG_PD | bindings::IB_MR_REREG_ACCESS;
    if flags & !supported != 0 {
        return EOPNOTSUPP.to_ptr();
    }
    // SAFETY: Ours, from `publish`.
    let rmr = unsafe { &mut *ibmr.cast::<RxeMr>() };
    let mr = &rmr.mr;
    let Backing::User { umem, .. } = &mr.backing else {
        return EINVAL.to_ptr();
    };
    // SAFETY: The MR's live umem.
    let ret = unsafe { bindings::ib_umem_check_rereg(umem.as_ptr(), flags as i32, access) };
    if ret != 0 {
        return Error::from_errno(ret).to_ptr();
    }
    let access = access as u32;
    if flags & bindings::IB_MR_REREG_ACCESS != 0 {
        if access & !ACCESS_SUPPORTED != 0 {
            return EOPNOTSUPP.to_ptr();
        }
        mr.access.store(access, Relaxed);
        // A region that loses remote access loses its rkey.
        let rkey = if access & ACCESS_REMOTE != 0 {
            mr.lkey()
        } else {
            0
        };
        mr.rkey.store(rkey, Relaxed);
        rmr.ibmr.rkey = rkey;
    }
    if flags & bindings::IB_MR_REREG_PD != 0 {
        if pd.is_null() {
            return EINVAL.to_ptr();
        }
        mr.pd.store(pd as usize, Relaxed);
    }
    // NULL: changed in place.
    core::ptr::null_mut()
}

/// The `dereg_mr` callback.
///
/// # Safety
///
/// Called by the RDMA core once for an MR this module made.
pub(crate) unsafe extern "C" fn dereg_mr(
    ibmr: *mut bindings::ib_mr,
    _udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    // SAFETY: Ours, from `KBox::into_raw` in `publish`.
    let mr = unsafe { KBox::from_raw(ibmr.cast::<RxeMr>()) };
    // SAFETY: Our MR's device.
    let dev = unsafe { RxeDev::from_ibdev(mr.ibmr.device) };
    // No new lookups; transfers in progress keep their reference, and the
    // pages go with the last one.
    drop(dev.mrs().remove(mr.index));
    dev.state().mr_count.give();
    drop(mr);
    0
}
