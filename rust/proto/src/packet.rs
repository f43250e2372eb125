// SPDX-License-Identifier: GPL-2.0

//! Whole packets: the checked view of a received RoCE packet (the UDP
//! payload: BTH, extended headers, payload, pad, ICRC), and the builder
//! that lays one out in a caller's buffer.
//!
//! Parsing checks what can be checked without the queue pair: a known
//! opcode, transport header version 0, a length that holds the opcode's
//! headers, the pad and the ICRC; a pad count only on the last packet of a
//! message with payload, payload plus pad a multiple of 4 bytes (as every
//! sender pads it), no payload on opcodes that carry none. It does not
//! check the ICRC (see `icrc`), which needs the IP and UDP headers.

use super::aeth::Aeth;
use super::bth::{Bth, TVER};
use super::headers::{Atmack, Atmeth, BufferTooShort, Deth, Feth, Ieth, Immdt, Reth};
use super::icrc::{icrc_from_wire, ICRC_LEN};
use super::opcode::{lookup_in, Dialect, Hdr, OpcodeInfo};

/// Why a packet was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than a BTH, or than the opcode's headers, pad and ICRC.
    TooShort,
    /// The opcode has no entry in the dialect's table.
    UnknownOpcode(u8),
    /// The transport header version is not 0.
    BadTver(u8),
    /// A pad count on a packet that may not have one: one without payload,
    /// or a first or middle packet, whose payload is a whole MTU.
    PadNotAllowed(u8),
    /// Payload and pad do not add up to a multiple of 4 bytes: the payload
    /// length.
    Misaligned(usize),
    /// Payload bytes on an opcode that carries none: how many.
    UnexpectedPayload(usize),
}

/// Why a packet could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuildError {
    /// The opcode has no entry in the dialect's table.
    UnknownOpcode(u8),
    /// The opcode carries this header and none was given.
    MissingHeader(Hdr),
    /// This header was given for an opcode that does not carry it.
    UnexpectedHeader(Hdr),
    /// Payload for an opcode that carries none.
    PayloadNotAllowed,
    /// The payload needs padding (this many bytes) but the packet is not
    /// the last of its message.
    PadNotAllowed(u8),
    /// The buffer cannot hold the packet.
    BufferTooShort,
}

impl From<BufferTooShort> for BuildError {
    fn from(_: BufferTooShort) -> Self {
        BuildError::BufferTooShort
    }
}

/// The pad count for `payload_len` bytes of payload: what brings it to a
/// multiple of 4.
pub const fn pad_len(payload_len: usize) -> u8 {
    (payload_len.wrapping_neg() & 3) as u8
}

/// The UDP payload length of a packet of opcode `info` with `payload_len`
/// bytes of payload: headers, payload, pad and ICRC. `None` on overflow.
pub const fn packet_len(info: &OpcodeInfo, payload_len: usize) -> Option<usize> {
    let fixed = info.hdr_len() + pad_len(payload_len) as usize + ICRC_LEN;
    payload_len.checked_add(fixed)
}

/// A received packet that passed the checks of [`Packet::parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    data: &'a [u8],
    info: &'static OpcodeInfo,
    bth: Bth,
    payload_len: usize,
}

impl<'a> Packet<'a> {
    /// Checks `data`, the UDP payload of a RoCE packet (from the BTH to
    /// the ICRC included), against the opcodes of `dialect`.
    pub fn parse(data: &'a [u8], dialect: Dialect) -> Result<Self, ParseError> {
        let bth = Bth::read(data).ok_or(ParseError::TooShort)?;
        let info = lookup_in(bth.opcode, dialect).ok_or(ParseError::UnknownOpcode(bth.opcode))?;
        if bth.tver != TVER {
            return Err(ParseError::BadTver(bth.tver));
        }
        if bth.pad != 0 && !(info.has_payload() && info.is_last()) {
            return Err(ParseError::PadNotAllowed(bth.pad));
        }
        let pad = usize::from(bth.pad);
        let payload_len = data
            .len()
            .checked_sub(info.hdr_len() + pad + ICRC_LEN)
            .ok_or(ParseError::TooShort)?;
        if payload_len != 0 && !info.has_payload() {
            return Err(ParseError::UnexpectedPayload(payload_len));
        }
        if pad_len(payload_len) != bth.pad {
            return Err(ParseError::Misaligned(payload_len));
        }
        Ok(Packet {
            data,
            info,
            bth,
            payload_len,
        })
    }

