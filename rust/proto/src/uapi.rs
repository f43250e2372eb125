// SPDX-License-Identifier: GPL-2.0

//! The driver's own uverbs methods, as userspace calls them: their ids,
//! attributes and argument structures (the kernel side is
//! `rust/uverbs_glue.h`, checked against these at build time). They hang
//! off the device object and act on the calling file's user context; each
//! takes one input structure and answers in one output structure, both
//! passed by pointer.
//!
//! The structures are C structures of `u32`s, in the host's byte order:
//! this module encodes them little-endian and so refuses to build on a
//! big-endian host.

use super::image::record::{records, Field, Fields};

#[cfg(target_endian = "big")]
compile_error!("rxe-rs's uverbs ABI is encoded little-endian here");

/// `RDMA_DRIVER_RXE`: the driver id of an ioctl for the rxe provider.
pub const DRIVER_ID: u32 = 14;
/// `UVERBS_OBJECT_DEVICE`.
pub const OBJECT_DEVICE: u16 = 0;

/// What the device can host, and where its numbers stand.
pub const METHOD_QUERY: u16 = 0x1000;
/// Stops the QPs of the context (`CAP_CHECKPOINT_RESTORE`).
pub const METHOD_PAUSE: u16 = 0x1001;
/// Resumes the stopped QPs of the context (`CAP_CHECKPOINT_RESTORE`).
pub const METHOD_RESUME: u16 = 0x1002;
/// Sets the numbers the next QP and MR take (`CAP_CHECKPOINT_RESTORE`).
pub const METHOD_SET_NEXT: u16 = 0x1003;
/// Writes the context's checkpoint image (`CAP_CHECKPOINT_RESTORE`; its
/// QPs stopped first).
pub const METHOD_DUMP: u16 = 0x1004;
/// Hands the kernel an image to restore into the context, or only checks
/// it against the device (`CAP_CHECKPOINT_RESTORE`).
pub const METHOD_STAGE: u16 = 0x1005;

/// The input structure's attribute.
pub const ATTR_IN: u16 = 0x1000;
/// The output structure's attribute.
pub const ATTR_OUT: u16 = 0x1001;

/// This ABI's version, as QUERY says it.
pub const VERSION: u32 = 1;

/// [`StageIn::flags`]: only check the image against the device.
pub const STAGE_CHECK: u32 = 1;
/// [`StageOut::conflicts`]: another page size or CQ slot size.
pub const CONFLICT_FORMAT: u32 = 1;
/// A QPN is taken, and no peer can be told of a new one.
pub const CONFLICT_QPN: u32 = 2;
/// An MR's key index is taken.
pub const CONFLICT_MRN: u32 = 4;
/// An AH number is taken.
pub const CONFLICT_AHN: u32 = 8;
/// A path MTU is above the port's.
pub const CONFLICT_MTU: u32 = 16;
/// No source GID of a path's family was given.
pub const CONFLICT_ADDR: u32 = 32;

/// At most this many [`FdPair`]s go with a DUMP.
pub const DUMP_FDS_MAX: u32 = 1024;

/// [`SetNextIn::flags`]: set the next QPN.
pub const SET_NEXT_QPN: u32 = 1;
/// [`SetNextIn::flags`]: set the next MR index.
pub const SET_NEXT_MRN: u32 = 2;

records! {
    /// The input of QUERY, PAUSE and RESUME.
    MigIn {
        /// None defined: 0.
        flags: u32,
        reserved: [u8; 12],
    }

    /// QUERY's answer.
    QueryOut {
        uapi_version: u32,
        /// The checkpoint image version the kernel reads and writes.
        image_version: u32,
        next_qpn: u32,
        next_mrn: u32,
        flags: u32,
        reserved: [u8; 12],
    }

    /// PAUSE's and RESUME's answer.
    MigOut {
        /// QPs stopped (PAUSE) or resumed (RESUME).
        qps: u32,
        reserved: [u8; 12],
    }

    /// SET_NEXT's input.
    SetNextIn {
        /// [`SET_NEXT_QPN`], [`SET_NEXT_MRN`].
        flags: u32,
        qpn: u32,
        mrn: u32,
        reserved: u32,
    }

    /// DUMP's input.
    DumpIn {
        /// None defined: 0.
        flags: u32,
        /// How many [`FdPair`]s are at `fds` (at most [`DUMP_FDS_MAX`]).
        nfds: u32,
        /// Where to write the image; 0: only say its size.
        buf: u64,
        /// The bytes there.
        len: u64,
        /// The process's event files (completion channels, the async
        /// event file), each as the caller's copy of it and the number the
        /// process has it at: the image names them by those numbers. The
        /// kernel cannot know them (fds move, as a restore's do).
        fds: u64,
    }

    /// One event file for [`DumpIn::fds`].
    FdPair {
        /// Its fd number in the process.
        proc_fd: u32,
        /// The caller's fd for the same file.
        own_fd: u32,
    }

    /// RESTORE_STAGE's input.
    StageIn {
        /// [`STAGE_CHECK`].
        flags: u32,
        /// The GID indexes restored paths take their source address from.
        sgid4: u32,
        sgid6: u32,
        reserved: u32,
        /// The image.
        buf: u64,
        len: u64,
    }

    /// RESTORE_STAGE's answer: what stands between the image and the
    /// device.
    StageOut {
        objects: u32,
        /// `CONFLICT_*`.
        conflicts: u32,
        /// RC QPs that get a new QPN (their peer is told).
        new_qpns: u32,
        qpns_taken: u32,
        mrns_taken: u32,
        ahns_taken: u32,
        mtu_over: u32,
        /// The handle of the first object in conflict.
        first: u32,
    }

    /// DUMP's answer.
    DumpOut {
        /// The image's bytes: written, or needed.
        len: u64,
        records: u32,
        /// PDs, CQs, SRQs, MRs, AHs and QPs in it.
        objects: u32,
        reserved: [u8; 16],
    }
}

/// The bytes of `v`, for an ioctl attribute.
pub fn to_bytes<T: Field, const N: usize>(v: &T) -> [u8; N] {
    let mut b = [0u8; N];
    if N == T::SIZE {
        v.put(&mut b);
    }
    b
}

/// The value in `b` (an ioctl answer of `T::SIZE` bytes).
pub fn from_bytes<T: Field>(b: &[u8]) -> Option<T> {
    (b.len() == T::SIZE).then(|| T::get(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_c_structs() {
        assert_eq!(MigIn::LEN, 16);
        assert_eq!(QueryOut::LEN, 32);
        assert_eq!(MigOut::LEN, 16);
        assert_eq!(SetNextIn::LEN, 16);
        assert_eq!(DumpIn::LEN, 32);
        assert_eq!(FdPair::LEN, 8);
        assert_eq!(DumpOut::LEN, 32);
        assert_eq!(StageIn::LEN, 32);
        assert_eq!(StageOut::LEN, 32);
        let q = QueryOut {
            uapi_version: 1,
            next_qpn: 0x1234,
            ..Default::default()
        };
        let b: [u8; 32] = to_bytes(&q);
        assert_eq!(&b[..4], &[1, 0, 0, 0]);
        assert_eq!(&b[8..12], &[0x34, 0x12, 0, 0]);
        assert_eq!(from_bytes::<QueryOut>(&b), Some(q));
        assert_eq!(from_bytes::<QueryOut>(&b[..31]), None);
    }
}
