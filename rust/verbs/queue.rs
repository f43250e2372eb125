// SPDX-License-Identifier: GPL-2.0

//! Work and completion rings shared with user space (`struct rxe_queue_buf`
//! of the rxe user ABI): a header with the element size, the index mask and
//! the producer and consumer indices on cache lines of their own, then a
//! power-of-two number of fixed-size slots, one always left empty.
//!
//! The kernel owns one end of each ring and keeps its own copy of that
//! index; the other end's index lives in memory user space can write at
//! any time, so it is read once, masked, and never trusted beyond that. An
//! element the kernel consumes is copied out before it is looked at.

use core::ptr::NonNull;

use kernel::{
    prelude::*,
    sync::atomic::{Acquire, Atomic, Relaxed, Release},
};

use crate::{bindings, proto::image::record::RingInfo, verbs::mmap::MmapEntry};

/// Offsets in `struct rxe_queue_buf`.
const OFF_LOG2_ELEM: usize = 0;
const OFF_INDEX_MASK: usize = 4;
const OFF_PRODUCER: usize = 128;
const OFF_CONSUMER: usize = 256;
/// Size of the header: the slots start here.
pub(crate) const HDR_SIZE: usize = 384;

/// Slots are at least a cache line, as in rxe (user space reads the size).
pub(crate) const MIN_ELEM_SIZE: usize = 64;

/// Which end of the ring the kernel is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The kernel produces, the client consumes (completion queues).
    Producer,
    /// The client produces, the kernel consumes (send/receive queues).
    Consumer,
}

/// A ring buffer in `vmalloc_user` memory.
///
/// INVARIANT: `buf` points to `size` bytes from `vmalloc_user`, of which the
/// first `HDR_SIZE` are the header, followed by `mask + 1` slots of
/// `1 << log2_elem` bytes; `index <= mask`. The memory is owned by `mmap`
/// when it is `Some` (the entry frees it after the queue removes it) and by
/// the queue otherwise.
pub(crate) struct Queue {
    buf: NonNull<u8>,
    size: usize,
    log2_elem: u32,
    mask: u32,
    /// The kernel's own index: the producer's or the consumer's.
    index: u32,
    end: End,
    mmap: Option<NonNull<MmapEntry>>,
    /// Set by [`Queue::detach`]: the memory is gone; the ring reads as
    /// empty and full, and nothing touches `buf`.
    dead: bool,
}

// SAFETY: The buffer is plain memory; access is serialized by whoever owns
// the `Queue` (its methods take `&mut self` for anything that moves the
// kernel's index).
unsafe impl Send for Queue {}
// SAFETY: Shared methods only read the header and the slots.
unsafe impl Sync for Queue {}

impl Queue {
    /// A ring holding at least `num_elem` elements of `elem_size` bytes.
    /// Returns the queue and the number of elements it really holds.
    pub(crate) fn new(num_elem: u32, elem_size: usize, end: End) -> Result<(Self, u32)> {
        let elem = elem_size
            .max(MIN_ELEM_SIZE)
            .checked_next_power_of_two()
            .ok_or(EINVAL)?;
        let slots = num_elem
            .checked_add(1)
            .and_then(u32::checked_next_power_of_two)
            .ok_or(EINVAL)?;
        let size = (slots as usize)
            .checked_mul(elem)
            .and_then(|s| s.checked_add(HDR_SIZE))
            .ok_or(EINVAL)?;
        // SAFETY: Any size is accepted; the result is checked.
        let buf = unsafe { bindings::rxe_rs_vmalloc_user(size) };
        let buf = NonNull::new(buf.cast::<u8>()).ok_or(ENOMEM)?;
        let q = Queue {
            buf,
            size,
            log2_elem: elem.trailing_zeros(),
            mask: slots - 1,
            index: 0,
            end,
            mmap: None,
            dead: false,
        };
        q.hdr_u32(OFF_LOG2_ELEM).store(q.log2_elem, Release);
        q.hdr_u32(OFF_INDEX_MASK).store(q.mask, Release);
        Ok((q, slots - 1))
    }

    /// The buffer and its size, for mapping it to user space.
    pub(crate) fn buffer(&self) -> (NonNull<u8>, usize) {
        (self.buf, self.size)
    }