    /// The whole packet, as given to [`Packet::parse`].
    pub fn bytes(&self) -> &'a [u8] {
        self.data
    }

    /// The opcode's table entry.
    pub fn info(&self) -> &'static OpcodeInfo {
        self.info
    }

    /// The opcode.
    pub fn opcode(&self) -> u8 {
        self.bth.opcode
    }

    /// The BTH.
    pub fn bth(&self) -> &Bth {
        &self.bth
    }

    /// Length of the BTH and extended headers.
    pub fn hdr_len(&self) -> usize {
        self.info.hdr_len()
    }

    /// Offset of `hdr` in the packet, if the opcode carries it.
    pub fn offset(&self, hdr: Hdr) -> Option<usize> {
        self.info.offset(hdr)
    }

    /// Reads the extended header `hdr` with `read`, if the opcode carries
    /// it.
    fn ext<T>(&self, hdr: Hdr, read: fn(&[u8]) -> Option<T>) -> Option<T> {
        read(self.data.get(self.info.offset(hdr)?..)?)
    }

    /// The datagram extended transport header, if the opcode carries one.
    pub fn deth(&self) -> Option<Deth> {
        self.ext(Hdr::Deth, Deth::read)
    }

    /// The flush extended transport header, if the opcode carries one.
    pub fn feth(&self) -> Option<Feth> {
        self.ext(Hdr::Feth, Feth::read)
    }

    /// The RDMA extended transport header, if the opcode carries one.
    pub fn reth(&self) -> Option<Reth> {
        self.ext(Hdr::Reth, Reth::read)
    }

    /// The atomic extended transport header, if the opcode carries one.
    pub fn atmeth(&self) -> Option<Atmeth> {
        self.ext(Hdr::Atmeth, Atmeth::read)
    }

    /// The ACK extended transport header, if the opcode carries one.
    pub fn aeth(&self) -> Option<Aeth> {
        self.ext(Hdr::Aeth, Aeth::read)
    }

    /// The atomic acknowledge extended transport header, if the opcode
    /// carries one.
    pub fn atmack(&self) -> Option<Atmack> {
        self.ext(Hdr::Atmack, Atmack::read)
    }

    /// The immediate data, if the opcode carries it.
    pub fn immdt(&self) -> Option<Immdt> {
        self.ext(Hdr::Immdt, Immdt::read)
    }

    /// The invalidate extended transport header, if the opcode carries one.
    pub fn ieth(&self) -> Option<Ieth> {
        self.ext(Hdr::Ieth, Ieth::read)
    }

    /// Offset of the payload (also when there is none).
    pub fn payload_offset(&self) -> usize {
        self.info.payload_offset()
    }

    /// Length of the payload, pad excluded.
    pub fn payload_len(&self) -> usize {
        self.payload_len
    }

    /// The payload, pad excluded.
    pub fn payload(&self) -> &'a [u8] {
        let rest = self.data.get(self.payload_offset()..).unwrap_or_default();
        rest.get(..self.payload_len).unwrap_or_default()
    }

    /// The pad count.
    pub fn pad_len(&self) -> usize {
        usize::from(self.bth.pad)
    }

    /// Offset of the ICRC, the last 4 bytes.
    pub fn icrc_offset(&self) -> usize {
        self.data.len().saturating_sub(ICRC_LEN)
    }

    /// What the ICRC covers after the IP and UDP headers: the packet from
    /// the BTH to the end of the pad.
    pub fn covered(&self) -> &'a [u8] {
        self.data.get(..self.icrc_offset()).unwrap_or_default()
    }

    /// The ICRC the packet carries.
    pub fn icrc(&self) -> u32 {
        let wire = self.data.last_chunk().copied().unwrap_or_default();
        icrc_from_wire(wire)
    }

    /// The headers, as [`build`] takes them.
    pub fn headers(&self) -> Headers {
        Headers {
            bth: self.bth,
            deth: self.deth(),
            feth: self.feth(),
            reth: self.reth(),
            atmeth: self.atmeth(),
            aeth: self.aeth(),
            atmack: self.atmack(),
            immdt: self.immdt(),
            ieth: self.ieth(),
        }
    }
}

