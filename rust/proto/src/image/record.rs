// SPDX-License-Identifier: GPL-2.0

//! The records of a checkpoint image: their kinds, and the fixed-width
//! little-endian layout of each. A record's struct is declared once, with
//! [`records!`], which gives it its length, its encoder and its decoder;
//! what a field may hold is checked by the record's `check`, written by
//! hand, since it is what the format means rather than how it is laid out.

use super::super::{params, psn};
use super::ImageError;

/// The names and sizes of a struct's fields, in order (for errors).
pub trait Fields {
    /// Each field's name and bytes.
    const FIELDS: &'static [(&'static str, usize)];
}

/// A fixed-width little-endian field.
pub trait Field: Sized + Copy {
    /// Its bytes.
    const SIZE: usize;
    /// Writes it at the start of `out` (at least [`Field::SIZE`] bytes).
    fn put(&self, out: &mut [u8]);
    /// Reads it from the start of `b` (at least [`Field::SIZE`] bytes).
    fn get(b: &[u8]) -> Self;
}

macro_rules! int_field {
    ($($t:ty),*) => {$(
        impl Field for $t {
            const SIZE: usize = core::mem::size_of::<$t>();
            fn put(&self, out: &mut [u8]) {
                out[..Self::SIZE].copy_from_slice(&self.to_le_bytes());
            }
            fn get(b: &[u8]) -> Self {
                let mut a = [0u8; core::mem::size_of::<$t>()];
                a.copy_from_slice(&b[..Self::SIZE]);
                <$t>::from_le_bytes(a)
            }
        }
    )*};
}
int_field!(u8, u16, u32, u64);

impl<const N: usize> Field for [u8; N] {
    const SIZE: usize = N;
    fn put(&self, out: &mut [u8]) {
        out[..N].copy_from_slice(self);
    }
    fn get(b: &[u8]) -> Self {
        let mut a = [0u8; N];
        a.copy_from_slice(&b[..N]);
        a
    }
}

