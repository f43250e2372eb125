// SPDX-License-Identifier: GPL-2.0

//! Robustness tests, in test builds only: a deterministic xorshift
//! generator feeds random and mutated byte strings to every parser.
//! Nothing may panic, and whatever is accepted must come out of the
//! builders byte for byte as it went in.

use super::aeth::{Aeth, Syndrome};
use super::bth::{Bth, BTH_LEN};
use super::crc32::{crc32_ieee, crc32_le, crc32_le_const, Crc32};
use super::headers::{Atmack, Atmeth, Deth, Feth, Ieth, Immdt, Reth};
use super::icrc::{icrc_check, icrc_compute, icrc_fill, IpHdr, ICRC_LEN};
use super::image::record::{self, decode, Kind};
use super::image::validate::{tests as image_tests, validate, Entry};
use super::image::{record_size, Image, Writer};
use super::msgseq::message_grows;
use super::opcode::{info_in, lookup_in, Dialect, Hdr, OpcodeInfo, RC_RXE_RS_RESUME};
use super::packet::{build, Headers, Packet};
use super::params::PORT_MAX_MSG_SZ;
use super::psn::{
    is_after, is_before, psn_add, psn_cmp, psn_compare, psn_next, psn_prev, psn_sub, PSN_MASK,
};

/// xorshift64*: small, fast, and the same sequence on every run.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed | 1)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    fn u8(&mut self) -> u8 {
        (self.next_u64() >> 56) as u8
    }

    fn bool(&mut self) -> bool {
        self.next_u64() >> 63 != 0
    }

    /// A number in `0..n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.u8()).collect()
    }

    /// A length, mostly short, sometimes long.
    fn len(&mut self) -> usize {
        match self.below(8) {
            0 => self.below(600),
            1..=3 => self.below(24),
            _ => self.below(80),
        }
    }
}

const DIALECTS: [Dialect; 2] = [Dialect::Rxe, Dialect::RxeRs];

/// Every opcode known to the rxe-rs dialect.
fn known_opcodes() -> Vec<&'static OpcodeInfo> {
    (0..=u8::MAX)
        .filter_map(|op| lookup_in(op, Dialect::RxeRs))
        .collect()
}

/// A BTH with random fields, all within their widths.
fn random_bth(r: &mut XorShift, opcode: u8) -> Bth {
    Bth {
        opcode,
        se: r.bool(),
        mig: r.bool(),
        pad: 0,
        tver: 0,
        pkey: r.u32() as u16,
        fecn: r.bool(),
        becn: r.bool(),
        resv6: r.u8() & 0x3f,
        dest_qpn: r.u32() & 0x00ff_ffff,
        ack_req: r.bool(),
        resv7: r.u8() & 0x7f,
        psn: r.u32() & PSN_MASK,
    }
}

/// Headers with random values for exactly the extended headers `info`
/// carries.
fn random_headers(r: &mut XorShift, info: &OpcodeInfo) -> Headers {
    let mut h = Headers::new(random_bth(r, info.opcode()));
    let wide = |r: &mut XorShift| r.next_u64();
    if info.has(Hdr::Deth) {
        h.deth = Some(Deth {
            qkey: r.u32(),
            resv: r.u8(),
            src_qpn: r.u32() & 0x00ff_ffff,
        });
    }
    if info.has(Hdr::Feth) {
        h.feth = Some(Feth {
            plt: r.u8() & 0xf,
            sel: r.u8() & 0x3,
            resv: r.u32() & !0x3f,
        });
    }
    if info.has(Hdr::Reth) {
        h.reth = Some(Reth {
            va: wide(r),
            rkey: r.u32(),
            len: r.u32(),
        });
    }
    if info.has(Hdr::Atmeth) {
        h.atmeth = Some(Atmeth {
            va: wide(r),
            rkey: r.u32(),
            swap_add: wide(r),
            compare: wide(r),
        });
    }
    if info.has(Hdr::Aeth) {
        h.aeth = Some(Aeth {
            syndrome: r.u8(),
            msn: r.u32() & 0x00ff_ffff,
        });
    }
    if info.has(Hdr::Atmack) {
        h.atmack = Some(Atmack { orig: wide(r) });
    }
    if info.has(Hdr::Immdt) {
        h.immdt = Some(Immdt { imm: r.u32() });
    }
    if info.has(Hdr::Ieth) {
        h.ieth = Some(Ieth { rkey: r.u32() });
    }
    h
}

