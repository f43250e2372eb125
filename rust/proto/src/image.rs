// SPDX-License-Identifier: GPL-2.0

//! The checkpoint image: the container that carries one uverbs context's
//! objects from a dump to a restore, on disk and through the driver's
//! methods. The kernel writes it and reads it back; `rxe-ckpt` shows,
//! checks and stores it. An image from disk is hostile input: [`Image::parse`]
//! checks every byte of the framing before a record is looked at, and the
//! records' own fields are checked by their decoders ([`record`]).
//!
//! Layout, all integers little-endian and fixed-width:
//!
//! ```text
//! header (32 bytes)
//!   0  magic    [u8; 8]  "RXERSIMG"
//!   8  version  u16      VERSION
//!  10  hdr_len  u16      32
//!  12  flags    u32      0 (none defined)
//!  16  len      u64      the whole image, header included
//!  24  count    u32      records that follow
//!  28  crc      u32      CRC-32 (IEEE) of the whole image, this field as 0
//! records, each:
//!   0  kind     u16      a Kind
//!   2  flags    u16      0
//!   4  len      u32      payload bytes
//!   8  payload  [u8; len], then zeros up to a multiple of 8
//! ```
//!
//! Nothing here allocates: a [`Writer`] fills a buffer its caller sized
//! with [`record_size`], and a parsed [`Image`] borrows the bytes it checked.

use super::crc32::Crc32;

pub mod record;
pub mod validate;

/// The image's first bytes.
pub const MAGIC: [u8; 8] = *b"RXERSIMG";
/// The format this code writes, and the only one it reads.
pub const VERSION: u16 = 1;
/// Bytes of the image header.
pub const HEADER_LEN: usize = 32;
/// Bytes of a record header.
pub const RECORD_HEADER_LEN: usize = 8;
/// Records start, and payloads are padded to, multiples of this.
pub const ALIGN: usize = 8;
/// Where the header's checksum sits.
const CRC_AT: usize = 28;

/// Why an image was refused. Each names the first thing found wrong; the
/// kernel answers all of them with `EINVAL`, `rxe-ckpt` prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageError {
    /// Fewer bytes than a header, or than the header says.
    Truncated,
    /// More bytes than the header says.
    TrailingBytes,
    /// Not an rxe-rs image.
    BadMagic,
    /// A format version this code does not read.
    Version(u16),
    /// A header length or flags that version 1 does not define.
    BadHeader,
    /// The checksum does not match: the image was damaged.
    Checksum,
    /// A record runs past the end, or its padding is not zero.
    BadFraming,
    /// More or fewer records than the header counts.
    Count,
    /// A record kind this version does not define, or with flags set.
    UnknownKind(u16),
    /// A record whose payload length is not its kind's.
    RecordLen(u16),
    /// A field out of its range, or inconsistent with another (the record
    /// kind, and the field's byte offset in its payload).
    Field {
        /// The record's kind.
        kind: u16,
        /// The field's offset in the payload.
        at: u16,
    },
    /// The writer's buffer is too small for what is written.
    NoRoom,
    /// Larger than a record (`u32` bytes) or an image may be.
    TooLarge,
}

impl core::fmt::Display for ImageError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            ImageError::Truncated => f.write_str("image truncated"),
            ImageError::TrailingBytes => f.write_str("bytes after the image's end"),
            ImageError::BadMagic => f.write_str("not an rxe-rs checkpoint image"),
            ImageError::Version(v) => {
                write!(f, "image format version {v}, this build reads {VERSION}")
            }
            ImageError::BadHeader => f.write_str("bad image header"),
            ImageError::Checksum => f.write_str("image checksum mismatch (damaged)"),
            ImageError::BadFraming => f.write_str("bad record framing"),
            ImageError::Count => f.write_str("record count does not match the header"),
            ImageError::UnknownKind(k) => write!(f, "unknown record kind {k}"),
            ImageError::RecordLen(k) => write!(f, "record kind {k}: wrong length"),
            ImageError::Field { kind, at } => {
                write!(f, "record kind {kind}: bad field at byte {at}")
            }
            ImageError::NoRoom => f.write_str("buffer too small for the image"),
            ImageError::TooLarge => f.write_str("image too large"),
        }
    }
}