/// The transport headers of a packet to build: the BTH and the extended
/// headers its opcode carries, exactly those.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    /// The BTH; its opcode says which extended headers must be present.
    pub bth: Bth,
    /// Datagram extended transport header.
    pub deth: Option<Deth>,
    /// Flush extended transport header.
    pub feth: Option<Feth>,
    /// RDMA extended transport header.
    pub reth: Option<Reth>,
    /// Atomic extended transport header.
    pub atmeth: Option<Atmeth>,
    /// ACK extended transport header.
    pub aeth: Option<Aeth>,
    /// Atomic acknowledge extended transport header.
    pub atmack: Option<Atmack>,
    /// Immediate data.
    pub immdt: Option<Immdt>,
    /// Invalidate extended transport header.
    pub ieth: Option<Ieth>,
}

impl Headers {
    /// A BTH and no extended header.
    pub const fn new(bth: Bth) -> Self {
        Headers {
            bth,
            deth: None,
            feth: None,
            reth: None,
            atmeth: None,
            aeth: None,
            atmack: None,
            immdt: None,
            ieth: None,
        }
    }

    /// Whether the extended header `hdr` is given.
    pub const fn has(&self, hdr: Hdr) -> bool {
        match hdr {
            Hdr::Bth => true,
            Hdr::Deth => self.deth.is_some(),
            Hdr::Feth => self.feth.is_some(),
            Hdr::Reth => self.reth.is_some(),
            Hdr::Atmeth => self.atmeth.is_some(),
            Hdr::Aeth => self.aeth.is_some(),
            Hdr::Atmack => self.atmack.is_some(),
            Hdr::Immdt => self.immdt.is_some(),
            Hdr::Ieth => self.ieth.is_some(),
            Hdr::Payload => false,
        }
    }

    /// The opcode's entry, once the headers given are checked to be the
    /// ones it carries.
    fn check(&self, dialect: Dialect) -> Result<&'static OpcodeInfo, BuildError> {
        let op = self.bth.opcode;
        let info = lookup_in(op, dialect).ok_or(BuildError::UnknownOpcode(op))?;
        for hdr in Hdr::ORDER {
            match (info.has(hdr), self.has(hdr)) {
                (true, false) => return Err(BuildError::MissingHeader(hdr)),
                (false, true) => return Err(BuildError::UnexpectedHeader(hdr)),
                _ => {}
            }
        }
        Ok(info)
    }

    /// Writes the BTH (as it is, pad count included) and the extended
    /// headers to the start of `buf` and returns their length. On error
    /// `buf` is left alone.
    pub fn write(&self, buf: &mut [u8], dialect: Dialect) -> Result<usize, BuildError> {
        let info = self.check(dialect)?;
        let out = buf
            .get_mut(..info.hdr_len())
            .ok_or(BuildError::BufferTooShort)?;
        self.bth.write(out)?;
        place(out, info, Hdr::Deth, self.deth, Deth::write)?;
        place(out, info, Hdr::Feth, self.feth, Feth::write)?;
        place(out, info, Hdr::Reth, self.reth, Reth::write)?;
        place(out, info, Hdr::Atmeth, self.atmeth, Atmeth::write)?;
        place(out, info, Hdr::Aeth, self.aeth, Aeth::write)?;
        place(out, info, Hdr::Atmack, self.atmack, Atmack::write)?;
        place(out, info, Hdr::Immdt, self.immdt, Immdt::write)?;
        place(out, info, Hdr::Ieth, self.ieth, Ieth::write)?;
        Ok(info.hdr_len())
    }
}