/// A payload length `info` allows: none without payload, whole words
/// unless last.
fn random_payload_len(r: &mut XorShift, info: &OpcodeInfo) -> usize {
    if !info.has_payload() {
        0
    } else if info.is_last() {
        r.below(300)
    } else {
        4 * r.below(80)
    }
}

/// A valid packet of opcode `info`, random otherwise.
fn random_packet(r: &mut XorShift, info: &OpcodeInfo) -> Vec<u8> {
    let h = random_headers(r, info);
    let n = random_payload_len(r, info);
    let payload = r.bytes(n);
    let mut buf = vec![0; 1024];
    let len = build(&mut buf, &h, &payload, Dialect::RxeRs).unwrap();
    buf.truncate(len);
    let p = Packet::parse(&buf, Dialect::RxeRs).unwrap();
    assert_eq!(p.payload(), &payload[..]);
    let mut want = h;
    want.bth.pad = p.bth().pad;
    assert_eq!(p.headers(), want);
    buf
}

/// Everything a parsed packet says is consistent with its bytes, and
/// building from its headers and payload gives them back (pad and ICRC
/// bytes, which the builder zeroes, aside).
fn check_accepted(bytes: &[u8], p: &Packet<'_>, dialect: Dialect) {
    let info = p.info();
    assert_eq!(Some(*info), info_in(bytes[0], dialect));
    assert_eq!(p.bytes(), bytes);
    assert_eq!(p.opcode(), bytes[0]);
    assert_eq!(p.bth().tver, 0);
    assert_eq!(p.payload().len(), p.payload_len());
    assert_eq!(
        p.payload_offset() + p.payload_len() + p.pad_len() + ICRC_LEN,
        bytes.len()
    );
    assert_eq!((p.payload_len() + p.pad_len()) % 4, 0);
    assert_eq!(p.covered().len() + ICRC_LEN, bytes.len());
    assert_eq!(p.icrc_offset(), bytes.len() - ICRC_LEN);
    assert_eq!(
        p.icrc().to_le_bytes(),
        bytes[bytes.len() - ICRC_LEN..],
        "icrc bytes"
    );
    if p.pad_len() != 0 {
        assert!(info.has_payload() && info.is_last());
    }
    for h in Hdr::ORDER {
        if let Some(off) = p.offset(h) {
            assert!(off + h.wire_len() <= p.hdr_len());
        }
    }

    let h = p.headers();
    let mut hdr = vec![0u8; p.hdr_len()];
    assert_eq!(h.write(&mut hdr, dialect), Ok(p.hdr_len()));
    assert_eq!(hdr, bytes[..p.hdr_len()]);

    let mut out = vec![0x5a; bytes.len() + 16];
    assert_eq!(build(&mut out, &h, p.payload(), dialect), Ok(bytes.len()));
    let mut want = bytes.to_vec();
    want[p.payload_offset() + p.payload_len()..].fill(0);
    assert_eq!(out[..bytes.len()], want[..]);
    assert_eq!(out[bytes.len()..], [0x5a; 16]);
}

/// Parses `bytes` in both dialects; checks whatever is accepted. Returns
/// how many dialects accepted it.
fn parse_all(bytes: &[u8]) -> usize {
    let mut accepted = 0;
    for d in DIALECTS {
        if let Ok(p) = Packet::parse(bytes, d) {
            check_accepted(bytes, &p, d);
            accepted += 1;
        }
    }
    if bytes.first() == Some(&RC_RXE_RS_RESUME) {
        assert!(Packet::parse(bytes, Dialect::Rxe).is_err());
    }
    accepted
}

#[test]
fn random_bytes() {
    let mut r = XorShift::new(0x5eed_0001);
    let ops = known_opcodes();
    let mut accepted = 0;
    for i in 0..100_000 {
        let len = r.len();
        let mut b = r.bytes(len);
        // Half the time give it a fighting chance: a known opcode and
        // TVer 0, pad count consistent with the length.
        if i % 2 == 0 && len > 1 {
            b[0] = ops[r.below(ops.len())].opcode();
            b[1] &= 0xc0;
            if r.bool() {
                b[1] |= (((4 - len % 4) % 4) as u8) << 4;
            }
        }
        accepted += parse_all(&b);
    }
    assert!(accepted > 5_000, "only {accepted} accepted");
}