    /// Hands the buffer's ownership to a user mapping entry, which frees it.
    pub(crate) fn set_mapped(&mut self, entry: NonNull<MmapEntry>) {
        self.mmap = Some(entry);
    }

    /// Number of elements the ring can hold.
    pub(crate) fn capacity(&self) -> u32 {
        self.mask
    }

    /// Where the ring is and how it is shaped, for a checkpoint. `EINVAL`
    /// for a ring user space cannot map (a kernel object's, or one gone).
    pub(crate) fn info(&self) -> Result<RingInfo> {
        let entry = self.mmap.filter(|_| !self.dead).ok_or(EINVAL)?;
        Ok(RingInfo {
            capacity: self.mask,
            index: self.index,
            log2_elem: self.log2_elem,
            mmap_size: u32::try_from(self.size).map_err(|_| EINVAL)?,
            // SAFETY: The entry stays inserted until `release`, which has
            // not run (`dead` is clear).
            mmap_offset: unsafe { crate::verbs::mmap::offset(entry) },
        })
    }

    /// Takes a checkpointed ring's contents: `bytes` (this ring's size)
    /// become the buffer, `index` the kernel's index; the header keeps this
    /// ring's shape and says the kernel's index, whatever `bytes` held
    /// there. `EINVAL` if they do not fit.
    pub(crate) fn restore(&mut self, bytes: &[u8], index: u32) -> Result {
        if self.dead || bytes.len() != self.size || index > self.mask {
            return Err(EINVAL);
        }
        // SAFETY: `buf` holds `size` bytes (invariant), `bytes`' length;
        // the ring is not shared yet with anyone who reads it meanwhile
        // (user space maps it after the create returns).
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), self.buf.as_ptr(), self.size) };
        self.hdr_u32(OFF_LOG2_ELEM).store(self.log2_elem, Relaxed);
        self.hdr_u32(OFF_INDEX_MASK).store(self.mask, Relaxed);
        self.index = index;
        let mine = match self.end {
            End::Producer => OFF_PRODUCER,
            End::Consumer => OFF_CONSUMER,
        };
        self.hdr_u32(mine).store(index, Release);
        Ok(())
    }

    /// Copies the whole buffer, header and slots, into `out` (its size).
    pub(crate) fn copy_all(&self, out: &mut [u8]) -> Result {
        if self.dead || out.len() != self.size {
            return Err(EINVAL);
        }
        // SAFETY: `buf` holds `size` bytes (invariant), which is `out`'s
        // length. User space may write them meanwhile; the copy is only
        // data, as in `peek`.
        unsafe { core::ptr::copy_nonoverlapping(self.buf.as_ptr(), out.as_mut_ptr(), self.size) };
        Ok(())
    }

    /// A header word, as an atomic. Callers check `dead` first.
    fn hdr_u32(&self, off: usize) -> &Atomic<u32> {
        // SAFETY: `off` is one of the aligned header offsets, inside the
        // buffer (invariant); the word is only accessed atomically by us.
        unsafe { Atomic::from_ptr(self.buf.as_ptr().add(off).cast::<u32>()) }
    }

    /// Lets go of the memory now (the object that owns the ring is being
    /// destroyed, and the user context may go right after): a mapped ring's
    /// entry is removed, a kernel ring freed. The queue stays valid and
    /// empty.
    pub(crate) fn detach(&mut self) {
        if self.dead {
            return;
        }
        self.release();
        self.dead = true;
        self.index = 0;
    }

    /// Frees or gives up the memory (once).
    fn release(&mut self) {
        match self.mmap.take() {
            // SAFETY: The entry owns the buffer; removing it drops the
            // queue's reference, and the core frees it (and the buffer) once
            // no `mmap` call is using it.
            Some(entry) => unsafe { crate::verbs::mmap::remove(entry) },
            // SAFETY: Ours alone (invariant), from `vmalloc_user`, not yet
            // freed (`dead` is clear).
            None => unsafe { bindings::vfree(self.buf.as_ptr().cast()) },
        }
    }

    /// The other end's index, masked: user space may have written anything.
    fn their_index(&self) -> u32 {
        if self.dead {
            return self.index;
        }
        let off = match self.end {
            End::Producer => OFF_CONSUMER,
            End::Consumer => OFF_PRODUCER,
        };
        // Acquire: the client's elements are visible once its index is.
        self.hdr_u32(off).load(Acquire) & self.mask
    }

    /// Number of elements in the ring, as far as the kernel can tell.
    pub(crate) fn count(&self) -> u32 {
        match self.end {
            End::Producer => self.index.wrapping_sub(self.their_index()) & self.mask,
            End::Consumer => self.their_index().wrapping_sub(self.index) & self.mask,
        }
    }

    /// Whether the ring is empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.count() == 0
    }

    /// Whether the ring is full (the producer must wait).
    pub(crate) fn is_full(&self) -> bool {
        self.dead || self.count() == self.mask
    }

    /// The slot at `index` (masked).
    fn slot(&self, index: u32) -> *mut u8 {
        let off = ((index & self.mask) as usize) << self.log2_elem;
        // SAFETY: `index & mask` is a slot of the buffer (invariant).
        unsafe { self.buf.as_ptr().add(HDR_SIZE + off) }
    }

    /// Size of one slot in bytes.
    pub(crate) fn elem_size(&self) -> usize {
        1 << self.log2_elem
    }

    /// Producer side: writes `data` (at most a slot) into the next slot and
    /// publishes it. `EBUSY` when the ring is full.
    pub(crate) fn produce(&mut self, data: &[u8]) -> Result {
        if self.dead || self.end != End::Producer || data.len() > self.elem_size() {
            return Err(EINVAL);
        }
        if self.is_full() {
            return Err(EBUSY);
        }
        // SAFETY: The slot holds `elem_size >= data.len()` bytes; the client
        // does not read it until the index is published below.
        unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), self.slot(self.index), data.len()) };
        self.index = (self.index + 1) & self.mask;
        // Release: the element is visible before the index that covers it.
        self.hdr_u32(OFF_PRODUCER).store(self.index, Release);
        Ok(())
    }

    /// Consumer side: copies the oldest element into `out` (at most a slot)
    /// without consuming it. `false` when the ring is empty.
    pub(crate) fn peek(&self, out: &mut [u8]) -> bool {
        if self.end != End::Consumer || self.is_empty() {
            return false;
        }
        let len = out.len().min(self.elem_size());
        // SAFETY: The slot holds at least `len` bytes. User space may write
        // it concurrently; the copy is what the kernel looks at, so a racing
        // writer can only hurt its own request (as with `copy_from_user`).
        unsafe { core::ptr::copy_nonoverlapping(self.slot(self.index), out.as_mut_ptr(), len) };
        true
    }

    /// The kernel's index (the consumer's, for a ring the kernel consumes).
    pub(crate) fn index(&self) -> u32 {
        self.index
    }

    /// How far element `i` is from the oldest the kernel has not consumed
    /// (consumer side: 0 for that one).
    pub(crate) fn offset_of(&self, i: u32) -> u32 {
        i.wrapping_sub(self.index) & self.mask
    }

    /// The index after `i`.
    pub(crate) fn next(&self, i: u32) -> u32 {
        i.wrapping_add(1) & self.mask
    }

    /// Consumer side: whether `i` is an element the client has produced
    /// and the kernel not yet consumed.
    pub(crate) fn holds(&self, i: u32) -> bool {
        let i = i & self.mask;
        i.wrapping_sub(self.index) & self.mask < self.count()
    }

    /// Consumer side: copies element `i` (at most a slot) into `out`, if
    /// the ring [holds](Queue::holds) it.
    pub(crate) fn copy_at(&self, i: u32, out: &mut [u8]) -> bool {
        if self.end != End::Consumer || !self.holds(i) {
            return false;
        }
        let len = out.len().min(self.elem_size());
        // SAFETY: As in `peek`.
        unsafe { core::ptr::copy_nonoverlapping(self.slot(i), out.as_mut_ptr(), len) };
        true
    }

    /// Consumer side: drops every element the client has produced (a QP
    /// reset).
    pub(crate) fn discard_all(&mut self) {
        if self.end == End::Consumer && !self.dead {
            self.index = self.their_index();
            self.hdr_u32(OFF_CONSUMER).store(self.index, Release);
        }
    }

    /// Consumer side: consumes the oldest element.
    pub(crate) fn advance(&mut self) {
        if self.dead || self.end != End::Consumer || self.is_empty() {
            return;
        }
        self.index = (self.index + 1) & self.mask;
        self.hdr_u32(OFF_CONSUMER).store(self.index, Release);
    }

    /// Kernel-client side of a producer ring (a kernel CQ polled by a kernel
    /// consumer): copies out and consumes the oldest element.
    pub(crate) fn client_consume(&self, out: &mut [u8]) -> bool {
        if self.end != End::Producer || self.is_empty() {
            return false;
        }
        let cons = self.their_index();
        let len = out.len().min(self.elem_size());
        // SAFETY: The slot holds at least `len` bytes and was published.
        unsafe { core::ptr::copy_nonoverlapping(self.slot(cons), out.as_mut_ptr(), len) };
        self.hdr_u32(OFF_CONSUMER)
            .store((cons + 1) & self.mask, Release);
        true
    }

    /// Moves the elements of `old` not yet consumed into `self`, a fresh
    /// ring of the same end, and takes over `old`'s kernel index role.
    /// `EINVAL` if they do not fit.
    pub(crate) fn take_elements(&mut self, old: &Queue) -> Result {
        let n = old.count();
        if self.dead || old.dead || n > self.capacity() || self.end != old.end {
            return Err(EINVAL);
        }
        let elem = self.elem_size().min(old.elem_size());
        let first = match old.end {
            End::Producer => old.their_index(),
            End::Consumer => old.index,
        };
        for i in 0..n {
            // SAFETY: Both slots exist (masked indices); the rings are
            // distinct allocations.
            unsafe {
                core::ptr::copy_nonoverlapping(old.slot(first.wrapping_add(i)), self.slot(i), elem)
            };
        }
        match self.end {
            End::Producer => {
                self.index = n;
                self.hdr_u32(OFF_PRODUCER).store(n, Release);
            }
            End::Consumer => self.hdr_u32(OFF_PRODUCER).store(n, Release),
        }
        Ok(())
    }
}