/// `n` rounded up to [`ALIGN`], or `None` past `usize`.
const fn padded(n: usize) -> Option<usize> {
    match n.checked_add(ALIGN - 1) {
        Some(v) => Some(v & !(ALIGN - 1)),
        None => None,
    }
}

/// The bytes a record with a `payload`-byte payload takes, framing and
/// padding included; `None` if it cannot be framed (over `u32` bytes).
pub const fn record_size(payload: usize) -> Option<usize> {
    if payload > u32::MAX as usize {
        return None;
    }
    match padded(payload) {
        Some(p) => p.checked_add(RECORD_HEADER_LEN),
        None => None,
    }
}

fn le16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn le64(b: &[u8], at: usize) -> Option<u64> {
    let s = b.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Some(u64::from_le_bytes(a))
}

/// The checksum of an image: its bytes with the header's checksum field
/// taken as zero.
fn checksum(image: &[u8]) -> u32 {
    let mut c = Crc32::ieee();
    let (head, rest) = image.split_at(CRC_AT.min(image.len()));
    c.update(head);
    if rest.len() >= 4 {
        c.update(&[0; 4]);
        c.update(&rest[4..]);
    } else {
        c.update(rest);
    }
    c.finish()
}

/// One record of a parsed image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Its kind (a [`record::Kind`]'s number; checked known by the parser).
    pub kind: u16,
    /// Its payload, padding excluded.
    pub payload: &'a [u8],
}

/// An image whose framing and checksum were checked: every record lies
/// within it, is of a known kind and of that kind's length, and is padded
/// with zeros.
#[derive(Clone, Copy, Debug)]
pub struct Image<'a> {
    // INVARIANT: `body` holds exactly `count` well-framed records of known
    // kinds and valid lengths.
    body: &'a [u8],
    count: u32,
}

impl<'a> Image<'a> {
    /// Checks `bytes` as a whole image: header, checksum, and the framing
    /// of every record. The records' fields are checked when decoded.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, ImageError> {
        if bytes.len() < HEADER_LEN {
            return Err(ImageError::Truncated);
        }
        if bytes.get(..8) != Some(&MAGIC[..]) {
            return Err(ImageError::BadMagic);
        }
        let version = le16(bytes, 8).ok_or(ImageError::Truncated)?;
        if version != VERSION {
            return Err(ImageError::Version(version));
        }
        if le16(bytes, 10) != Some(HEADER_LEN as u16) || le32(bytes, 12) != Some(0) {
            return Err(ImageError::BadHeader);
        }
        let len = le64(bytes, 16).ok_or(ImageError::Truncated)?;
        let len = usize::try_from(len).map_err(|_| ImageError::Truncated)?;
        if len < HEADER_LEN || len > bytes.len() {
            return Err(ImageError::Truncated);
        }
        if len < bytes.len() {
            return Err(ImageError::TrailingBytes);
        }
        if le32(bytes, CRC_AT) != Some(checksum(bytes)) {
            return Err(ImageError::Checksum);
        }
        let count = le32(bytes, 24).ok_or(ImageError::Truncated)?;
        let body = bytes.get(HEADER_LEN..).ok_or(ImageError::Truncated)?;
        let mut rest = body;
        let mut seen: u32 = 0;
        while !rest.is_empty() {
            let (rec, next) = split_record(rest)?;
            record::Kind::check(rec.kind, rec.payload.len())?;
            seen = seen.checked_add(1).ok_or(ImageError::Count)?;
            rest = next;
        }
        if seen != count {
            return Err(ImageError::Count);
        }
        Ok(Image { body, count })
    }

    /// How many records it holds.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Its records, in order.
    pub fn records(&self) -> Records<'a> {
        Records { rest: self.body }
    }
}