/// Declares fixed-width structs: each field in order, no padding, with
/// `LEN` and their [`Field`] encoding. A record's fields' order is the
/// format: never change it within a version.
macro_rules! records {
    ($(
        $(#[$m:meta])*
        $name:ident {
            $( $(#[$fm:meta])* $field:ident : $ty:ty ),* $(,)?
        }
    )*) => {$(
        $(#[$m])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $name {
            $( $(#[$fm])* pub $field: $ty, )*
        }

        impl $name {
            /// Bytes of its encoding.
            pub const LEN: usize = 0 $( + <$ty as Field>::SIZE )*;
        }

        impl Fields for $name {
            const FIELDS: &'static [(&'static str, usize)] =
                &[$( (stringify!($field), <$ty as Field>::SIZE) ),*];
        }

        impl Field for $name {
            const SIZE: usize = Self::LEN;

            fn put(&self, out: &mut [u8]) {
                let mut _at = 0;
                $(
                    self.$field.put(&mut out[_at..]);
                    _at += <$ty as Field>::SIZE;
                )*
            }

            fn get(b: &[u8]) -> Self {
                let mut _at = 0;
                Self {$(
                    $field: {
                        let v = <$ty as Field>::get(&b[_at..]);
                        _at += <$ty as Field>::SIZE;
                        v
                    },
                )*}
            }
        }
    )*};
}

pub(crate) use records;

/// Reads a `T` from a payload that must be exactly its size.
pub fn decode<T: Field>(b: &[u8], kind: Kind) -> Result<T, ImageError> {
    if b.len() == T::SIZE {
        Ok(T::get(b))
    } else {
        Err(ImageError::RecordLen(kind as u16))
    }
}

/// Writes `v` into `out`, which must be exactly its size.
pub fn encode<T: Field>(v: &T, out: &mut [u8]) -> Result<(), ImageError> {
    if out.len() == T::SIZE {
        v.put(out);
        Ok(())
    } else {
        Err(ImageError::NoRoom)
    }
}

/// A reference to no object (an optional handle, such as a QP's SRQ).
pub const NO_HANDLE: u32 = u32::MAX;
/// No file descriptor (or one not known).
pub const NO_FD: u32 = u32::MAX;

/// A file descriptor number, or [`NO_FD`].
fn fd_ok(fd: u32) -> bool {
    fd == NO_FD || fd <= i32::MAX as u32
}

records! {
    /// The context as a whole; the image's first object record.
    Context {
        /// `PAGE_SIZE` of the dumping kernel (ring offsets are in its pages).
        page_size: u32,
        /// log2 of a CQ slot on the dumping kernel (`sizeof(struct ib_wc)`
        /// decides it).
        cq_log2_elem: u32,
        /// [`CONTEXT_STOPPED`] and nothing else.
        flags: u32,
        /// How many records of each object kind follow.
        pds: u32,
        cqs: u32,
        srqs: u32,
        mrs: u32,
        ahs: u32,
        qps: u32,
        /// The process's fd of the context's async event file
        /// ([`NO_FD`]: not known).
        async_fd: u32,
    }

    /// A protection domain.
    Pd {
        /// Its uverbs handle (one handle space per file, for all kinds).
        handle: u32,
        reserved: u32,
    }

    /// Where a ring is and how it is shaped: the kernel's end's index (its
    /// private copy; the one in the ring's header is the user's to write)
    /// and the mapping user space made of it.
    RingInfo {
        /// Slots less one: what the ring holds at most.
        capacity: u32,
        /// The kernel's index: the consumer's for SQ, RQ and SRQ, the
        /// producer's for a CQ.
        index: u32,
        /// log2 of a slot's bytes.
        log2_elem: u32,
        /// Bytes user space maps.
        mmap_size: u32,
        /// The offset user space maps it at, on the uverbs file.
        mmap_offset: u64,
    }

    /// A completion queue.
    Cq {
        handle: u32,
        /// `IB_CQ_SOLICITED` / `IB_CQ_NEXT_COMP` armed.
        notify: u32,
        comp_vector: u32,
        /// The process's fd of its completion channel ([`NO_FD`]: none).
        channel: u32,
        /// Completion and async events the process has read: its
        /// libibverbs waits for the kernel's counts to match its own when
        /// it destroys the CQ.
        comp_events: u32,
        async_events: u32,
        /// The process's own value for it (libibverbs: its `ibv_cq`).
        user_handle: u64,
        ring: RingInfo,
    }

    /// A shared receive queue.
    Srq {
        handle: u32,
        pd: u32,
        /// Its SRQ number.
        num: u32,
        max_sge: u32,
        /// The armed limit; 0: not armed.
        limit: u32,
        /// Async events the process has read.
        async_events: u32,
        user_handle: u64,
        ring: RingInfo,
    }

    /// A memory region of the process's memory.
    Mr {
        handle: u32,
        pd: u32,
        /// Its keys: the index is `lkey >> 8`; `rkey` is 0 or `lkey`.
        lkey: u32,
        rkey: u32,
        /// `IB_ACCESS_*` flags.
        access: u32,
        reserved: u32,
        /// The first byte's address in the process, its I/O address, and
        /// the length.
        start: u64,
        iova: u64,
        length: u64,
    }

    /// A path: addresses and routing of an address handle or a connected
    /// QP.
    Path {
        sgid_index: u32,
        flow_label: u32,
        hop_limit: u8,
        traffic_class: u8,
        sl: u8,
        /// 1: IPv6 addresses; 0: IPv4 (GIDs `::ffff:a.b.c.d`).
        ipv6: u8,
        sgid: [u8; 16],
        dgid: [u8; 16],
        dmac: [u8; 6],
        reserved: [u8; 2],
    }

    /// An address handle.
    Ah {
        handle: u32,
        pd: u32,
        /// Its AH number (user space puts it in UD WQEs).
        num: u32,
        reserved: u32,
        path: Path,
    }

    /// A QP's verbs-level identity and attributes, and its rings.
    Qp {
        handle: u32,
        pd: u32,
        qpn: u32,
        send_cq: u32,
        recv_cq: u32,
        /// [`NO_HANDLE`] without one.
        srq: u32,
        /// `IB_QPT_RC`, `IB_QPT_UC` or `IB_QPT_UD`.
        qp_type: u8,
        /// `IB_QPS_*`.
        state: u8,
        /// [`QP_DRAINED`], [`QP_DRAIN_NOTIFY`], [`QP_SIG_ALL`],
        /// [`QP_HAS_PATH`], [`QP_PEER_EXT`].
        flags: u8,
        /// The migration sub-state (RTR, RTS, SQD): [`MIG_NONE`], [`MIG_STOPPED`] or
        /// [`MIG_PAUSED`].
        mig: u8,
        access: u32,
        qkey: u32,
        dest_qpn: u32,
        sq_psn: u32,
        rq_psn: u32,
        path_mtu: u8,
        timeout: u8,
        retry_cnt: u8,
        rnr_retry: u8,
        min_rnr_timer: u8,
        max_rd_atomic: u8,
        max_dest_rd_atomic: u8,
        port_num: u8,
        pkey_index: u16,
        reserved: u16,
        sq_max_sge: u32,
        sq_max_inline: u32,
        rq_max_sge: u32,
        /// Async events the process has read.
        async_events: u32,
        user_handle: u64,
        path: Path,
        sq: RingInfo,
        rq: RingInfo,
    }

    /// A QP's engines: what its requester, completer and responder were
    /// doing. Follows its [`Qp`].
    QpEngine {
        handle: u32,
        req_psn: u32,
        req_index: u32,
        req_max_psn: u32,
        req_off: u32,
        req_noack: u32,
        req_rd_atomic: u32,
        comp_psn: u32,
        comp_retry_left: u8,
        comp_rnr_left: u8,
        comp_rnr_wait: u8,
        comp_gap_retried: u8,
        resp_psn: u32,
        resp_msn: u32,
        /// A `MsgPos`: 0 between messages, 1 in a SEND, 2 in a WRITE.
        resp_pos: u8,
        resp_nak_sent: u8,
        resp_drop_msg: u8,
        /// 1: an RDMA WRITE is in progress (the three fields below).
        resp_write: u8,
        resp_write_rkey: u32,
        resp_write_resid: u32,
        resp_write_total: u32,
        resp_write_va: u64,
        /// The next read/atomic replay slot to overwrite.
        resp_res_next: u32,
        /// Replay slots (`max_dest_rd_atomic`), each in a [`QpRes`].
        resp_res_len: u32,
    }

    /// One slot of a QP responder's read/atomic replay ring.
    QpRes {
        handle: u32,
        slot: u32,
        valid: u8,
        atomic: u8,
        reserved: u16,
        first_psn: u32,
        last_psn: u32,
        rkey: u32,
        len: u32,
        reserved2: u32,
        va: u64,
        /// An atomic's original value, for its replay.
        orig: u64,
    }

    /// The head of a send WQE begun: its place and PSNs; the WQE's bytes,
    /// as the requester copied them, follow in the record.
    QpWqeHead {
        handle: u32,
        /// Its ring index.
        index: u32,
        first_psn: u32,
        last_psn: u32,
        len: u32,
        sent: u8,
        reserved: [u8; 3],
    }

    /// The head of a receive WQE being filled by a multi-packet SEND: the
    /// bytes placed so far; the WQE's bytes follow in the record (for an
    /// SRQ, this is its only copy).
    QpRecvHead {
        handle: u32,
        off: u32,
    }

    /// The head of a ring's bytes: the object and which of its rings; the
    /// ring's whole buffer (header and slots) follows in the record.
    RingHead {
        handle: u32,
        /// [`RING_CQ`], [`RING_SQ`], [`RING_RQ`] or [`RING_SRQ`].
        which: u32,
    }
}

/// [`Context::flags`]: the QPs were stopped for the dump.
pub const CONTEXT_STOPPED: u32 = 1;

/// [`Qp::flags`]: in SQD, the drain has ended.
pub const QP_DRAINED: u8 = 1;
/// [`Qp::flags`]: in SQD, the owner asked to hear of the drain's end.
pub const QP_DRAIN_NOTIFY: u8 = 2;
/// [`Qp::flags`]: every send WQE completes with a CQE.
pub const QP_SIG_ALL: u8 = 4;
/// [`Qp::flags`]: [`Qp::path`] holds the primary path (set from RTR on for
/// RC and UC).
pub const QP_HAS_PATH: u8 = 8;
/// [`Qp::flags`]: the peer showed that it speaks the migration extension
/// (RC only).
pub const QP_PEER_EXT: u8 = 16;
const QP_FLAGS: u8 = QP_DRAINED | QP_DRAIN_NOTIFY | QP_SIG_ALL | QP_HAS_PATH | QP_PEER_EXT;

/// [`Qp::mig`]: running.
pub const MIG_NONE: u8 = 0;
/// [`Qp::mig`]: stopped for migration (this side).
pub const MIG_STOPPED: u8 = 1;
/// [`Qp::mig`]: paused by a stopped peer.
pub const MIG_PAUSED: u8 = 2;

/// [`RingHead::which`] values.
pub const RING_CQ: u32 = 0;
pub const RING_SQ: u32 = 1;
pub const RING_RQ: u32 = 2;
pub const RING_SRQ: u32 = 3;

/// The largest ring buffer an image may carry: the largest a device makes
/// (2^20 slots of 2 KiB, and the header) fits.
pub const RING_BYTES_MAX: usize = (1 << 31) + 4096;
/// The largest WQE an image may carry.
pub const WQE_BYTES_MAX: usize = 1 << 16;

/// The kinds of records. The numbers are the format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Kind {
    /// Who wrote the image: printable ASCII, at most [`PRODUCER_MAX`] bytes.
    Producer = 1,
    /// [`Context`].
    Context = 2,
    /// [`Pd`].
    Pd = 3,
    /// [`Cq`].
    Cq = 4,
    /// [`Srq`].
    Srq = 5,
    /// [`Mr`].
    Mr = 6,
    /// [`Ah`].
    Ah = 7,
    /// [`Qp`].
    Qp = 8,
    /// [`QpEngine`].
    QpEngine = 9,
    /// [`QpRes`].
    QpRes = 10,
    /// [`QpWqeHead`] and the WQE.
    QpWqe = 11,
    /// [`QpRecvHead`] and the WQE.
    QpRecv = 12,
    /// [`RingHead`] and the ring's bytes.
    Ring = 13,
}

/// The longest [`Kind::Producer`] text.
pub const PRODUCER_MAX: usize = 128;

/// How long a kind's payload may be.
enum Size {
    /// Exactly this many bytes.
    Fixed(usize),
    /// At most this many bytes.
    UpTo(usize),
    /// A head of this many bytes, then at most so many more.
    Headed(usize, usize),
}

impl Kind {
    /// Every kind, in number order.
    pub const ALL: [Kind; 13] = [
        Kind::Producer,
        Kind::Context,
        Kind::Pd,
        Kind::Cq,
        Kind::Srq,
        Kind::Mr,
        Kind::Ah,
        Kind::Qp,
        Kind::QpEngine,
        Kind::QpRes,
        Kind::QpWqe,
        Kind::QpRecv,
        Kind::Ring,
    ];

    /// The kind numbered `n`, if this version defines it.
    pub fn from_u16(n: u16) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| *k as u16 == n)
    }

    fn size(self) -> Size {
        match self {
            Kind::Producer => Size::UpTo(PRODUCER_MAX),
            Kind::Context => Size::Fixed(Context::LEN),
            Kind::Pd => Size::Fixed(Pd::LEN),
            Kind::Cq => Size::Fixed(Cq::LEN),
            Kind::Srq => Size::Fixed(Srq::LEN),
            Kind::Mr => Size::Fixed(Mr::LEN),
            Kind::Ah => Size::Fixed(Ah::LEN),
            Kind::Qp => Size::Fixed(Qp::LEN),
            Kind::QpEngine => Size::Fixed(QpEngine::LEN),
            Kind::QpRes => Size::Fixed(QpRes::LEN),
            Kind::QpWqe => Size::Headed(QpWqeHead::LEN, WQE_BYTES_MAX),
            Kind::QpRecv => Size::Headed(QpRecvHead::LEN, WQE_BYTES_MAX),
            Kind::Ring => Size::Headed(RingHead::LEN, RING_BYTES_MAX),
        }
    }

    /// Whether a record of kind number `n` may have a `len`-byte payload.
    pub(super) fn check(n: u16, len: usize) -> Result<Kind, ImageError> {
        let kind = Kind::from_u16(n).ok_or(ImageError::UnknownKind(n))?;
        let ok = match kind.size() {
            Size::Fixed(l) => len == l,
            Size::UpTo(l) => len <= l,
            Size::Headed(h, max) => len >= h && len - h <= max,
        };
        if ok {
            Ok(kind)
        } else {
            Err(ImageError::RecordLen(n))
        }
    }

    /// A `Headed` kind's payload split into its head and the bytes after.
    pub fn split_headed<T: Field>(self, b: &[u8]) -> Result<(T, &[u8]), ImageError> {
        let (head, rest) = b
            .split_at_checked(T::SIZE)
            .ok_or(ImageError::RecordLen(self as u16))?;
        Ok((T::get(head), rest))
    }
}