#[test]
fn mutated_packets() {
    let mut r = XorShift::new(0x5eed_0002);
    let ops = known_opcodes();
    let mut accepted = 0;
    let mut rejected = 0;
    for _ in 0..2_000 {
        for &info in &ops {
            let good = random_packet(&mut r, info);
            let d = if info.is_rxe_rs_ext() {
                Dialect::RxeRs
            } else {
                Dialect::Rxe
            };
            let p = Packet::parse(&good, d).unwrap();
            check_accepted(&good, &p, d);

            let mut b = good.clone();
            for _ in 0..1 + r.below(3) {
                mutate(&mut r, &mut b, &ops);
            }
            match parse_all(&b) {
                0 => rejected += 1,
                n => accepted += n,
            }
        }
    }
    assert!(
        accepted > 10_000 && rejected > 10_000,
        "{accepted} {rejected}"
    );
}

/// One random change to a packet.
fn mutate(r: &mut XorShift, b: &mut Vec<u8>, ops: &[&OpcodeInfo]) {
    let len = b.len();
    match r.below(8) {
        0 if len > 0 => {
            let i = r.below(len);
            b[i] ^= 1 << r.below(8);
        }
        1 if len > 0 => {
            let i = r.below(len);
            b[i] = r.u8();
        }
        2 => b.truncate(r.below(len + 1)),
        3 => {
            let n = r.below(12);
            let more = r.bytes(n);
            b.extend_from_slice(&more);
        }
        4 if len > 0 => b[0] = ops[r.below(ops.len())].opcode(),
        5 if len > 1 => b[1] = (b[1] & 0xcf) | ((r.u8() & 3) << 4),
        6 if len > 0 => {
            let i = r.below(len);
            let n = r.below(len - i + 1);
            b.drain(i..i + n);
        }
        _ => {
            // Swap the headers of another opcode in front of the body.
            let op = ops[r.below(ops.len())];
            let other = random_packet(r, op);
            let keep = r.below(other.len().min(48) + 1);
            let cut = keep.min(len);
            b.splice(..cut, other[..keep].iter().copied());
        }
    }
}

#[test]
fn header_readers() {
    let mut r = XorShift::new(0x5eed_0003);
    for _ in 0..20_000 {
        let b = {
            let n = r.below(48);
            r.bytes(n)
        };
        let mut out = [0u8; 48];
        macro_rules! check {
            ($t:ty) => {
                match <$t>::read(&b) {
                    Some(h) => {
                        assert!(b.len() >= <$t>::LEN);
                        assert_eq!(h.write(&mut out), Ok(()));
                        assert_eq!(out[..<$t>::LEN], b[..<$t>::LEN]);
                        assert_eq!(<$t>::from_bytes(&h.to_bytes()), h);
                    }
                    None => assert!(b.len() < <$t>::LEN),
                }
            };
        }
        check!(Bth);
        check!(Aeth);
        check!(Reth);
        check!(Atmeth);
        check!(Atmack);
        check!(Immdt);
        check!(Ieth);
        check!(Deth);
        check!(Feth);
        if let Some(&s) = b.first() {
            assert_eq!(Syndrome::from_byte(s).to_byte(), s);
        }
    }
}