/// The first record of `b` and what follows it.
fn split_record(b: &[u8]) -> Result<(Record<'_>, &[u8]), ImageError> {
    let kind = le16(b, 0).ok_or(ImageError::BadFraming)?;
    let flags = le16(b, 2).ok_or(ImageError::BadFraming)?;
    if flags != 0 {
        return Err(ImageError::UnknownKind(kind));
    }
    let len = le32(b, 4).ok_or(ImageError::BadFraming)? as usize;
    let size = record_size(len).ok_or(ImageError::BadFraming)?;
    let rec = b.get(..size).ok_or(ImageError::BadFraming)?;
    let end = RECORD_HEADER_LEN
        .checked_add(len)
        .ok_or(ImageError::BadFraming)?;
    let payload = rec
        .get(RECORD_HEADER_LEN..end)
        .ok_or(ImageError::BadFraming)?;
    if rec
        .get(end..)
        .is_some_and(|pad| pad.iter().any(|&x| x != 0))
    {
        return Err(ImageError::BadFraming);
    }
    let rest = b.get(size..).ok_or(ImageError::BadFraming)?;
    Ok((Record { kind, payload }, rest))
}

/// The records of a checked [`Image`].
#[derive(Clone, Debug)]
pub struct Records<'a> {
    rest: &'a [u8],
}

impl<'a> Records<'a> {
    /// The records of `bytes`, an image [`Image::parse`] accepted, from
    /// byte `at` on, a place [`Records::at`] gave. (Any other bytes or
    /// place are framing-checked as they are read: the iteration stops at
    /// the first bad record.)
    pub fn resume(bytes: &'a [u8], at: usize) -> Self {
        Records {
            rest: bytes.get(at..).unwrap_or_default(),
        }
    }

    /// Where the next record starts in `bytes`, the image these records
    /// are of.
    pub fn at(&self, bytes: &[u8]) -> usize {
        bytes.len().saturating_sub(self.rest.len())
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Record<'a>;

    fn next(&mut self) -> Option<Record<'a>> {
        if self.rest.is_empty() {
            return None;
        }
        // The image was checked whole: this cannot fail, and if it did the
        // iteration would simply stop.
        let (rec, rest) = split_record(self.rest).ok()?;
        self.rest = rest;
        Some(rec)
    }
}

/// Where an image's records go: a [`Writer`], or a [`Sizer`] that counts
/// the bytes a writer will need. A dump runs the same code into both, so
/// the buffer it sizes is the one it fills.
pub trait Sink {
    /// Appends a record of `kind` whose payload, `len` bytes (zeroed
    /// first), `fill` writes (a [`Sizer`] does not call it).
    fn record_with(
        &mut self,
        kind: record::Kind,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), ImageError>;

    /// Appends a record holding `v`.
    fn put<T: record::Field>(&mut self, kind: record::Kind, v: &T) -> Result<(), ImageError> {
        self.record_with(kind, T::SIZE, |b| v.put(b))
    }

    /// Appends a headed record: `head`, then `extra` bytes that `fill`
    /// writes.
    fn put_headed<T: record::Field>(
        &mut self,
        kind: record::Kind,
        head: &T,
        extra: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), ImageError> {
        let len = validate::headed_len::<T>(extra).ok_or(ImageError::TooLarge)?;
        self.record_with(kind, len, |b| {
            let (h, rest) = b.split_at_mut(T::SIZE);
            head.put(h);
            fill(rest);
        })
    }
}

/// Counts what a [`Writer`] needs for the records it is given.
#[derive(Debug)]
pub struct Sizer {
    len: usize,
    count: u32,
}

impl Default for Sizer {
    fn default() -> Self {
        Sizer {
            len: HEADER_LEN,
            count: 0,
        }
    }
}

impl Sizer {
    /// The bytes of the image so far, header included.
    pub fn bytes(&self) -> usize {
        self.len
    }

    /// The records so far.
    pub fn count(&self) -> u32 {
        self.count
    }
}