/// A field error at `at` bytes into a record of `kind`.
fn bad(kind: Kind, at: usize) -> ImageError {
    ImageError::Field {
        kind: kind as u16,
        at: u16::try_from(at).unwrap_or(u16::MAX),
    }
}

/// Checks a [`Kind::Producer`] payload: printable ASCII.
pub fn check_producer(b: &[u8]) -> Result<&str, ImageError> {
    if let Some(at) = b.iter().position(|&c| !(0x20..0x7f).contains(&c)) {
        return Err(bad(Kind::Producer, at));
    }
    core::str::from_utf8(b).map_err(|_| bad(Kind::Producer, 0))
}

/// The bytes of a ring's header, before its slots.
pub const RING_HEADER_LEN: u32 = 384;
/// `IB_ACCESS_*`: local write, remote write, read and atomic, MW bind.
const ACCESS_BASIC: u32 = 0x1f;
/// `IB_ACCESS_*` remote flags.
const ACCESS_REMOTE: u32 = 0x2 | 0x4 | 0x8;
/// `IB_ACCESS_OPTIONAL`: hints (relaxed ordering and later ones).
const ACCESS_OPTIONAL: u32 = 0x3ff0_0000;
/// `IB_QPT_*` a user context may hold.
pub const QPT_RC: u8 = 2;
pub const QPT_UC: u8 = 3;
pub const QPT_UD: u8 = 4;
/// `IB_QPS_*`.
pub const QPS_RTR: u8 = 2;
pub const QPS_RTS: u8 = 3;
pub const QPS_SQD: u8 = 4;
pub const QPS_ERR: u8 = 6;
/// The largest inline payload of a send WQE (32 SGEs of 16 bytes).
pub const MAX_INLINE_DATA: u32 = params::MAX_SGE * 16;