#[test]
fn icrc_inputs() {
    let mut r = XorShift::new(0x5eed_0004);
    let ops = known_opcodes();
    for i in 0..20_000 {
        let (ip_len, ip_ok) = match r.below(3) {
            0 => (20, true),
            1 => (40, true),
            _ => {
                let n = r.below(48);
                (n, n == 20 || n == 40)
            }
        };
        let ip = r.bytes(ip_len);
        let ip = if r.bool() {
            IpHdr::V4(&ip)
        } else {
            IpHdr::V6(&ip)
        };
        let fits = match ip {
            IpHdr::V4(h) => h.len() == 20,
            IpHdr::V6(h) => h.len() == 40,
        };
        let udp_len = if r.below(4) == 0 { r.below(12) } else { 8 };
        let udp = r.bytes(udp_len);
        let mut pkt = if i % 2 == 0 {
            let op = ops[r.below(ops.len())];
            random_packet(&mut r, op)
        } else {
            let n = r.len();
            r.bytes(n)
        };
        let ok = ip_ok && fits && udp_len == 8;
        let covered = pkt.len().checked_sub(ICRC_LEN);
        let want = covered.and_then(|c| icrc_compute(ip, &udp, &pkt[..c]));
        assert_eq!(
            want.is_some(),
            ok && covered.is_some_and(|c| c >= BTH_LEN),
            "ip {ip_len} udp {udp_len} pkt {}",
            pkt.len()
        );
        assert_eq!(icrc_fill(ip, &udp, &mut pkt), want);
        assert_eq!(icrc_check(ip, &udp, &pkt), want.is_some());
        if want.is_some() {
            // Any change to the BTH opcode, the payload or the ICRC shows.
            let j = if r.bool() { 0 } else { r.below(pkt.len()) };
            if j != 4 {
                pkt[j] ^= 1 << r.below(8);
                assert!(!icrc_check(ip, &udp, &pkt), "byte {j}");
            }
        }
    }
}

/// A message's length, grown by random payloads (the responder's offset
/// into a receive): never past the port's largest message, never wrapped,
/// and exact while it fits.
#[test]
fn message_lengths() {
    let mut r = XorShift::new(0x6d73_676c);
    for _ in 0..100_000 {
        let placed = match r.below(3) {
            0 => r.u32(),
            1 => PORT_MAX_MSG_SZ - (r.u32() & 0xffff),
            _ => r.u32() & 0x7fff_ffff,
        };
        let payload = match r.below(3) {
            0 => r.next_u64() as usize,
            1 => r.below(1 << 13),
            _ => usize::MAX - r.below(16),
        };
        let exact = u64::from(placed) as u128 + payload as u128;
        match message_grows(placed, payload) {
            Some(n) => assert_eq!(u128::from(n), exact),
            None => assert!(exact > u128::from(PORT_MAX_MSG_SZ)),
        }
    }
}

#[test]
fn psn_arithmetic() {
    let mut r = XorShift::new(0x5eed_0005);
    for _ in 0..100_000 {
        let (a, b) = (r.u32(), r.u32());
        let d = psn_compare(a, b);
        assert!((-(1 << 23)..1 << 23).contains(&d));
        assert_eq!(psn_add(b, psn_sub(a, b)), a & PSN_MASK);
        assert_eq!(psn_add(b, d as u32), a & PSN_MASK);
        assert_eq!(psn_next(psn_prev(a)), a & PSN_MASK);
        if d != -(1 << 23) {
            assert_eq!(psn_compare(b, a), -d);
            assert_eq!(psn_cmp(b, a), psn_cmp(a, b).reverse());
        }
        assert_eq!(is_before(a, b), d < 0);
        assert_eq!(is_after(a, b), d > 0);
        assert_eq!(d == 0, (a ^ b) & PSN_MASK == 0);
    }
}

#[test]
fn crc_pieces() {
    let mut r = XorShift::new(0x5eed_0006);
    for _ in 0..3_000 {
        let n = r.len();
        let data = r.bytes(n);
        let seed = r.u32();
        let want = crc32_le_const(seed, &data);
        assert_eq!(crc32_le(seed, &data), want);
        let mut c = Crc32::new(seed);
        let mut rest = &data[..];
        while !rest.is_empty() {
            let (now, later) = rest.split_at(r.below(rest.len() + 1));
            c.update(now);
            rest = later;
        }
        assert_eq!(c.state(), want);
    }
}

/// Checks a mutated image the way the kernel does: never a panic, and a
/// verdict either way.
fn image_verdict(bytes: &[u8]) -> bool {
    let Ok(img) = Image::parse(bytes) else {
        return false;
    };
    let mut scratch = vec![Entry::default(); 64];
    let ok = validate(&img, &mut scratch).is_ok();
    // Whatever parsed can be walked, and every record is of a known kind.
    assert!(img.records().all(|r| Kind::from_u16(r.kind).is_some()));
    ok
}