impl Sink for Sizer {
    fn record_with(
        &mut self,
        _kind: record::Kind,
        len: usize,
        _fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), ImageError> {
        let size = record_size(len).ok_or(ImageError::TooLarge)?;
        self.len = self.len.checked_add(size).ok_or(ImageError::TooLarge)?;
        self.count = self.count.checked_add(1).ok_or(ImageError::TooLarge)?;
        Ok(())
    }
}

impl Sink for Writer<'_> {
    fn record_with(
        &mut self,
        kind: record::Kind,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), ImageError> {
        Writer::record_with(self, kind, len, fill)
    }
}

/// Writes an image into a buffer its caller sized: [`HEADER_LEN`] plus the
/// [`record_size`] of each payload (a [`Sizer`] adds them up).
pub struct Writer<'a> {
    buf: &'a mut [u8],
    // INVARIANT: `HEADER_LEN <= pos <= buf.len()`, and `buf[HEADER_LEN..pos]`
    // holds `count` framed records.
    pos: usize,
    count: u32,
}

impl<'a> Writer<'a> {
    /// Starts an image in `buf`.
    pub fn new(buf: &'a mut [u8]) -> Result<Self, ImageError> {
        let head = buf.get_mut(..HEADER_LEN).ok_or(ImageError::NoRoom)?;
        head.fill(0);
        Ok(Writer {
            buf,
            pos: HEADER_LEN,
            count: 0,
        })
    }

    /// Appends a record of `kind` whose payload, `len` bytes (zeroed
    /// first), `fill` writes.
    pub fn record_with(
        &mut self,
        kind: record::Kind,
        len: usize,
        fill: impl FnOnce(&mut [u8]),
    ) -> Result<(), ImageError> {
        let size = record_size(len).ok_or(ImageError::TooLarge)?;
        let end = self.pos.checked_add(size).ok_or(ImageError::NoRoom)?;
        let count = self.count.checked_add(1).ok_or(ImageError::TooLarge)?;
        let rec = self.buf.get_mut(self.pos..end).ok_or(ImageError::NoRoom)?;
        rec.fill(0);
        let (head, body) = rec.split_at_mut(RECORD_HEADER_LEN);
        head[0..2].copy_from_slice(&(kind as u16).to_le_bytes());
        // `record_size` checked that `len` fits in a `u32`.
        head[4..8].copy_from_slice(&(len as u32).to_le_bytes());
        fill(&mut body[..len]);
        self.pos = end;
        self.count = count;
        Ok(())
    }

    /// Appends a record with `payload`.
    pub fn record(&mut self, kind: record::Kind, payload: &[u8]) -> Result<(), ImageError> {
        self.record_with(kind, payload.len(), |b| b.copy_from_slice(payload))
    }

