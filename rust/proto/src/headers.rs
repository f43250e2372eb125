// SPDX-License-Identifier: GPL-2.0

//! The extended transport headers other than the AETH (see `aeth`): RETH,
//! ATMETH, ATMACK, IMMDT, IETH, DETH and FETH, their big-endian wire
//! layouts, and the error a write into too small a buffer returns.
//!
//! Each header is a plain struct with `from_bytes`/`to_bytes` over a fixed
//! size array, and `read`/`write` over the start of a slice, checked.
//! Reserved bits are kept in `resv` fields so that what is read is written
//! back unchanged.

/// A header did not fit in the buffer it was to be written to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferTooShort;

/// Length of the RDMA extended transport header.
pub const RETH_LEN: usize = 16;
/// Length of the atomic extended transport header.
pub const ATMETH_LEN: usize = 28;
/// Length of the atomic acknowledge extended transport header.
pub const ATMACK_LEN: usize = 8;
/// Length of the immediate data header.
pub const IMMDT_LEN: usize = 4;
/// Length of the invalidate extended transport header.
pub const IETH_LEN: usize = 4;
/// Length of the datagram extended transport header.
pub const DETH_LEN: usize = 8;
/// Length of the flush extended transport header.
pub const FETH_LEN: usize = 4;

/// The Q_Key of the general services QP (QP1).
pub const GSI_QKEY: u32 = 0x8001_0000;

/// Implements `LEN`, `read` and `write` for a header type with
/// `from_bytes`/`to_bytes` over `[u8; $len]`.
macro_rules! read_write {
    ($t:ident, $len:expr) => {
        impl $t {
            /// Length of the header in bytes.
            pub const LEN: usize = $len;

            /// Reads the header from the start of `buf`, or `None` if
            /// `buf` is too short.
            pub fn read(buf: &[u8]) -> Option<Self> {
                buf.first_chunk().map(Self::from_bytes)
            }

            /// Writes the header to the start of `buf`.
            pub fn write(&self, buf: &mut [u8]) -> Result<(), BufferTooShort> {
                *buf.first_chunk_mut().ok_or(BufferTooShort)? = self.to_bytes();
                Ok(())
            }
        }
    };
}

/// `N` bytes of `b` starting at `at`. Callers pass the constant offsets of
/// fields inside a fixed-size header, so the zero fallback is never taken;
/// it is there so that no index can panic.
const fn field<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    if let Some((_, tail)) = b.split_at_checked(at) {
        if let Some(chunk) = tail.first_chunk::<N>() {
            return *chunk;
        }
    }
    [0; N]
}

/// Copies `src` into `dst` at `at`; the same contract as [`field`].
const fn put<const N: usize>(dst: &mut [u8], at: usize, src: [u8; N]) {
    if let Some((_, tail)) = dst.split_at_mut_checked(at) {
        if let Some(chunk) = tail.first_chunk_mut::<N>() {
            *chunk = src;
        }
    }
}

/// RDMA extended transport header: the remote buffer of an RDMA read,
/// write or flush.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reth {
    /// Remote virtual address.
    pub va: u64,
    /// Remote key.
    pub rkey: u32,
    /// DMA length of the whole operation in bytes.
    pub len: u32,
}

impl Reth {
    /// Decodes the wire bytes.
    pub const fn from_bytes(b: &[u8; RETH_LEN]) -> Self {
        Reth {
            va: u64::from_be_bytes(field(b, 0)),
            rkey: u32::from_be_bytes(field(b, 8)),
            len: u32::from_be_bytes(field(b, 12)),
        }
    }

    /// Encodes the header.
    pub const fn to_bytes(self) -> [u8; RETH_LEN] {
        let mut b = [0; RETH_LEN];
        put(&mut b, 0, self.va.to_be_bytes());
        put(&mut b, 8, self.rkey.to_be_bytes());
        put(&mut b, 12, self.len.to_be_bytes());
        b
    }
}
read_write!(Reth, RETH_LEN);

/// Atomic extended transport header: the target and operands of a compare
/// and swap or fetch and add.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Atmeth {
    /// Remote virtual address (8-byte aligned).
    pub va: u64,
    /// Remote key.
    pub rkey: u32,
    /// The swap value (compare and swap) or the addend (fetch and add).
    pub swap_add: u64,
    /// The compare value (compare and swap only).
    pub compare: u64,
}