/// Field `$f` of the record being checked is bad unless `$ok`.
macro_rules! ensure {
    ($ok:expr, $kind:expr, $t:ty, $f:literal) => {
        if !$ok {
            return Err(bad($kind, field_at::<$t>($f)));
        }
    };
}

/// The byte offset of field `name` in `T`'s encoding (0 for a name it
/// does not have: the checks name only their own fields).
fn field_at<T: Fields>(name: &str) -> usize {
    let mut at = 0;
    for (n, size) in T::FIELDS {
        if *n == name {
            return at;
        }
        at += size;
    }
    0
}

fn is_bool(b: u8) -> bool {
    b <= 1
}

fn is_psn(p: u32) -> bool {
    p <= psn::PSN_MASK
}

/// 0, or a power of two up to `max`.
fn depth_ok(d: u8, max: u32) -> bool {
    d == 0 || (d.is_power_of_two() && u32::from(d) <= max)
}

/// IPv4-mapped: `::ffff:a.b.c.d`.
fn v4_mapped(g: &[u8; 16]) -> bool {
    g[..10].iter().all(|&b| b == 0) && g[10] == 0xff && g[11] == 0xff
}

impl Context {
    /// Checks what it says alone.
    pub fn check(&self) -> Result<(), ImageError> {
        let k = Kind::Context;
        ensure!(
            self.page_size.is_power_of_two() && (4096..=65536).contains(&self.page_size),
            k,
            Context,
            "page_size"
        );
        ensure!(
            (5..=12).contains(&self.cq_log2_elem),
            k,
            Context,
            "cq_log2_elem"
        );
        ensure!(self.flags & !CONTEXT_STOPPED == 0, k, Context, "flags");
        ensure!(fd_ok(self.async_fd), k, Context, "async_fd");
        Ok(())
    }
}

