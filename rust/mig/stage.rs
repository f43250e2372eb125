// SPDX-License-Identifier: GPL-2.0

//! RESTORE_STAGE: a checkpoint image handed to the kernel for one user
//! context. It is hostile input: checked whole (`proto::image::validate`,
//! then against this kernel and device) before anything is kept, and
//! refused whole with `EINVAL`. Kept with the context, it gives the
//! objects that the process then creates, in handle order, their identity
//! and state.
//!
//! The same checks answer "can this device host the image?" without
//! keeping it (`rxe-ckpt check`): which numbers are taken, which QPs would
//! need a new QPN (announced to a peer that speaks the extension by the
//! resume), what does not fit.

use kernel::{
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

use crate::{
    bindings,
    proto::{
        image::{
            record::{self as rec, decode, Kind},
            validate::{self, Entry},
            Image, ImageError, Records,
        },
        uapi,
    },
    verbs::{cq, device::RxeDev},
};

/// The largest image the kernel takes: far above what a context of the
/// device's limits makes in practice, far below what would strain it.
const IMAGE_MAX: u64 = 1 << 32;

/// An image kept for a context's restore.
///
/// INVARIANT: `bytes` passed `validate`; `entries` are its objects in
/// handle order, and `at` where each one's record starts in `bytes`.
pub(crate) struct Stage {
    bytes: KVVec<u8>,
    entries: KVVec<Entry>,
    at: KVVec<usize>,
    /// How many of them have been created.
    pub(crate) next: usize,
    /// The GID indexes that restored paths take their source address from,
    /// IPv4 and IPv6.
    pub(crate) sgid: [u32; 2],
}

impl Stage {
    /// Its objects, in handle order.
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The records of object `i` (in handle order) and those after it.
    pub(crate) fn records_of(&self, i: usize) -> Option<Records<'_>> {
        let at = *self.at.get(i)?;
        Some(Records::resume(&self.bytes, at))
    }
}

/// What stands between an image and this device.
#[derive(Default)]
pub(crate) struct Conflicts {
    /// `uapi::CONFLICT_*`.
    pub(crate) mask: u32,
    /// RC QPs whose QPN is taken and whose peer speaks the extension: they
    /// get a new QPN, which the resume announces.
    pub(crate) new_qpns: u32,
    pub(crate) qpns_taken: u32,
    pub(crate) mrns_taken: u32,
    pub(crate) ahns_taken: u32,
    pub(crate) mtu_over: u32,
    /// The first object in conflict (`NO_HANDLE`: none).
    pub(crate) first: u32,
}

impl Conflicts {
    fn add(&mut self, bit: u32, handle: u32) {
        if self.mask == 0 {
            self.first = handle;
        }
        self.mask |= bit;
    }
}

/// Copies an image of `len` bytes from the caller's `buf`.
pub(crate) fn load(buf: u64, len: u64) -> Result<KVVec<u8>> {
    if buf == 0 || len == 0 || len > IMAGE_MAX {
        return Err(EINVAL);
    }
    let n = usize::try_from(len).map_err(|_| EINVAL)?;
    let addr = usize::try_from(buf).map_err(|_| EFAULT)?;
    let mut bytes = KVVec::from_elem(0u8, n, GFP_KERNEL)?;
    UserSlice::new(UserPtr::from_addr(addr), n)
        .reader()
        .read_slice(&mut bytes)?;
    Ok(bytes)
}

/// An image error, for the kernel log.
struct Why(ImageError);