impl Atmeth {
    /// Decodes the wire bytes.
    pub const fn from_bytes(b: &[u8; ATMETH_LEN]) -> Self {
        Atmeth {
            va: u64::from_be_bytes(field(b, 0)),
            rkey: u32::from_be_bytes(field(b, 8)),
            swap_add: u64::from_be_bytes(field(b, 12)),
            compare: u64::from_be_bytes(field(b, 20)),
        }
    }

    /// Encodes the header.
    pub const fn to_bytes(self) -> [u8; ATMETH_LEN] {
        let mut b = [0; ATMETH_LEN];
        put(&mut b, 0, self.va.to_be_bytes());
        put(&mut b, 8, self.rkey.to_be_bytes());
        put(&mut b, 12, self.swap_add.to_be_bytes());
        put(&mut b, 20, self.compare.to_be_bytes());
        b
    }
}
read_write!(Atmeth, ATMETH_LEN);

/// Atomic acknowledge extended transport header: the value the target held
/// before the atomic operation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Atmack {
    /// The original remote value.
    pub orig: u64,
}

impl Atmack {
    /// Decodes the wire bytes.
    pub const fn from_bytes(b: &[u8; ATMACK_LEN]) -> Self {
        Atmack {
            orig: u64::from_be_bytes(*b),
        }
    }

    /// Encodes the header.
    pub const fn to_bytes(self) -> [u8; ATMACK_LEN] {
        self.orig.to_be_bytes()
    }
}
read_write!(Atmack, ATMACK_LEN);

/// Immediate data, delivered to the receiver's completion.
///
/// The value is the big-endian reading of the wire bytes. The verbs
/// `__be32 imm_data` holds the wire bytes as they are, i.e.
/// `imm.to_be()` in native representation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Immdt {
    /// The immediate value.
    pub imm: u32,
}

impl Immdt {
    /// Decodes the wire bytes.
    pub const fn from_bytes(b: &[u8; IMMDT_LEN]) -> Self {
        Immdt {
            imm: u32::from_be_bytes(*b),
        }
    }

    /// Encodes the header.
    pub const fn to_bytes(self) -> [u8; IMMDT_LEN] {
        self.imm.to_be_bytes()
    }
}
read_write!(Immdt, IMMDT_LEN);

/// Invalidate extended transport header: the key a send with invalidate
/// invalidates at the receiver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ieth {
    /// The remote key to invalidate.
    pub rkey: u32,
}

impl Ieth {
    /// Decodes the wire bytes.
    pub const fn from_bytes(b: &[u8; IETH_LEN]) -> Self {
        Ieth {
            rkey: u32::from_be_bytes(*b),
        }
    }

    /// Encodes the header.
    pub const fn to_bytes(self) -> [u8; IETH_LEN] {
        self.rkey.to_be_bytes()
    }
}
read_write!(Ieth, IETH_LEN);

/// Datagram extended transport header: the Q_Key and source QP of a UD
/// packet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Deth {
    /// Queue key; must match the receiving QP's.
    pub qkey: u32,
    /// The reserved byte before the source QP.
    pub resv: u8,
    /// Source queue pair number, 24 bits.
    pub src_qpn: u32,
}

impl Deth {
    /// Decodes the wire bytes.
    pub const fn from_bytes(b: &[u8; DETH_LEN]) -> Self {
        Deth {
            qkey: u32::from_be_bytes(field(b, 0)),
            resv: b[4],
            src_qpn: u32::from_be_bytes([0, b[5], b[6], b[7]]),
        }
    }

    /// Encodes the header; the source QP is truncated to 24 bits.
    pub const fn to_bytes(self) -> [u8; DETH_LEN] {
        let q = self.qkey.to_be_bytes();
        let s = self.src_qpn.to_be_bytes();
        [q[0], q[1], q[2], q[3], self.resv, s[1], s[2], s[3]]
    }
}
read_write!(Deth, DETH_LEN);

/// Flush extended transport header: what an RDMA FLUSH makes durable.
///
/// One big-endian 32-bit word: placement type in bits 3-0, selectivity
/// level in bits 5-4, the rest reserved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Feth {
    /// Placement type, 4 bits: 1 global visibility, 2 persistence.
    pub plt: u8,
    /// Selectivity level, 2 bits: 0 the memory region range, 1 the whole
    /// memory region.
    pub sel: u8,
    /// Bits 31-6, reserved, kept in place (the low 6 bits are zero).
    pub resv: u32,
}

impl Feth {
    /// Decodes the wire bytes.
    pub const fn from_bytes(b: &[u8; FETH_LEN]) -> Self {
        let w = u32::from_be_bytes(*b);
        Feth {
            plt: b[3] & 0x0f,
            sel: (b[3] >> 4) & 0x3,
            resv: w & !0x3f,
        }
    }