impl Pd {
    /// Checks what it says alone.
    pub fn check(&self) -> Result<(), ImageError> {
        ensure!(self.handle != NO_HANDLE, Kind::Pd, Pd, "handle");
        ensure!(self.reserved == 0, Kind::Pd, Pd, "reserved");
        Ok(())
    }
}

impl RingInfo {
    /// Checks a ring of at most `max` entries within a record of `kind`
    /// whose field `name` it is.
    fn check(&self, max: u32, kind: Kind, base: usize) -> Result<(), ImageError> {
        let err = |f: &str| Err(bad(kind, base + field_at::<RingInfo>(f)));
        let slots = match self.capacity.checked_add(1) {
            Some(s) if s.is_power_of_two() && self.capacity <= max => s,
            _ => return err("capacity"),
        };
        if self.index > self.capacity {
            return err("index");
        }
        if !(6..=16).contains(&self.log2_elem) {
            return err("log2_elem");
        }
        let size = (u64::from(slots) << self.log2_elem) + u64::from(RING_HEADER_LEN);
        if u64::from(self.mmap_size) != size {
            return err("mmap_size");
        }
        if !self.mmap_offset.is_multiple_of(4096) {
            return err("mmap_offset");
        }
        Ok(())
    }
}

impl Cq {
    /// Checks what it says alone.
    pub fn check(&self) -> Result<(), ImageError> {
        let k = Kind::Cq;
        ensure!(self.handle != NO_HANDLE, k, Cq, "handle");
        ensure!(self.notify & !3 == 0, k, Cq, "notify");
        ensure!(self.comp_vector == 0, k, Cq, "comp_vector");
        ensure!(fd_ok(self.channel), k, Cq, "channel");
        self.ring.check(params::MAX_CQE, k, field_at::<Cq>("ring"))
    }
}