/// Re-seals an image's checksum after a mutation, so that the checks
/// behind it are reached.
fn image_reseal(b: &mut [u8]) {
    if b.len() < 32 {
        return;
    }
    b[28..32].fill(0);
    let crc = crc32_ieee(b);
    b[28..32].copy_from_slice(&crc.to_le_bytes());
}

#[test]
fn image_mutations() {
    let mut r = XorShift::new(0x5eed_0007);
    let good = image_tests::write(&image_tests::sample_records());
    assert!(image_verdict(&good));
    let mut accepted = 0;
    for round in 0..4_000 {
        let mut b = good.clone();
        match r.below(4) {
            0 => {
                // A few random bytes changed.
                for _ in 0..1 + r.below(4) {
                    let i = r.below(b.len());
                    b[i] = r.u8();
                }
            }
            1 => b.truncate(r.below(b.len())),
            2 => {
                let n = 1 + r.below(16);
                b.extend(r.bytes(n));
            }
            _ => {
                // A 32-bit field somewhere set to an edge value.
                let i = r.below(b.len() - 4) & !3;
                let v = [0, 1, u32::MAX, 1 << 24, 0x8000_0000][r.below(5)];
                b[i..i + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        if round % 2 == 0 {
            image_reseal(&mut b);
            // The lengths the header states follow the bytes, half the time.
            if b.len() >= 32 && r.bool() {
                let len = (b.len() as u64).to_le_bytes();
                b[16..24].copy_from_slice(&len);
                image_reseal(&mut b);
            }
        }
        if image_verdict(&b) {
            accepted += 1;
            // What is accepted is a fixed point of parse + write.
            let img = Image::parse(&b).unwrap();
            let recs: Vec<_> = img
                .records()
                .map(|x| (Kind::from_u16(x.kind).unwrap(), x.payload.to_vec()))
                .collect();
            assert_eq!(image_tests::write(&recs), b);
        }
    }
    // Some mutations land in bytes no check constrains (ring contents).
    assert!(accepted > 0);
}

#[test]
fn image_random_records() {
    let mut r = XorShift::new(0x5eed_0008);
    for _ in 0..20_000 {
        // Random payloads for every fixed-size kind: decoding and checking
        // never panic.
        let b = r.bytes(256);
        let _ =
            decode::<record::Context>(&b[..record::Context::LEN], Kind::Context).map(|v| v.check());
        let _ = decode::<record::Cq>(&b[..record::Cq::LEN], Kind::Cq).map(|v| v.check());
        let _ = decode::<record::Srq>(&b[..record::Srq::LEN], Kind::Srq).map(|v| v.check());
        let _ = decode::<record::Mr>(&b[..record::Mr::LEN], Kind::Mr).map(|v| v.check());
        let _ = decode::<record::Ah>(&b[..record::Ah::LEN], Kind::Ah).map(|v| v.check());
        let _ = decode::<record::Qp>(&b[..record::Qp::LEN], Kind::Qp).map(|v| v.check());
        let _ = decode::<record::QpEngine>(&b[..record::QpEngine::LEN], Kind::QpEngine)
            .map(|v| v.check());
        let _ = decode::<record::QpRes>(&b[..record::QpRes::LEN], Kind::QpRes).map(|v| v.check());
        // And a random image body framed correctly.
        let n = r.below(6);
        let recs: Vec<_> = (0..n)
            .map(|_| {
                let k = Kind::ALL[r.below(Kind::ALL.len())];
                let len = match k {
                    Kind::Producer => r.below(40),
                    Kind::Context => record::Context::LEN,
                    Kind::Pd => record::Pd::LEN,
                    _ => r.below(200),
                };
                (k, r.bytes(len))
            })
            .collect();
        let mut buf = vec![
            0u8;
            32 + recs
                .iter()
                .map(|(_, p)| record_size(p.len()).unwrap())
                .sum::<usize>()
        ];
        let mut w = Writer::new(&mut buf).unwrap();
        for (k, p) in &recs {
            w.record(*k, p).unwrap();
        }
        let len = w.finish().unwrap();
        let _ = image_verdict(&buf[..len]);
    }
}