    /// Encodes the header; fields are truncated to their widths.
    pub const fn to_bytes(self) -> [u8; FETH_LEN] {
        let w = (self.resv & !0x3f) | ((self.sel as u32 & 0x3) << 4) | (self.plt as u32 & 0x0f);
        w.to_be_bytes()
    }
}
read_write!(Feth, FETH_LEN);

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes 0, 1, 2, ... as a header-sized array.
    fn counting<const N: usize>() -> [u8; N] {
        core::array::from_fn(|i| i as u8 + 1)
    }

    #[test]
    fn reth() {
        let r = Reth::from_bytes(&counting());
        assert_eq!(r.va, 0x0102_0304_0506_0708);
        assert_eq!(r.rkey, 0x090a_0b0c);
        assert_eq!(r.len, 0x0d0e_0f10);
        assert_eq!(r.to_bytes(), counting());
    }

    #[test]
    fn atmeth() {
        let a = Atmeth::from_bytes(&counting());
        assert_eq!(a.va, 0x0102_0304_0506_0708);
        assert_eq!(a.rkey, 0x090a_0b0c);
        assert_eq!(a.swap_add, 0x0d0e_0f10_1112_1314);
        assert_eq!(a.compare, 0x1516_1718_191a_1b1c);
        assert_eq!(a.to_bytes(), counting());
    }

    #[test]
    fn small_headers() {
        assert_eq!(Atmack::from_bytes(&counting()).orig, 0x0102_0304_0506_0708);
        assert_eq!(Immdt::from_bytes(&counting()).imm, 0x0102_0304);
        assert_eq!(Ieth::from_bytes(&counting()).rkey, 0x0102_0304);
        let d = Deth::from_bytes(&counting());
        assert_eq!((d.qkey, d.resv, d.src_qpn), (0x0102_0304, 5, 0x06_0708));
        assert_eq!(d.to_bytes(), counting());
        let d = Deth {
            qkey: GSI_QKEY,
            resv: 0,
            src_qpn: 0xff12_3456,
        };
        assert_eq!(d.to_bytes(), [0x80, 0x01, 0x00, 0x00, 0, 0x12, 0x34, 0x56]);
    }

    #[test]
    fn feth() {
        let f = Feth {
            plt: 2,
            sel: 1,
            resv: 0,
        };
        assert_eq!(f.to_bytes(), [0, 0, 0, 0x12]);
        assert_eq!(Feth::from_bytes(&[0, 0, 0, 0x12]), f);
        for w in [0u32, 0x3f, 0xffff_ffff, 0x8000_0040, 0x1234_5678] {
            let b = w.to_be_bytes();
            assert_eq!(Feth::from_bytes(&b).to_bytes(), b, "{w:#x}");
        }
        let wide = Feth {
            plt: 0xff,
            sel: 0xff,
            resv: 0xff,
        };
        assert_eq!(wide.to_bytes(), [0, 0, 0, 0xff]);
    }

    #[test]
    fn read_write_bounds() {
        let buf = [0x5au8; 64];
        assert!(Reth::read(&buf[..RETH_LEN - 1]).is_none());
        assert!(Reth::read(&buf[..RETH_LEN]).is_some());
        assert!(Atmeth::read(&buf[..ATMETH_LEN - 1]).is_none());
        assert!(Atmack::read(&buf[..ATMACK_LEN - 1]).is_none());
        assert!(Immdt::read(&buf[..IMMDT_LEN - 1]).is_none());
        assert!(Ieth::read(&buf[..IETH_LEN - 1]).is_none());
        assert!(Deth::read(&buf[..DETH_LEN - 1]).is_none());
        assert!(Feth::read(&buf[..FETH_LEN - 1]).is_none());
        assert!(Feth::read(&[]).is_none());

        let mut out = [0u8; ATMETH_LEN - 1];
        assert_eq!(Atmeth::default().write(&mut out), Err(BufferTooShort));
        let mut out = [0u8; 40];
        let a = Atmeth::read(&buf).unwrap_or_default();
        assert_eq!(a.write(&mut out), Ok(()));
        assert_eq!(out[..ATMETH_LEN], buf[..ATMETH_LEN]);
        assert_eq!(out[ATMETH_LEN..], [0; 40 - ATMETH_LEN]);
        assert_eq!(Reth::LEN, RETH_LEN);
        assert_eq!(Deth::LEN, DETH_LEN);
    }
}
