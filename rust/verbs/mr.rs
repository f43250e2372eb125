// SPDX-License-Identifier: GPL-2.0

//! Memory regions: user memory with pinned pages, the DMA MR of kernel
//! consumers, and the fast-registration MRs of kernel consumers
//! (`alloc_mr`, `map_mr_sg`, the `IB_WR_REG_MR` and `IB_WR_LOCAL_INV` work
//! requests and the responder's remote invalidation).
//!
//! An MR is found by its key (index << 8 | 8-bit key) in the device's
//! table; the packet path holds a reference ([`MrRef`]) while it copies, so
//! a deregistration never frees what a transfer is using.
//!
//! A user or DMA MR maps the same bytes for its whole life, so copies
//! through it take no lock. A fast-registration MR maps what its last
//! `IB_WR_REG_MR` said, and only while that registration is valid: its
//! state, key, access and page list sit under one lock, and every copy
//! through it runs under that lock after checking again that the key it
//! was found by still names a valid registration. So an invalidation, or a
//! new registration after one, waits for a copy in progress, and no copy
//! starts after it: once `IB_WR_LOCAL_INV` (or a send with invalidate)
//! has taken effect, the consumer may reuse its pages.

use core::ptr::NonNull;

use kernel::{
    new_spinlock_irq,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, SpinLockIrq, SpinLockIrqGuard,
    },
};

use crate::{
    bindings,
    mig::restore,
    verbs::{device::RxeDev, ucontext},
};

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

/// Where a user or DMA MR's bytes are.
enum Backing {
    /// Kernel virtual addresses: the iova is the address (kernel PDs only).
    Dma,
    /// Pinned user pages.
    User(UserPages),
}

/// The pinned pages of a user MR.
///
/// INVARIANT: `umem` is a live `ib_umem` owned by this struct; `pages` are
/// its pages in order, the first holding the MR's start at `first_offset`.
struct UserPages {
    umem: NonNull<bindings::ib_umem>,
    /// One per page: 8 bytes for each 4 KiB registered, more than kmalloc
    /// gives for an MR above 2 GiB.
    pages: KVVec<NonNull<bindings::page>>,
    first_offset: u64,
}

impl Drop for UserPages {
    fn drop(&mut self) {
        // SAFETY: Owned (invariant); the MR's last reference is gone, so no
        // copy is in progress.
        unsafe { bindings::ib_umem_release(self.umem.as_ptr()) };
    }
}

/// A user or DMA MR: its bytes never move.
struct Fixed {
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

/// The MR pages `map_mr_sg` found for a fast-registration MR.
///
/// INVARIANT: `n <= addrs.len()`; `page_size` is a power of two.
struct PageList {
    /// The kernel virtual address (rxe maps DMA virtually) of each MR
    /// page, aligned to `page_size`: room for `max_num_sg`, `n` in use.
    addrs: KVVec<u64>,
    n: usize,
    page_size: u64,
    /// Where the mapped bytes start in the first page.
    first_offset: u64,
}

impl PageList {
    /// Room for `max` MR pages, none mapped.
    fn new(max: usize) -> Result<Self> {
        let mut addrs = KVVec::new();
        addrs.resize(max, 0u64, GFP_KERNEL)?;
        Ok(PageList {
            addrs,
            n: 0,
            page_size: PAGE_SIZE,
            first_offset: 0,
        })
    }

    /// Makes this list a copy of `other` (same capacity: no allocation).
    fn copy_from(&mut self, other: &PageList) -> Result {
        let src = other.addrs.get(..other.n).ok_or(EINVAL)?;
        let dst = self.addrs.get_mut(..src.len()).ok_or(EINVAL)?;
        for (d, s) in dst.iter_mut().zip(src) {
            *d = *s;
        }
        self.n = src.len();
        self.page_size = other.page_size;
        self.first_offset = other.first_offset;
        Ok(())
    }

    /// How many bytes the list maps from its first mapped byte on.
    fn mapped_len(&self) -> Option<u64> {
        (self.n as u64)
            .checked_mul(self.page_size)?
            .checked_sub(self.first_offset)
    }
}

/// The registration of a fast-registration MR.
struct FastReg {
    /// VALID (the registration below is in force) or FREE.
    valid: bool,
    /// The lkey and the rkey: one key for a fast-registration MR.
    key: u32,
    access: u32,
    iova: u64,
    length: u64,
    /// The pages registered: what `staged` held at the `IB_WR_REG_MR`.
    live: PageList,
    /// What the last `map_mr_sg` built, for the next `IB_WR_REG_MR`.
    staged: PageList,
}

impl FastReg {
    /// A FREE registration with room for `max` MR pages.
    fn new(max: usize) -> Result<Self> {
        Ok(FastReg {
            valid: false,
            key: 0,
            access: 0,
            iova: 0,
            length: 0,
            live: PageList::new(max)?,
            staged: PageList::new(max)?,
        })
    }