impl Srq {
    /// Checks what it says alone.
    pub fn check(&self) -> Result<(), ImageError> {
        let k = Kind::Srq;
        ensure!(self.handle != NO_HANDLE, k, Srq, "handle");
        ensure!(
            (params::MIN_SRQ_INDEX..=params::DEFAULT_MAX_VALUE).contains(&self.num),
            k,
            Srq,
            "num"
        );
        ensure!(
            (1..=params::MAX_SRQ_SGE).contains(&self.max_sge),
            k,
            Srq,
            "max_sge"
        );
        ensure!(self.limit <= self.ring.capacity, k, Srq, "limit");
        self.ring
            .check(params::MAX_SRQ_WR, k, field_at::<Srq>("ring"))
    }
}

impl Mr {
    /// The MR's index in the device's table.
    pub fn index(&self) -> u32 {
        self.lkey >> 8
    }

    /// Checks what it says alone.
    pub fn check(&self) -> Result<(), ImageError> {
        let k = Kind::Mr;
        ensure!(self.handle != NO_HANDLE, k, Mr, "handle");
        ensure!(
            (params::MIN_MR_INDEX..=params::MAX_MR_INDEX).contains(&self.index()),
            k,
            Mr,
            "lkey"
        );
        ensure!(
            self.access & !(ACCESS_BASIC | ACCESS_OPTIONAL) == 0,
            k,
            Mr,
            "access"
        );
        let remote = self.access & ACCESS_REMOTE != 0;
        ensure!(
            if remote {
                self.rkey == self.lkey
            } else {
                self.rkey == 0
            },
            k,
            Mr,
            "rkey"
        );
        ensure!(self.reserved == 0, k, Mr, "reserved");
        ensure!(self.length > 0, k, Mr, "length");
        ensure!(
            self.start.checked_add(self.length).is_some()
                && (self.start ^ self.iova).is_multiple_of(4096),
            k,
            Mr,
            "start"
        );
        ensure!(self.iova.checked_add(self.length).is_some(), k, Mr, "iova");
        Ok(())
    }
}

impl Path {
    /// Checks a path within a record of `kind` at byte `base`.
    fn check(&self, kind: Kind, base: usize) -> Result<(), ImageError> {
        let err = |f: &str| Err(bad(kind, base + field_at::<Path>(f)));
        if self.flow_label >= 1 << 20 {
            return err("flow_label");
        }
        if !is_bool(self.ipv6) || (self.ipv6 == 1) == v4_mapped(&self.sgid) {
            return err("ipv6");
        }
        if (self.ipv6 == 1) == v4_mapped(&self.dgid) {
            return err("dgid");
        }
        if self.sgid_index >= params::PORT_GID_TBL_LEN {
            return err("sgid_index");
        }
        if self.reserved != [0; 2] {
            return err("reserved");
        }
        Ok(())
    }
}