/// The client's end of a ring the kernel consumes, for kernel consumers'
/// post calls (which may come in atomic context, without the QP lock): it
/// writes a slot at the producer index and publishes it.
///
/// INVARIANT: `buf` is the buffer of a live, not detached [`Queue`] with
/// `mask` and `log2_elem`; whoever holds a `RingProducer` drops it before
/// the queue is detached or dropped, and only one thread uses it at a time.
pub(crate) struct RingProducer {
    buf: NonNull<u8>,
    mask: u32,
    log2_elem: u32,
}

// SAFETY: Plain memory; used under the owner's lock (invariant).
unsafe impl Send for RingProducer {}

impl RingProducer {
    fn hdr_u32(&self, off: usize) -> &Atomic<u32> {
        // SAFETY: A header word of the live buffer (invariant).
        unsafe { Atomic::from_ptr(self.buf.as_ptr().add(off).cast::<u32>()) }
    }

    /// Fills the next slot with `fill` (given the zeroed slot) and
    /// publishes it. `ENOMEM` when the ring is full, as verbs say.
    pub(crate) fn produce(&mut self, fill: impl FnOnce(&mut [u8]) -> Result) -> Result {
        let prod = self.hdr_u32(OFF_PRODUCER).load(Relaxed) & self.mask;
        let cons = self.hdr_u32(OFF_CONSUMER).load(Acquire) & self.mask;
        if prod.wrapping_add(1) & self.mask == cons {
            return Err(ENOMEM);
        }
        let size = 1usize << self.log2_elem;
        let off = HDR_SIZE + ((prod as usize) << self.log2_elem);
        // SAFETY: The slot is inside the buffer (invariant); the consumer
        // does not read it until the index below says so.
        let slot = unsafe { core::slice::from_raw_parts_mut(self.buf.as_ptr().add(off), size) };
        slot.fill(0);
        fill(slot)?;
        self.hdr_u32(OFF_PRODUCER)
            .store(prod.wrapping_add(1) & self.mask, Release);
        Ok(())
    }
}

impl Queue {
    /// The client's end of this ring, for a kernel client.
    ///
    /// # Safety
    ///
    /// The caller drops the result before this queue is detached or
    /// dropped, and is its only client.
    pub(crate) unsafe fn producer_view(&self) -> Option<RingProducer> {
        (!self.dead && self.end == End::Consumer).then_some(RingProducer {
            buf: self.buf,
            mask: self.mask,
            log2_elem: self.log2_elem,
        })
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        if !self.dead {
            self.release();
        }
    }
}
