// SPDX-License-Identifier: GPL-2.0

//! CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320): the CRC of the
//! RoCE invariant CRC, table driven with slicing by 8.
//!
//! [`Crc32`] holds the raw register, as Linux's `crc32_le()` takes and
//! returns it: no inversion on the way in or out. The standard CRC-32 of a
//! message starts the register at all ones and inverts it at the end,
//! which is what [`Crc32::ieee`] and [`Crc32::finish`] do.

/// The reflected IEEE 802.3 polynomial.
pub const POLY: u32 = 0xedb8_8320;

/// The standard CRC-32 of the ASCII bytes "123456789".
pub const CHECK: u32 = 0xcbf4_3926;

/// The register after a message followed by its own CRC-32, stored least
/// significant byte first, has been run through it (before the final
/// inversion): the same for every message.
pub const RESIDUE: u32 = 0xdebb_20e3;

/// One byte through the register, bit by bit.
const fn step_bits(mut crc: u32, byte: u8) -> u32 {
    crc ^= byte as u32;
    let mut bit = 0;
    while bit < 8 {
        crc = if crc & 1 != 0 {
            (crc >> 1) ^ POLY
        } else {
            crc >> 1
        };
        bit += 1;
    }
    crc
}

/// The slicing-by-8 tables: `T[0][b]` is byte `b` through a zero register,
/// `T[k][b]` that followed by `k` zero bytes.
const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut b = 0;
    while b < 256 {
        t[0][b] = step_bits(0, b as u8);
        b += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut b = 0;
        while b < 256 {
            let prev = t[k - 1][b];
            t[k][b] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            b += 1;
        }
        k += 1;
    }
    t
}

/// See [`make_tables`].
static TABLES: [[u32; 256]; 8] = make_tables();

/// Table entry `k` for the low byte of `x`.
#[inline(always)]
fn t(k: usize, x: u32) -> u32 {
    TABLES
        .get(k)
        .and_then(|t| t.get((x & 0xff) as usize))
        .copied()
        .unwrap_or(0)
}

/// `data` through the register `crc` (Linux `crc32_le()` semantics: no
/// inversion), bit by bit: slow, but usable in constants.
pub const fn crc32_le_const(mut crc: u32, mut data: &[u8]) -> u32 {
    while let [b, rest @ ..] = data {
        crc = step_bits(crc, *b);
        data = rest;
    }
    crc
}

/// `data` through the register `crc`, as Linux's `crc32_le(crc, data, len)`.
pub fn crc32_le(crc: u32, data: &[u8]) -> u32 {
    let mut c = Crc32::new(crc);
    c.update(data);
    c.state()
}

/// The standard CRC-32 of `data` (as zlib's `crc32()`).
pub fn crc32_ieee(data: &[u8]) -> u32 {
    let mut c = Crc32::ieee();
    c.update(data);
    c.finish()
}

/// An incremental CRC-32: a register data is run through piece by piece.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crc32 {
    state: u32,
}

impl Crc32 {
    /// A register starting at `seed`, taken as is.
    pub const fn new(seed: u32) -> Self {
        Crc32 { state: seed }
    }

    /// A register starting at all ones, for the standard CRC-32.
    pub const fn ieee() -> Self {
        Self::new(!0)
    }

    /// Runs `data` through the register.
    pub fn update(&mut self, data: &[u8]) {
        let mut crc = self.state;
        let mut rest = data;
        while let Some((c, tail)) = rest.split_first_chunk::<8>() {
            let lo = crc ^ u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            let hi = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
            crc = t(7, lo)
                ^ t(6, lo >> 8)
                ^ t(5, lo >> 16)
                ^ t(4, lo >> 24)
                ^ t(3, hi)
                ^ t(2, hi >> 8)
                ^ t(1, hi >> 16)
                ^ t(0, hi >> 24);
            rest = tail;
        }
        for &b in rest {
            crc = t(0, crc ^ u32::from(b)) ^ (crc >> 8);
        }
        self.state = crc;
    }

    /// The register as it stands (Linux `crc32_le()`'s return value).
    pub const fn state(&self) -> u32 {
        self.state
    }

    /// The register inverted: the standard CRC-32 when started with
    /// [`Crc32::ieee`].
    pub const fn finish(&self) -> u32 {
        !self.state
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_value() {
        assert_eq!(crc32_ieee(b"123456789"), CHECK);
        assert_eq!(!crc32_le_const(!0, b"123456789"), CHECK);
        assert_eq!(crc32_ieee(b""), 0);
        assert_eq!(
            crc32_ieee(b"The quick brown fox jumps over the lazy dog"),
            0x414f_a339
        );
        assert_eq!(crc32_ieee(&[0u8; 32]), 0x190a_55ad);
        assert_eq!(crc32_ieee(&[0xffu8; 32]), 0xff6c_ab0b);
    }

    #[test]
    fn table() {
        assert_eq!(TABLES[0][0], 0);
        assert_eq!(TABLES[0][1], 0x7707_3096);
        assert_eq!(TABLES[0][255], 0x2d02_ef8d);
        assert_eq!(TABLES[0][128], POLY);
    }

    #[test]
    fn residue() {
        let msg = b"any message at all";
        let crc = crc32_ieee(msg);
        let mut c = Crc32::ieee();
        c.update(msg);
        c.update(&crc.to_le_bytes());
        assert_eq!(c.state(), RESIDUE);
        assert_eq!(c.finish(), !RESIDUE);
    }

    #[test]
    fn slicing_matches_bitwise_at_every_length_and_split() {
        let data: [u8; 67] = core::array::from_fn(|i| (i as u8).wrapping_mul(151).wrapping_add(7));
        for len in 0..=data.len() {
            let d = &data[..len];
            let want = crc32_le_const(0x1234_5678, d);
            assert_eq!(crc32_le(0x1234_5678, d), want, "len {len}");
            for split in 0..=len {
                let mut c = Crc32::new(0x1234_5678);
                c.update(&d[..split]);
                c.update(&d[split..]);
                assert_eq!(c.state(), want, "len {len} split {split}");
            }
        }
    }
}