/// Writes `value` with `write` at the offset of `hdr`, if the opcode has
/// one (presence was checked by [`Headers::check`]).
fn place<T>(
    buf: &mut [u8],
    info: &OpcodeInfo,
    hdr: Hdr,
    value: Option<T>,
    write: fn(&T, &mut [u8]) -> Result<(), BufferTooShort>,
) -> Result<(), BufferTooShort> {
    match (info.offset(hdr), value) {
        (Some(off), Some(v)) => write(&v, buf.get_mut(off..).ok_or(BufferTooShort)?),
        _ => Ok(()),
    }
}

/// Lays out a whole packet at the start of `buf`: the headers, with the
/// BTH pad count set for `payload`, the payload, zero pad bytes and a zero
/// ICRC (to be filled in with `icrc::icrc_fill` once the IP and UDP headers
/// are known). Returns the packet's length, the UDP payload length. On
/// error `buf` is left alone.
pub fn build(
    buf: &mut [u8],
    hdrs: &Headers,
    payload: &[u8],
    dialect: Dialect,
) -> Result<usize, BuildError> {
    let info = hdrs.check(dialect)?;
    if !payload.is_empty() && !info.has_payload() {
        return Err(BuildError::PayloadNotAllowed);
    }
    let pad = pad_len(payload.len());
    if pad != 0 && !info.is_last() {
        return Err(BuildError::PadNotAllowed(pad));
    }
    let len = packet_len(info, payload.len()).ok_or(BuildError::BufferTooShort)?;
    let out = buf.get_mut(..len).ok_or(BuildError::BufferTooShort)?;
    let mut h = *hdrs;
    h.bth.pad = pad;
    let (head, tail) = out
        .split_at_mut_checked(info.hdr_len())
        .ok_or(BuildError::BufferTooShort)?;
    h.write(head, dialect)?;
    let (body, trailer) = tail
        .split_at_mut_checked(payload.len())
        .ok_or(BuildError::BufferTooShort)?;
    for (d, s) in body.iter_mut().zip(payload) {
        *d = *s;
    }
    trailer.fill(0);
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::super::aeth::{NakCode, Syndrome};
    use super::super::bth::DEFAULT_PKEY;
    use super::super::opcode::*;
    use super::*;

    fn build_vec(h: &Headers, payload: &[u8], d: Dialect) -> Result<Vec<u8>, BuildError> {
        let mut buf = vec![0xa5; 9000];
        let n = build(&mut buf, h, payload, d)?;
        buf.truncate(n);
        Ok(buf)
    }

    #[test]
    fn write_only_with_immediate() {
        let mut h = Headers::new(Bth::new(
            RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE,
            DEFAULT_PKEY,
            0x11,
            0x22,
        ));
        h.bth.ack_req = true;
        h.reth = Some(Reth {
            va: 0x1000,
            rkey: 0x1234,
            len: 5,
        });
        h.immdt = Some(Immdt { imm: 0xcafe_f00d });
        let pkt = build_vec(&h, b"hello", Dialect::Rxe).unwrap();
        assert_eq!(pkt.len(), 32 + 5 + 3 + 4);
        assert_eq!(pkt[1], 0x30, "pad count 3");
        assert_eq!(pkt[28..32], [0xca, 0xfe, 0xf0, 0x0d]);
        assert_eq!(&pkt[32..37], b"hello");
        assert_eq!(pkt[37..], [0; 7]);

        let p = Packet::parse(&pkt, Dialect::Rxe).unwrap();
        assert_eq!(p.opcode(), RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE);
        assert_eq!(p.info().name(), "RC_RDMA_WRITE_ONLY_WITH_IMMEDIATE");
        assert_eq!(p.reth(), h.reth);
        assert_eq!(p.immdt(), h.immdt);
        assert_eq!(p.aeth(), None);
        assert_eq!(p.payload(), b"hello");
        assert_eq!(
            (p.payload_offset(), p.payload_len(), p.pad_len()),
            (32, 5, 3)
        );
        assert_eq!(p.offset(Hdr::Immdt), Some(28));
        assert_eq!(p.hdr_len(), 32);
        assert_eq!(p.icrc_offset(), 40);
        assert_eq!(p.covered().len(), 40);
        assert_eq!(p.icrc(), 0);
        assert_eq!(p.bytes(), &pkt[..]);
        let mut want = h;
        want.bth.pad = 3;
        assert_eq!(p.headers(), want);
        assert_eq!(p.bth(), &want.bth);
    }

    #[test]
    fn acks_and_atomics() {
        let mut h = Headers::new(Bth::new(RC_ATOMIC_ACKNOWLEDGE, DEFAULT_PKEY, 7, 9));
        h.aeth = Some(Aeth::new(Syndrome::ack_unlimited(), 3));
        h.atmack = Some(Atmack { orig: u64::MAX - 1 });
        let pkt = build_vec(&h, &[], Dialect::Rxe).unwrap();
        assert_eq!(pkt.len(), 24 + 4);
        let p = Packet::parse(&pkt, Dialect::Rxe).unwrap();
        assert_eq!(p.headers(), h);
        assert_eq!(p.payload(), b"");
        assert_eq!(
            build_vec(&h, b"x", Dialect::Rxe),
            Err(BuildError::PayloadNotAllowed)
        );

        let mut h = Headers::new(Bth::new(RC_COMPARE_SWAP, DEFAULT_PKEY, 7, 9));
        assert_eq!(
            build_vec(&h, &[], Dialect::Rxe),
            Err(BuildError::MissingHeader(Hdr::Atmeth))
        );
        h.atmeth = Some(Atmeth::default());
        h.reth = Some(Reth::default());
        assert_eq!(
            build_vec(&h, &[], Dialect::Rxe),
            Err(BuildError::UnexpectedHeader(Hdr::Reth))
        );
        h.reth = None;
        assert_eq!(build_vec(&h, &[], Dialect::Rxe).map(|p| p.len()), Ok(44));
    }

    #[test]
    fn resume_needs_the_rxe_rs_dialect() {
        let mut h = Headers::new(Bth::new(RC_RXE_RS_RESUME, DEFAULT_PKEY, 0x42, 0x1234));
        h.aeth = Some(Aeth::new(Syndrome::ack_unlimited(), 77));
        h.deth = Some(Deth {
            qkey: 0,
            resv: 0,
            src_qpn: 0x17,
        });
        assert_eq!(
            build_vec(&h, &[], Dialect::Rxe),
            Err(BuildError::UnknownOpcode(RC_RXE_RS_RESUME))
        );
        let pkt = build_vec(&h, &[], Dialect::RxeRs).unwrap();
        assert_eq!(pkt.len(), 28);
        assert_eq!(
            Packet::parse(&pkt, Dialect::Rxe),
            Err(ParseError::UnknownOpcode(RC_RXE_RS_RESUME))
        );
        let p = Packet::parse(&pkt, Dialect::RxeRs).unwrap();
        assert!(p.info().is_rxe_rs_ext());
        assert_eq!(p.aeth().map(|a| a.msn), Some(77));
        assert_eq!(p.deth().map(|d| d.src_qpn), Some(0x17));

        // The stopped NAK is an ordinary acknowledge to the parser.
        let mut h = Headers::new(Bth::new(RC_ACKNOWLEDGE, DEFAULT_PKEY, 0x42, 0x1234));
        h.aeth = Some(Aeth::new(Syndrome::Nak(NakCode::Stopped), 76));
        let pkt = build_vec(&h, &[], Dialect::Rxe).unwrap();
        let p = Packet::parse(&pkt, Dialect::Rxe).unwrap();
        assert_eq!(
            p.aeth().map(|a| a.decoded()),
            Some(Syndrome::Nak(NakCode::Stopped))
        );
    }

    #[test]
    fn checks() {
        let mut h = Headers::new(Bth::new(RC_SEND_MIDDLE, DEFAULT_PKEY, 1, 2));
        let good = build_vec(&h, &[1; 256], Dialect::Rxe).unwrap();
        assert!(Packet::parse(&good, Dialect::Rxe).is_ok());
        assert_eq!(
            build_vec(&h, &[1; 255], Dialect::Rxe),
            Err(BuildError::PadNotAllowed(1))
        );

        for n in 0..12 {
            assert_eq!(
                Packet::parse(&good[..n], Dialect::Rxe),
                Err(ParseError::TooShort)
            );
        }
        let mut bad = good.clone();
        bad[0] = 0x15;
        assert_eq!(
            Packet::parse(&bad, Dialect::Rxe),
            Err(ParseError::UnknownOpcode(0x15))
        );
        bad[0] = 0x40;
        assert_eq!(
            Packet::parse(&bad, Dialect::RxeRs),
            Err(ParseError::UnknownOpcode(0x40))
        );
        let mut bad = good.clone();
        bad[1] = 0x01;
        assert_eq!(
            Packet::parse(&bad, Dialect::Rxe),
            Err(ParseError::BadTver(1))
        );
        bad[1] = 0x10;
        assert_eq!(
            Packet::parse(&bad, Dialect::Rxe),
            Err(ParseError::PadNotAllowed(1))
        );

        h.bth.opcode = RC_SEND_LAST;
        let last = build_vec(&h, &[2; 5], Dialect::Rxe).unwrap();
        assert_eq!(last.len(), 12 + 8 + 4);
        assert!(Packet::parse(&last, Dialect::Rxe).is_ok());
        assert_eq!(
            Packet::parse(&last[..last.len() - 1], Dialect::Rxe),
            Err(ParseError::Misaligned(4))
        );
        let mut longer = last.clone();
        longer.push(0);
        assert_eq!(
            Packet::parse(&longer, Dialect::Rxe),
            Err(ParseError::Misaligned(6))
        );
        assert_eq!(
            Packet::parse(&last[..12 + 3 + 4 - 1], Dialect::Rxe),
            Err(ParseError::TooShort)
        );

        let mut h = Headers::new(Bth::new(RC_ACKNOWLEDGE, DEFAULT_PKEY, 1, 2));
        h.aeth = Some(Aeth::default());
        let mut ack = build_vec(&h, &[], Dialect::Rxe).unwrap();
        ack.extend_from_slice(&[0; 4]);
        assert_eq!(
            Packet::parse(&ack, Dialect::Rxe),
            Err(ParseError::UnexpectedPayload(4))
        );
        ack[1] = 0x30;
        assert_eq!(
            Packet::parse(&ack, Dialect::Rxe),
            Err(ParseError::PadNotAllowed(3))
        );
    }

    #[test]
    fn builders_leave_short_buffers_alone() {
        let mut h = Headers::new(Bth::new(UD_SEND_ONLY, DEFAULT_PKEY, 1, 2));
        h.deth = Some(Deth {
            qkey: 0x1111_2222,
            resv: 0,
            src_qpn: 3,
        });
        let mut buf = [0xeeu8; 27];
        assert_eq!(
            build(&mut buf, &h, b"abcd", Dialect::Rxe),
            Err(BuildError::BufferTooShort)
        );
        assert_eq!(buf, [0xee; 27]);
        let mut hb = [0xeeu8; 19];
        assert_eq!(
            h.write(&mut hb, Dialect::Rxe),
            Err(BuildError::BufferTooShort)
        );
        assert_eq!(hb, [0xee; 19]);
        let mut buf = [0xeeu8; 29];
        assert_eq!(build(&mut buf, &h, b"abcd", Dialect::Rxe), Ok(28));
        assert_eq!(buf[28], 0xee);
        let p = Packet::parse(&buf[..28], Dialect::Rxe).unwrap();
        assert_eq!(p.deth(), h.deth);
        assert_eq!(p.payload(), b"abcd");
    }

    #[test]
    fn padding() {
        assert_eq!(
            (0..8).map(pad_len).collect::<Vec<_>>(),
            [0, 3, 2, 1, 0, 3, 2, 1]
        );
        assert_eq!(pad_len(usize::MAX), 1);
        let Some(info) = lookup(RC_SEND_ONLY) else {
            panic!()
        };
        assert_eq!(packet_len(info, 1), Some(12 + 1 + 3 + 4));
        assert_eq!(packet_len(info, usize::MAX), None);
        assert_eq!(packet_len(info, usize::MAX - 16), None);
        assert_eq!(packet_len(info, usize::MAX - 20), Some(usize::MAX - 3));
    }
}