impl kernel::fmt::Display for Why {
    fn fmt(&self, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

/// Says once in a while why an image was refused (administrators read it;
/// the caller gets `EINVAL`).
fn refuse(e: ImageError) -> Error {
    // SAFETY: No preconditions.
    if unsafe { bindings::rxe_rs_ratelimit() } {
        pr_warn!("checkpoint image refused: {}\n", Why(e));
    }
    EINVAL
}

/// Checks `bytes` whole; its objects in handle order.
fn validate_image(bytes: &[u8]) -> Result<KVVec<Entry>> {
    let img = Image::parse(bytes).map_err(refuse)?;
    let ctx = validate::context(&img).map_err(refuse)?;
    let n = validate::scratch_len(&img, &ctx).map_err(refuse)?;
    let mut entries = KVVec::from_elem(Entry::default(), n, GFP_KERNEL)?;
    validate::validate(&img, &mut entries).map_err(refuse)?;
    Ok(entries)
}

/// What stands between the checked image `bytes` and `dev`, whose paths
/// would take their source addresses from GID indexes `sgid` (IPv4, IPv6).
fn conflicts(dev: &RxeDev, bytes: &[u8], sgid: [u32; 2]) -> Result<Conflicts> {
    let img = Image::parse(bytes).map_err(refuse)?;
    let mut c = Conflicts {
        first: rec::NO_HANDLE,
        ..Default::default()
    };
    let ctx = validate::context(&img).map_err(refuse)?;
    if ctx.page_size as usize != kernel::page::PAGE_SIZE || ctx.cq_log2_elem != cq::SLOT_LOG2 {
        c.add(uapi::CONFLICT_FORMAT, rec::NO_HANDLE);
    }
    let mtu = dev.active_mtu();
    // Whether the source GID given for a path's family is one of it.
    let family_ok = |ipv6: u8| {
        let want = if ipv6 == 1 { 6 } else { 4 };
        let idx = sgid[usize::from(ipv6 == 1)];
        // SAFETY: Our registered device; any index is checked.
        unsafe { bindings::rxe_rs_gid_family(dev.ibdev(), idx, core::ptr::null_mut()) == want }
    };
    for r in img.records() {
        let Some(kind) = Kind::from_u16(r.kind) else {
            continue;
        };
        match kind {
            Kind::Qp => {
                let q: rec::Qp = decode(r.payload, kind).map_err(refuse)?;
                if dev.qps().with(q.qpn, |_| ()).is_some() {
                    if q.qp_type == rec::QPT_RC && q.flags & rec::QP_PEER_EXT != 0 {
                        c.new_qpns += 1;
                    } else {
                        c.qpns_taken += 1;
                        c.add(uapi::CONFLICT_QPN, q.handle);
                    }
                }
                if q.flags & rec::QP_HAS_PATH != 0 && !family_ok(q.path.ipv6) {
                    c.add(uapi::CONFLICT_ADDR, q.handle);
                }
                if u32::from(q.path_mtu) > mtu {
                    c.mtu_over += 1;
                    c.add(uapi::CONFLICT_MTU, q.handle);
                }
            }
            Kind::Mr => {
                let m: rec::Mr = decode(r.payload, kind).map_err(refuse)?;
                if dev.mrs().with(m.index(), |_| ()).is_some() {
                    c.mrns_taken += 1;
                    c.add(uapi::CONFLICT_MRN, m.handle);
                }
            }
            Kind::Ah => {
                let a: rec::Ah = decode(r.payload, kind).map_err(refuse)?;
                if !family_ok(a.path.ipv6) {
                    c.add(uapi::CONFLICT_ADDR, a.handle);
                }
                if dev.ahs().with(a.num, |_| ()).is_some() {
                    c.ahns_taken += 1;
                    c.add(uapi::CONFLICT_AHN, a.handle);
                }
            }
            _ => {}
        }
    }
    Ok(c)
}

/// Checks `bytes` against `dev`, with source GID indexes `sgid`:
/// `EINVAL` if the image is bad; else what stands between it and the
/// device, and its objects.
pub(crate) fn check(
    dev: &RxeDev,
    bytes: &[u8],
    sgid: [u32; 2],
) -> Result<(Conflicts, KVVec<Entry>)> {
    let entries = validate_image(bytes)?;
    Ok((conflicts(dev, bytes, sgid)?, entries))
}

/// A stage of the checked image `bytes` and its `entries`, whose restored
/// paths take their source addresses from GID indexes `sgid`.
pub(crate) fn new_stage(
    bytes: KVVec<u8>,
    entries: KVVec<Entry>,
    sgid: [u32; 2],
) -> Result<KBox<Stage>> {
    let mut at = KVVec::with_capacity(entries.len(), GFP_KERNEL)?;
    {
        let img = Image::parse(&bytes).map_err(refuse)?;
        let mut recs = img.records();
        loop {
            let here = recs.at(&bytes);
            let Some(r) = recs.next() else { break };
            if matches!(
                Kind::from_u16(r.kind),
                Some(Kind::Pd | Kind::Cq | Kind::Srq | Kind::Mr | Kind::Ah | Kind::Qp)
            ) {
                at.push(here, GFP_KERNEL)?;
            }
        }
    }
    if at.len() != entries.len() {
        return Err(EINVAL);
    }
    // INVARIANT: checked by `check`, and the objects' places just found.
    Ok(KBox::new(
        Stage {
            bytes,
            entries,
            at,
            next: 0,
            sgid,
        },
        GFP_KERNEL,
    )?)
}