    /// Completes the header and returns the image's length.
    pub fn finish(self) -> Result<usize, ImageError> {
        let len = self.pos;
        let image = self.buf.get_mut(..len).ok_or(ImageError::NoRoom)?;
        image[..8].copy_from_slice(&MAGIC);
        image[8..10].copy_from_slice(&VERSION.to_le_bytes());
        image[10..12].copy_from_slice(&(HEADER_LEN as u16).to_le_bytes());
        image[16..24].copy_from_slice(&(len as u64).to_le_bytes());
        image[24..28].copy_from_slice(&self.count.to_le_bytes());
        let crc = checksum(image);
        image[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
        Ok(len)
    }
}

/// Gives a modified image a valid checksum again (nothing else is
/// touched), so that a test or a fuzzer reaches the checks behind it.
/// Shorter than a header: left as it is.
pub fn seal(image: &mut [u8]) {
    if image.len() < HEADER_LEN {
        return;
    }
    let crc = checksum(image);
    image[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::record::Kind;
    use super::*;

    fn sample(buf: &mut [u8]) -> usize {
        let mut w = Writer::new(buf).unwrap();
        w.record(Kind::Producer, b"hello").unwrap();
        w.record(Kind::Producer, b"").unwrap();
        w.record(Kind::Producer, &[7; 8]).unwrap();
        w.finish().unwrap()
    }

    #[test]
    fn round_trip() {
        let mut buf = [0u8; 256];
        let len = sample(&mut buf);
        assert_eq!(
            len,
            HEADER_LEN
                + record_size(5).unwrap()
                + record_size(0).unwrap()
                + record_size(8).unwrap()
        );
        let img = Image::parse(&buf[..len]).unwrap();
        assert_eq!(img.count(), 3);
        let recs: Vec<_> = img.records().collect();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[0].payload, b"hello");
        assert_eq!(recs[1].payload, b"");
        assert_eq!(recs[2].payload, &[7; 8]);
        assert!(recs.iter().all(|r| r.kind == Kind::Producer as u16));
    }

    #[test]
    fn sizes() {
        assert_eq!(record_size(0), Some(8));
        assert_eq!(record_size(1), Some(16));
        assert_eq!(record_size(8), Some(16));
        assert_eq!(record_size(9), Some(24));
        assert_eq!(
            record_size(u32::MAX as usize),
            Some(u32::MAX as usize + 1 + 8)
        );
        #[cfg(target_pointer_width = "64")]
        assert_eq!(record_size(u32::MAX as usize + 1), None);
    }

    #[test]
    fn no_room() {
        let mut small = [0u8; HEADER_LEN + 8];
        let mut w = Writer::new(&mut small).unwrap();
        assert_eq!(w.record(Kind::Producer, b"x"), Err(ImageError::NoRoom));
        assert_eq!(w.record(Kind::Producer, b""), Ok(()));
        assert_eq!(Writer::new(&mut [0u8; 31]).err(), Some(ImageError::NoRoom));
    }

    fn reseal(img: &mut [u8]) {
        seal(img);
    }

    #[test]
    fn refusals() {
        let mut buf = [0u8; 256];
        let len = sample(&mut buf);
        let good = buf[..len].to_vec();
        let parse = |b: &[u8]| Image::parse(b).err();

        assert_eq!(parse(&good[..10]), Some(ImageError::Truncated));
        assert_eq!(parse(&good[..len - 8]), Some(ImageError::Truncated));
        let mut long = good.clone();
        long.push(0);
        assert_eq!(parse(&long), Some(ImageError::TrailingBytes));

        let mut b = good.clone();
        b[0] = b'X';
        assert_eq!(parse(&b), Some(ImageError::BadMagic));
        let mut b = good.clone();
        b[8] = 2;
        assert_eq!(parse(&b), Some(ImageError::Version(2)));
        let mut b = good.clone();
        b[12] = 1;
        assert_eq!(parse(&b), Some(ImageError::BadHeader));

        // Any single flipped bit past the header's checked fields is caught.
        for i in 16..len {
            let mut b = good.clone();
            b[i] ^= 0x10;
            assert!(parse(&b).is_some(), "flip at {i} accepted");
        }

        let mut b = good.clone();
        b[24] = 4;
        reseal(&mut b);
        assert_eq!(parse(&b), Some(ImageError::Count));

        // The first record's padding (payload "hello", 3 bytes of pad).
        let mut b = good.clone();
        b[HEADER_LEN + 8 + 6] = 1;
        reseal(&mut b);
        assert_eq!(parse(&b), Some(ImageError::BadFraming));

        // A record length running past the end.
        let mut b = good.clone();
        b[HEADER_LEN + 4] = 200;
        reseal(&mut b);
        assert_eq!(parse(&b), Some(ImageError::BadFraming));

        // An unknown kind, and flags on a known one.
        let mut b = good.clone();
        b[HEADER_LEN] = 0xee;
        reseal(&mut b);
        assert_eq!(parse(&b), Some(ImageError::UnknownKind(0xee)));
        let mut b = good.clone();
        b[HEADER_LEN + 2] = 1;
        reseal(&mut b);
        assert!(matches!(parse(&b), Some(ImageError::UnknownKind(_))));
    }
}