    /// Whether the registration is in force for `key` and `access`.
    fn admits(&self, key: u32, access: u32) -> Result {
        if !self.valid || self.key != key || self.access & access != access {
            return Err(EACCES);
        }
        Ok(())
    }
}

/// What kind of MR, and what the packet path needs of it.
enum Kind {
    Fixed(Fixed),
    /// A fast-registration MR (`IB_MR_TYPE_MEM_REG`).
    Fast(Pin<KBox<SpinLockIrq<FastReg>>>),
}

/// What the packet path needs of an MR.
pub(crate) struct Mr {
    /// The PD, compared by address only (`rereg` may change a user MR's).
    pd: Atomic<usize>,
    kind: Kind,
}

// SAFETY: Pages and the umem are not tied to a thread; a fixed MR's mapping
// is immutable after creation, a fast-registration MR's is only read or
// written under its lock.
unsafe impl Send for Mr {}
// SAFETY: As above.
unsafe impl Sync for Mr {}

/// Which key a lookup is for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyKind {
    /// An lkey in a local SGE.
    Local,
    /// An rkey from the wire.
    Remote,
}

/// Where byte `off` of a registration is: a page, the byte's offset in it,
/// and how many bytes from there on are in that page (at least one).
struct Span {
    page: NonNull<bindings::page>,
    at: usize,
    len: usize,
}

/// A registration's bytes, page by page.
trait Pages {
    /// Where byte `off` (counted from the registration's first byte) is.
    fn locate(&self, off: u64) -> Option<Span>;
}

impl Pages for UserPages {
    fn locate(&self, off: u64) -> Option<Span> {
        let at = self.first_offset.checked_add(off)?;
        let page = *self.pages.get(usize::try_from(at >> PAGE_SHIFT).ok()?)?;
        let po = (at % PAGE_SIZE) as usize;
        Some(Span {
            page,
            at: po,
            len: PAGE_SIZE as usize - po,
        })
    }
}

impl Pages for PageList {
    fn locate(&self, off: u64) -> Option<Span> {
        let at = self.first_offset.checked_add(off)?;
        // A power of two (invariant): shifts and masks, no division.
        let idx = usize::try_from(at.checked_shr(self.page_size.trailing_zeros())?).ok()?;
        let within = at & self.page_size.wrapping_sub(1);
        let base = *self.addrs.get(..self.n)?.get(idx)?;
        let va = base.checked_add(within)?;
        let po = va % PAGE_SIZE;
        // SAFETY: Address arithmetic only. `va` lies in an MR page the
        // consumer mapped (with `ib_dma_map_sg`, which gives kernel virtual
        // addresses on a virtual-DMA device) and keeps for as long as the
        // registration is valid (the verbs contract, as with the C rxe).
        let page = NonNull::new(unsafe { bindings::rxe_rs_virt_dma_to_page(va) })?;
        Some(Span {
            page,
            at: po as usize,
            // The rest of the MR page, or of the CPU page: an MR page
            // larger than a CPU page is contiguous in the linear map.
            len: (self.page_size - within).min(PAGE_SIZE - po) as usize,
        })
    }
}

/// The offset of `[iova, iova + len)` in a registration of `length` bytes
/// at `base`, if it lies within.
fn offset_in(base: u64, length: u64, iova: u64, len: u64) -> Result<u64> {
    let off = iova.checked_sub(base).ok_or(EFAULT)?;
    let end = off.checked_add(len).ok_or(EFAULT)?;
    if end > length {
        return Err(EFAULT);
    }
    Ok(off)
}

/// Walks `len` bytes of a registration from byte `off`, calling
/// `f(page, offset in page, offset in the buffer, bytes)`.
fn walk(
    m: &impl Pages,
    off: u64,
    len: usize,
    mut f: impl FnMut(*mut bindings::page, usize, usize, usize),
) -> Result {
    let mut done = 0usize;
    while done < len {
        let s = m.locate(off + done as u64).ok_or(EFAULT)?;
        let n = s.len.min(len - done);
        f(s.page.as_ptr(), s.at, done, n);
        done += n;
    }
    Ok(())
}