impl Ah {
    /// Checks what it says alone.
    pub fn check(&self) -> Result<(), ImageError> {
        let k = Kind::Ah;
        ensure!(self.handle != NO_HANDLE, k, Ah, "handle");
        ensure!((1..=params::MAX_AH).contains(&self.num), k, Ah, "num");
        ensure!(self.reserved == 0, k, Ah, "reserved");
        self.path.check(k, field_at::<Ah>("path"))
    }
}

impl Qp {
    /// Checks what it says alone.
    pub fn check(&self) -> Result<(), ImageError> {
        let k = Kind::Qp;
        ensure!(self.handle != NO_HANDLE, k, Qp, "handle");
        ensure!(
            (params::MIN_QP_INDEX..=params::DEFAULT_MAX_VALUE).contains(&self.qpn),
            k,
            Qp,
            "qpn"
        );
        ensure!(
            matches!(self.qp_type, QPT_RC | QPT_UC | QPT_UD),
            k,
            Qp,
            "qp_type"
        );
        ensure!(self.state <= QPS_ERR, k, Qp, "state");
        ensure!(self.flags & !QP_FLAGS == 0, k, Qp, "flags");
        let sqd_flags = self.flags & (QP_DRAINED | QP_DRAIN_NOTIFY);
        ensure!(sqd_flags == 0 || self.state == QPS_SQD, k, Qp, "flags");
        let connected = self.qp_type != QPT_UD;
        ensure!(self.flags & QP_HAS_PATH == 0 || connected, k, Qp, "flags");
        ensure!(
            self.flags & QP_PEER_EXT == 0 || self.qp_type == QPT_RC,
            k,
            Qp,
            "flags"
        );
        ensure!(
            match self.mig {
                MIG_NONE => true,
                MIG_STOPPED | MIG_PAUSED => matches!(self.state, QPS_RTR | QPS_RTS | QPS_SQD),
                _ => false,
            },
            k,
            Qp,
            "mig"
        );
        ensure!(self.dest_qpn <= psn::PSN_MASK, k, Qp, "dest_qpn");
        ensure!(is_psn(self.sq_psn), k, Qp, "sq_psn");
        ensure!(is_psn(self.rq_psn), k, Qp, "rq_psn");
        ensure!(self.path_mtu <= 5, k, Qp, "path_mtu");
        ensure!(self.timeout <= 31, k, Qp, "timeout");
        ensure!(self.retry_cnt <= 7, k, Qp, "retry_cnt");
        ensure!(self.rnr_retry <= 7, k, Qp, "rnr_retry");
        ensure!(self.min_rnr_timer <= 31, k, Qp, "min_rnr_timer");
        ensure!(
            depth_ok(self.max_rd_atomic, params::MAX_QP_INIT_RD_ATOM),
            k,
            Qp,
            "max_rd_atomic"
        );
        ensure!(
            depth_ok(self.max_dest_rd_atomic, params::MAX_QP_RD_ATOM),
            k,
            Qp,
            "max_dest_rd_atomic"
        );
        ensure!(self.port_num == 1, k, Qp, "port_num");
        ensure!(self.pkey_index == 0, k, Qp, "pkey_index");
        ensure!(self.reserved == 0, k, Qp, "reserved");
        ensure!(self.sq_max_sge <= params::MAX_SGE, k, Qp, "sq_max_sge");
        ensure!(
            self.sq_max_inline <= MAX_INLINE_DATA,
            k,
            Qp,
            "sq_max_inline"
        );
        ensure!(self.rq_max_sge <= params::MAX_SGE, k, Qp, "rq_max_sge");
        if self.flags & QP_HAS_PATH != 0 {
            self.path.check(k, field_at::<Qp>("path"))?;
        } else {
            ensure!(self.path == Path::default(), k, Qp, "path");
        }
        self.sq.check(params::MAX_QP_WR, k, field_at::<Qp>("sq"))?;
        self.rq.check(params::MAX_QP_WR, k, field_at::<Qp>("rq"))
    }
}