/// Copies `data` to byte `off` of a registration.
fn write_pages(m: &impl Pages, off: u64, data: &[u8]) -> Result {
    walk(m, off, data.len(), |page, po, at, n| {
        // SAFETY: `page` is one of the registration's (pinned by its umem,
        // or kept by the consumer while the registration is valid);
        // `po + n <= PAGE_SIZE`; `data[at..at + n]` is in bounds (`walk`).
        unsafe { bindings::rxe_rs_memcpy_to_page(page, po, data.as_ptr().add(at).cast(), n) }
    })
}

/// Copies from byte `off` of a registration into `out`.
fn read_pages(m: &impl Pages, off: u64, out: &mut [u8]) -> Result {
    let dst = out.as_mut_ptr();
    walk(m, off, out.len(), |page, po, at, n| {
        // SAFETY: As in `write_pages`, the other way.
        unsafe { bindings::rxe_rs_memcpy_from_page(dst.add(at).cast(), page, po, n) }
    })
}

/// Runs `f` on the 64-bit word at byte `off` of a registration, mapped.
/// `EINVAL` unless the word is aligned and within one page.
fn with_u64_pages<R>(m: &impl Pages, off: u64, f: impl FnOnce(*mut u64) -> R) -> Result<R> {
    let s = m.locate(off).ok_or(EFAULT)?;
    if s.at % 8 != 0 || s.len < 8 {
        return Err(EINVAL);
    }
    // SAFETY: A page of the registration (as in `write_pages`); the
    // mapping is undone below.
    let va = unsafe { bindings::rxe_rs_kmap_local_page(s.page.as_ptr()) };
    // SAFETY: `s.at + 8 <= PAGE_SIZE` (checked above).
    let r = f(unsafe { va.cast::<u8>().add(s.at) }.cast());
    // SAFETY: Mapped above, on this thread.
    unsafe { bindings::rxe_rs_kunmap_local(va) };
    Ok(r)
}

impl Fixed {
    /// Whether the MR allows `access` (`IB_ACCESS_*` bits).
    fn allows(&self, access: u32) -> bool {
        self.access.load(Relaxed) & access == access
    }

    /// Whether `key` names this MR for `kind`.
    fn matches(&self, key: u32, kind: KeyKind) -> bool {
        let k = match kind {
            KeyKind::Local => self.lkey.load(Relaxed),
            KeyKind::Remote => self.rkey.load(Relaxed),
        };
        k == key && k != 0
    }

    fn write(&self, iova: u64, data: &[u8]) -> Result {
        let off = offset_in(self.iova, self.length, iova, data.len() as u64)?;
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
            Backing::User(u) => write_pages(u, off, data),
        }
    }

    fn read(&self, iova: u64, out: &mut [u8]) -> Result {
        let off = offset_in(self.iova, self.length, iova, out.len() as u64)?;
        match &self.backing {
            Backing::Dma => {
                // SAFETY: As in `write`.
                unsafe {
                    core::ptr::copy_nonoverlapping(iova as *const u8, out.as_mut_ptr(), out.len())
                };
                Ok(())
            }
            Backing::User(u) => read_pages(u, off, out),
        }
    }

    fn with_u64<R>(&self, iova: u64, f: impl FnOnce(*mut u64) -> R) -> Result<R> {
        let off = offset_in(self.iova, self.length, iova, 8)?;
        match &self.backing {
            Backing::Dma => Ok(f(iova as *mut u64)),
            Backing::User(u) => with_u64_pages(u, off, f),
        }
    }
}

impl FastReg {
    fn write(&self, iova: u64, data: &[u8]) -> Result {
        let off = offset_in(self.iova, self.length, iova, data.len() as u64)?;
        write_pages(&self.live, off, data)
    }

    fn read(&self, iova: u64, out: &mut [u8]) -> Result {
        let off = offset_in(self.iova, self.length, iova, out.len() as u64)?;
        read_pages(&self.live, off, out)
    }

    fn with_u64<R>(&self, iova: u64, f: impl FnOnce(*mut u64) -> R) -> Result<R> {
        let off = offset_in(self.iova, self.length, iova, 8)?;
        with_u64_pages(&self.live, off, f)
    }
}