impl QpEngine {
    /// Checks what it says alone (its consistency with its QP is the
    /// image's check).
    pub fn check(&self) -> Result<(), ImageError> {
        let k = Kind::QpEngine;
        ensure!(is_psn(self.req_psn), k, QpEngine, "req_psn");
        ensure!(is_psn(self.req_max_psn), k, QpEngine, "req_max_psn");
        ensure!(is_psn(self.comp_psn), k, QpEngine, "comp_psn");
        ensure!(is_psn(self.resp_psn), k, QpEngine, "resp_psn");
        ensure!(is_psn(self.resp_msn), k, QpEngine, "resp_msn");
        ensure!(
            self.req_off <= params::PORT_MAX_MSG_SZ,
            k,
            QpEngine,
            "req_off"
        );
        ensure!(self.req_noack < 1024, k, QpEngine, "req_noack");
        ensure!(
            self.req_rd_atomic <= params::MAX_QP_INIT_RD_ATOM,
            k,
            QpEngine,
            "req_rd_atomic"
        );
        ensure!(self.comp_retry_left <= 7, k, QpEngine, "comp_retry_left");
        ensure!(self.comp_rnr_left <= 7, k, QpEngine, "comp_rnr_left");
        ensure!(is_bool(self.comp_rnr_wait), k, QpEngine, "comp_rnr_wait");
        ensure!(
            is_bool(self.comp_gap_retried),
            k,
            QpEngine,
            "comp_gap_retried"
        );
        ensure!(self.resp_pos <= 2, k, QpEngine, "resp_pos");
        ensure!(is_bool(self.resp_nak_sent), k, QpEngine, "resp_nak_sent");
        ensure!(is_bool(self.resp_drop_msg), k, QpEngine, "resp_drop_msg");
        ensure!(is_bool(self.resp_write), k, QpEngine, "resp_write");
        if self.resp_write == 0 {
            ensure!(
                self.resp_write_rkey == 0 && self.resp_write_resid == 0 && self.resp_write_va == 0,
                k,
                QpEngine,
                "resp_write_rkey"
            );
        }
        ensure!(
            self.resp_write_resid <= self.resp_write_total
                && self.resp_write_total <= params::PORT_MAX_MSG_SZ,
            k,
            QpEngine,
            "resp_write_resid"
        );
        ensure!(
            self.resp_res_len == 0
                || (self.resp_res_len.is_power_of_two()
                    && self.resp_res_len <= params::MAX_QP_RD_ATOM),
            k,
            QpEngine,
            "resp_res_len"
        );
        ensure!(
            self.resp_res_next < self.resp_res_len.max(1),
            k,
            QpEngine,
            "resp_res_next"
        );
        Ok(())
    }
}

impl QpRes {
    /// Checks what it says alone.
    pub fn check(&self) -> Result<(), ImageError> {
        let k = Kind::QpRes;
        ensure!(self.slot < params::MAX_QP_RD_ATOM, k, QpRes, "slot");
        ensure!(is_bool(self.valid), k, QpRes, "valid");
        ensure!(is_bool(self.atomic), k, QpRes, "atomic");
        ensure!(
            self.reserved == 0 && self.reserved2 == 0,
            k,
            QpRes,
            "reserved"
        );
        ensure!(is_psn(self.first_psn), k, QpRes, "first_psn");
        ensure!(is_psn(self.last_psn), k, QpRes, "last_psn");
        ensure!(self.len <= params::PORT_MAX_MSG_SZ, k, QpRes, "len");
        if self.atomic == 1 {
            ensure!(
                self.len == 8 && self.first_psn == self.last_psn,
                k,
                QpRes,
                "len"
            );
        } else {
            ensure!(self.orig == 0, k, QpRes, "orig");
        }
        Ok(())
    }
}

impl QpWqeHead {
    /// Checks what it says alone.
    pub fn check(&self) -> Result<(), ImageError> {
        let k = Kind::QpWqe;
        ensure!(is_psn(self.first_psn), k, QpWqeHead, "first_psn");
        ensure!(is_psn(self.last_psn), k, QpWqeHead, "last_psn");
        ensure!(self.len <= params::PORT_MAX_MSG_SZ, k, QpWqeHead, "len");
        ensure!(is_bool(self.sent), k, QpWqeHead, "sent");
        ensure!(self.reserved == [0; 3], k, QpWqeHead, "reserved");
        Ok(())
    }
}

impl RingHead {
    /// Checks what it says alone.
    pub fn check(&self) -> Result<(), ImageError> {
        ensure!(self.which <= RING_SRQ, Kind::Ring, RingHead, "which");
        Ok(())
    }
}