/// An MR found by a key, for some access: what the packet path copies
/// through.
pub(crate) struct MrRef {
    mr: Arc<Mr>,
    /// The key it was found by and the access asked for: a
    /// fast-registration MR is checked against them again at each copy.
    key: u32,
    access: u32,
}

impl MrRef {
    /// The key the MR was found by.
    pub(crate) fn key(&self) -> u32 {
        self.key
    }
}

/// A fast-registration MR's registration, locked, or a fixed MR: what a
/// copy goes through.
enum Access<'a> {
    Fixed(&'a Fixed),
    Fast(SpinLockIrqGuard<'a, FastReg>),
}

impl MrRef {
    /// The MR to copy through: for a fast-registration MR, its
    /// registration, locked until the copy is done, if it still admits the
    /// key and access the MR was found for.
    fn access(&self) -> Result<Access<'_>> {
        match &self.mr.kind {
            Kind::Fixed(f) => Ok(Access::Fixed(f)),
            Kind::Fast(lock) => {
                let reg = lock.lock();
                reg.admits(self.key, self.access)?;
                Ok(Access::Fast(reg))
            }
        }
    }

    /// Whether `[iova, iova + len)` lies within the MR: checked for a whole
    /// request before any of it is carried out.
    pub(crate) fn covers(&self, iova: u64, len: u32) -> Result {
        match self.access()? {
            Access::Fixed(f) => offset_in(f.iova, f.length, iova, len.into()).map(drop),
            Access::Fast(reg) => offset_in(reg.iova, reg.length, iova, len.into()).map(drop),
        }
    }

    /// Copies `data` into the MR at `iova`.
    pub(crate) fn write(&self, iova: u64, data: &[u8]) -> Result {
        match self.access()? {
            Access::Fixed(f) => f.write(iova, data),
            Access::Fast(reg) => reg.write(iova, data),
        }
    }

    /// Copies from the MR at `iova` into `out`.
    pub(crate) fn read(&self, iova: u64, out: &mut [u8]) -> Result {
        match self.access()? {
            Access::Fixed(f) => f.read(iova, out),
            Access::Fast(reg) => reg.read(iova, out),
        }
    }

    /// The 64-bit word at `iova` for an atomic operation, as a pointer into
    /// a mapped page, passed to `f` while mapped (and, for a
    /// fast-registration MR, while it stays registered). `EINVAL` if
    /// unaligned.
    pub(crate) fn with_u64<R>(&self, iova: u64, f: impl FnOnce(*mut u64) -> R) -> Result<R> {
        if iova % 8 != 0 {
            return Err(EINVAL);
        }
        match self.access()? {
            Access::Fixed(m) => m.with_u64(iova, f),
            Access::Fast(reg) => reg.with_u64(iova, f),
        }
    }
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

/// The driver's MR behind an `ib_mr` of ours, without touching the
/// `ib_mr` (which the core and the consumer write meanwhile).
///
/// # Safety
///
/// `ibmr` must be an MR this module made, not yet deregistered.
unsafe fn mr_of<'a>(ibmr: *mut bindings::ib_mr) -> &'a Arc<Mr> {
    // SAFETY: `ibmr` is the first field of a live `#[repr(C)]` `RxeMr`
    // (caller); only the `mr` field is borrowed, which nobody writes after
    // `publish`.
    unsafe { &*core::ptr::addr_of!((*ibmr.cast::<RxeMr>()).mr) }
}

/// What a checkpoint holds of a user MR.
pub(crate) struct MrDump {
    /// Its PD (the `ib_pd`'s address).
    pub(crate) pd: usize,
    pub(crate) lkey: u32,
    pub(crate) rkey: u32,
    pub(crate) access: u32,
    /// Its first byte in the process.
    pub(crate) start: u64,
    pub(crate) iova: u64,
    pub(crate) length: u64,
}

/// What a checkpoint holds of the MR `ibmr`; `EINVAL` for an MR user space
/// cannot register (DMA, fast registration).
///
/// # Safety
///
/// `ibmr` must be an MR this module made, not yet deregistered.
pub(crate) unsafe fn dump_of(ibmr: *mut bindings::ib_mr) -> Result<MrDump> {
    // SAFETY: As the caller promises.
    let mr = unsafe { mr_of(ibmr) };
    let Kind::Fixed(f) = &mr.kind else {
        return Err(EINVAL);
    };
    let Backing::User(u) = &f.backing else {
        return Err(EINVAL);
    };
    // SAFETY: The MR's live umem (`UserPages` invariant).
    let start = unsafe { (*u.umem.as_ptr()).address } as u64;
    Ok(MrDump {
        pd: mr.pd.load(Relaxed),
        lkey: f.lkey.load(Relaxed),
        rkey: f.rkey.load(Relaxed),
        access: f.access.load(Relaxed),
        start,
        iova: f.iova,
        length: f.length,
    })
}

/// The table index of an MR of ours, as `post_send` puts it in an
/// `IB_WR_REG_MR` WQE.
///
/// # Safety
///
/// As for [`mr_of`].
pub(crate) unsafe fn index_of(ibmr: *mut bindings::ib_mr) -> u32 {
    // SAFETY: As in `mr_of`: `index` is not written after `publish`.
    unsafe { core::ptr::addr_of!((*ibmr.cast::<RxeMr>()).index).read() }
}

/// The MR numbered `index`, if there is one.
fn by_index(dev: &RxeDev, index: u32) -> Option<Arc<Mr>> {
    dev.mrs().with(index, Arc::clone)
}

/// Finds the MR for `key`, checking the PD and the access asked for.
pub(crate) fn lookup(
    dev: &RxeDev,
    pd: *mut bindings::ib_pd,
    key: u32,
    kind: KeyKind,
    access: u32,
) -> Result<MrRef> {
    let mr = by_index(dev, key >> 8).ok_or(EINVAL)?;
    if mr.pd.load(Relaxed) != pd as usize {
        return Err(EACCES);
    }
    match &mr.kind {
        Kind::Fixed(f) if f.matches(key, kind) && f.allows(access) => {}
        Kind::Fixed(_) => return Err(EACCES),
        // One key serves as lkey and rkey; the registration must be valid.
        Kind::Fast(lock) => lock.lock().admits(key, access)?,
    }
    Ok(MrRef { mr, key, access })
}

/// Finds the MR of a local SGE the driver writes into (receive buffers,
/// read responses, atomic results).
pub(crate) fn lookup_local_write(dev: &RxeDev, pd: usize, lkey: u32) -> Result<MrRef> {
    lookup(
        dev,
        pd as *mut _,
        lkey,
        KeyKind::Local,
        bindings::IB_ACCESS_LOCAL_WRITE,
    )
}

/// What an `IB_WR_REG_MR` work request asks for.
pub(crate) struct RegMr {
    /// The MR's table index (from its `ib_mr`, when it was posted).
    pub(crate) index: u32,
    /// The new key: the MR's index and a new low byte.
    pub(crate) key: u32,
    pub(crate) access: u32,
    /// The `ib_mr`'s iova and length when it was posted: `map_mr_sg` set
    /// them, and a consumer may have moved the iova since.
    pub(crate) iova: u64,
    pub(crate) length: u64,
}

/// Carries out an `IB_WR_REG_MR` for a QP in PD `pd`, as rxe does: the MR
/// must be a FREE fast-registration MR of the same PD, and the key must
/// keep its index; then the pages `map_mr_sg` found become the mapping of
/// `[iova, iova + length)`, with the new key and access. `EINVAL` if not.
pub(crate) fn register(dev: &RxeDev, pd: usize, r: &RegMr) -> Result {
    let mr = by_index(dev, r.index).ok_or(EINVAL)?;
    let Kind::Fast(lock) = &mr.kind else {
        return Err(EINVAL);
    };
    if mr.pd.load(Relaxed) != pd || r.key >> 8 != r.index || !access_ok(r.access) {
        return Err(EINVAL);
    }
    let mut guard = lock.lock();
    let reg = &mut *guard;
    if reg.valid {
        return Err(EINVAL);
    }
    // The length must be what the pages map (a consumer may have changed
    // the `ib_mr` since `map_mr_sg`).
    match reg.staged.mapped_len() {
        Some(m) if r.length <= m => {}
        _ => return Err(EINVAL),
    }
    reg.live.copy_from(&reg.staged)?;
    reg.key = r.key;
    reg.access = r.access;
    reg.iova = r.iova;
    reg.length = r.length;
    reg.valid = true;
    Ok(())
}

/// Whether a fast registration may ask for `access`: flags rxe-rs supports,
/// and remote write or atomic access only with local write (IBTA, as
/// `ib_check_mr_access` says for other registrations).
fn access_ok(access: u32) -> bool {
    let needs_local = bindings::IB_ACCESS_REMOTE_WRITE | bindings::IB_ACCESS_REMOTE_ATOMIC;
    access & !ACCESS_SUPPORTED == 0
        && (access & needs_local == 0 || access & bindings::IB_ACCESS_LOCAL_WRITE != 0)
}

/// Invalidates the MR `key` names for a QP in PD `pd` (`IB_WR_LOCAL_INV`,
/// or a send with invalidate): it must be a fast-registration MR of that
/// PD and `key` its current key; it goes to FREE (invalidating a FREE one
/// again is allowed, as in rxe). `EINVAL` if not.
pub(crate) fn invalidate(dev: &RxeDev, pd: usize, key: u32) -> Result {
    let mr = by_index(dev, key >> 8).ok_or(EINVAL)?;
    // User and DMA MRs cannot be invalidated (they are not `MEM_REG`).
    let Kind::Fast(lock) = &mr.kind else {
        return Err(EINVAL);
    };
    let mut reg = lock.lock();
    // rxe does not check the PD; the IBTA asks for it, and without it a
    // QP could invalidate another PD's (another user's) registration.
    if reg.key != key || mr.pd.load(Relaxed) != pd {
        return Err(EINVAL);
    }
    reg.valid = false;
    Ok(())
}

/// Adds the MR `build` makes to the device's table, gives it its keys
/// (`remote`: an rkey too) and makes the `ib_mr` for it.
fn publish(
    dev: &RxeDev,
    pd: *mut bindings::ib_pd,
    remote: bool,
    build: impl FnOnce() -> Result<Mr>,
) -> Result<*mut bindings::ib_mr> {
    publish_keyed(dev, pd, remote, None, build)
}

/// [`publish`], with the keys `keys` (lkey, rkey: a restored MR's) rather
/// than fresh ones; `EBUSY` if their index is taken.
fn publish_keyed(
    dev: &RxeDev,
    pd: *mut bindings::ib_pd,
    remote: bool,
    keys: Option<(u32, u32)>,
    build: impl FnOnce() -> Result<Mr>,
) -> Result<*mut bindings::ib_mr> {
    dev.state().mr_count.take()?;
    let res = build()
        .and_then(|mr| Ok(Arc::new(mr, GFP_KERNEL)?))
        .and_then(|mr| publish_arc(dev, pd, remote, keys, mr));
    if res.is_err() {
        dev.state().mr_count.give();
    }
    res
}

fn publish_arc(
    dev: &RxeDev,
    pd: *mut bindings::ib_pd,
    remote: bool,
    keys: Option<(u32, u32)>,
    mr: Arc<Mr>,
) -> Result<*mut bindings::ib_mr> {
    // SAFETY: Plain data.
    let mut ibmr: bindings::ib_mr = unsafe { core::mem::zeroed() };
    ibmr.device = dev.ibdev();
    ibmr.pd = pd;
    if let Kind::Fixed(f) = &mr.kind {
        ibmr.iova = f.iova;
        ibmr.length = f.length;
    }
    let mut boxed = KBox::new(
        RxeMr {
            ibmr,
            index: 0,
            mr: mr.clone(),
        },
        GFP_KERNEL,
    )?;
    let (index, key) = match keys {
        Some((lkey, _)) => {
            let index = lkey >> 8;
            dev.mrs().insert_at_with(index, |_| Ok(mr.clone()))?;
            (index, lkey)
        }
        None => {
            let index = dev.mrs().insert(mr.clone())?;
            (index, make_key(index))
        }
    };
    let rkey = if remote { key } else { 0 };
    match &mr.kind {
        Kind::Fixed(f) => {
            f.lkey.store(key, Relaxed);
            f.rkey.store(rkey, Relaxed);
        }
        // FREE until registered; the key is what `IB_WR_REG_MR` must keep
        // the index of and `IB_WR_LOCAL_INV` must name.
        Kind::Fast(lock) => lock.lock().key = key,
    }
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

/// A user or DMA MR.
fn fixed(pd: *mut bindings::ib_pd, access: u32, iova: u64, length: u64, backing: Backing) -> Mr {
    Mr {
        pd: Atomic::new(pd as usize),
        kind: Kind::Fixed(Fixed {
            access: Atomic::new(access),
            iova,
            length,
            lkey: Atomic::new(0),
            rkey: Atomic::new(0),
            backing,
        }),
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
        Ok(fixed(pd, access, 0, u64::MAX, Backing::Dma))
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
    udata: *mut bindings::ib_udata,
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
    err_ptr((|| {
        // SAFETY: The core's udata for the call (the MR's handle is not
        // known yet: the restore checks it at its end).
        let claim = unsafe { restore::Claim::take(udata, ucontext::ObjKind::Mr, None) }?;
        let keys = match &claim {
            Some(c) => {
                let m = c.mr()?;
                // SAFETY: A live PD of ours.
                let pd_handle = unsafe { bindings::rxe_rs_pd_handle(pd) };
                if (m.start, m.length, m.iova, m.access, m.pd)
                    != (start, length, iova, access, pd_handle)
                {
                    return Err(EINVAL);
                }
                Some((m.lkey, m.rkey))
            }
            None => None,
        };
        // SAFETY: The core's udata for the call.
        let slot = unsafe { ucontext::Slot::new(udata) }?;
        let ibmr = publish_keyed(dev, pd, access & ACCESS_REMOTE != 0, keys, || {
            // SAFETY: Our device; the core checks the range is user memory.
            let pages = unsafe { pin_user(dev, start, length, access) }?;
            Ok(fixed(pd, access, iova, length, Backing::User(pages)))
        })?;
        // SAFETY: The MR is made; `dereg_mr` forgets it.
        unsafe { slot.fill(ibmr.cast(), ucontext::ObjKind::Mr) };
        if let Some(c) = claim {
            c.done();
        }
        Ok(ibmr)
    })())
}

/// Pins the user pages of `[start, start + length)`.
///
/// # Safety
///
/// `dev` must be registered; called in the context of the owning process.
unsafe fn pin_user(dev: &RxeDev, start: u64, length: u64, access: u32) -> Result<UserPages> {
    let mut umem: *mut bindings::ib_umem = core::ptr::null_mut();
    // SAFETY: Our device; `umem` is writable.
    kernel::error::to_result(unsafe {
        bindings::rxe_rs_umem_get(dev.ibdev(), start, length, access as i32, &mut umem)
    })?;
    let umem = NonNull::new(umem).ok_or(EFAULT)?;
    // SAFETY: A live umem.
    let n = unsafe { bindings::rxe_rs_umem_num_pages(umem.as_ptr()) };
    let mut pages = KVVec::<NonNull<bindings::page>>::with_capacity(n, GFP_KERNEL);
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
    // INVARIANT: The umem's pages, in order, from `start`'s page on.
    Ok(UserPages {
        umem,
        pages: pages.map_err(|_| ENOMEM)?,
        first_offset: start % PAGE_SIZE,
    })
}

/// The `alloc_mr` callback: a fast-registration MR with room for
/// `max_num_sg` pages, FREE until an `IB_WR_REG_MR` registers it.
///
/// # Safety
///
/// Called by the RDMA core with a live PD of one of our devices.
pub(crate) unsafe extern "C" fn alloc_mr(
    pd: *mut bindings::ib_pd,
    mr_type: bindings::ib_mr_type,
    max_num_sg: u32,
) -> *mut bindings::ib_mr {
    // SAFETY: Our PD's device.
    let dev = unsafe { RxeDev::from_ibdev((*pd).device) };
    if mr_type != bindings::IB_MR_TYPE_MEM_REG {
        return EINVAL.to_ptr();
    }
    if max_num_sg > dev.attr().max_fast_reg_page_list_len {
        return EINVAL.to_ptr();
    }
    err_ptr(publish(dev, pd, true, || {
        let reg = FastReg::new(max_num_sg as usize)?;
        let lock = KBox::pin_init(new_spinlock_irq!(reg, "rxe_rs_mr_fast"), GFP_KERNEL)?;
        Ok(Mr {
            pd: Atomic::new(pd as usize),
            kind: Kind::Fast(lock),
        })
    }))
}

/// Whether a `map_mr_sg` page size is one the device advertises.
fn page_size_ok(dev: &RxeDev, page_size: u32) -> bool {
    page_size.is_power_of_two() && u64::from(page_size) & dev.attr().page_size_cap != 0
}

/// The `map_mr_sg` callback: the MR pages of a DMA-mapped SG list (at
/// most the MR's `max_num_sg`), for the next `IB_WR_REG_MR`. Returns how
/// many SG entries were mapped, as `ib_sg_to_pages` does.
///
/// # Safety
///
/// Called by the RDMA core for a fast-registration MR of ours with the
/// consumer's DMA-mapped SG list.
pub(crate) unsafe extern "C" fn map_mr_sg(
    ibmr: *mut bindings::ib_mr,
    sgl: *mut bindings::scatterlist,
    sg_nents: kernel::ffi::c_int,
    sg_offset: *mut kernel::ffi::c_uint,
) -> kernel::ffi::c_int {
    // SAFETY: Ours (caller).
    let mr = unsafe { mr_of(ibmr) };
    let Kind::Fast(lock) = &mr.kind else {
        return EINVAL.to_errno();
    };
    // SAFETY: The core set the page size for this call; the consumer does
    // not map one MR from two threads at once.
    let (dev, page_size) = unsafe { (RxeDev::from_ibdev((*ibmr).device), (*ibmr).page_size) };
    if !page_size_ok(dev, page_size) {
        return EINVAL.to_errno();
    }
    {
        let mut reg = lock.lock();
        reg.staged.n = 0;
        // INVARIANT: A power of two (checked above).
        reg.staged.page_size = u64::from(page_size);
        reg.staged.first_offset = 0;
    }
    // SAFETY: Our MR and the consumer's SG list; `set_page` is ours.
    let ret = unsafe { bindings::ib_sg_to_pages(ibmr, sgl, sg_nents, sg_offset, Some(set_page)) };
    // SAFETY: `ib_sg_to_pages` set the iova to the first mapped byte.
    let iova = unsafe { (*ibmr).iova };
    lock.lock().staged.first_offset = iova & u64::from(page_size).wrapping_sub(1);
    ret
}

/// `ib_sg_to_pages`'s callback: one more MR page (`-ENOMEM` when the MR
/// has no room left, which ends the mapping there).
///
/// # Safety
///
/// Called by `ib_sg_to_pages` from [`map_mr_sg`], with its MR.
unsafe extern "C" fn set_page(ibmr: *mut bindings::ib_mr, addr: u64) -> kernel::ffi::c_int {
    // SAFETY: The MR `map_mr_sg` passed on.
    let mr = unsafe { mr_of(ibmr) };
    let Kind::Fast(lock) = &mr.kind else {
        return EINVAL.to_errno();
    };
    let mut reg = lock.lock();
    let list = &mut reg.staged;
    let Some(slot) = list.addrs.get_mut(list.n) else {
        return ENOMEM.to_errno();
    };
    *slot = addr;
    // INVARIANT: `n` stays within `addrs` (the slot exists).
    list.n += 1;
    0
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
    let Kind::Fixed(f) = &mr.kind else {
        return EINVAL.to_ptr();
    };
    let Backing::User(u) = &f.backing else {
        return EINVAL.to_ptr();
    };
    // SAFETY: The MR's live umem.
    let ret = unsafe { bindings::ib_umem_check_rereg(u.umem.as_ptr(), flags as i32, access) };
    if ret != 0 {
        return Error::from_errno(ret).to_ptr();
    }
    let access = access as u32;
    if flags & bindings::IB_MR_REREG_ACCESS != 0 {
        if access & !ACCESS_SUPPORTED != 0 {
            return EOPNOTSUPP.to_ptr();
        }
        f.access.store(access, Relaxed);
        // A region that loses remote access loses its rkey.
        let rkey = if access & ACCESS_REMOTE != 0 {
            f.lkey.load(Relaxed)
        } else {
            0
        };
        f.rkey.store(rkey, Relaxed);
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
    udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    // SAFETY: The core's udata for the call, on the MR's context.
    unsafe { ucontext::forget(udata, ibmr.cast()) };
    // SAFETY: Ours, from `KBox::into_raw` in `publish`.
    let mr = unsafe { KBox::from_raw(ibmr.cast::<RxeMr>()) };
    // SAFETY: Our MR's device.
    let dev = unsafe { RxeDev::from_ibdev(mr.ibmr.device) };
    // No new lookups. Transfers in progress keep their reference: a user
    // MR's pages go with the last one; a fast-registration MR's belong to
    // the consumer, who may free them now, so no copy may touch them.
    drop(dev.mrs().remove(mr.index));
    if let Kind::Fast(lock) = &mr.mr.kind {
        lock.lock().valid = false;
    }
    dev.state().mr_count.give();
    drop(mr);
    0
}
