// SPDX-License-Identifier: GPL-2.0

//! The checks of a whole image, past its framing: every record's fields,
//! and how the records fit together. An image that passes can be restored
//! record by record without a later step finding it inconsistent; what it
//! cannot know (whether the destination has the numbers free, the
//! process's memory) is the restorer's to check.
//!
//! Order, which the checks rely on (and a dump writes):
//!
//! ```text
//! [Producer] Context object*
//! object := Pd | Mr | Ah
//!         | Cq Ring(CQ)
//!         | Srq Ring(SRQ)
//!         | Qp QpEngine QpRes{resp_res_len} QpWqe* [QpRecv] Ring(SQ) Ring(RQ)
//! ```
//!
//! Objects come in strictly increasing handle order (uverbs has one handle
//! space per file), which makes handles unique and lets references be
//! looked up by binary search in the caller's scratch space.

use super::super::{params, sort};
use super::record::{self, decode, Field, Kind, NO_HANDLE};
use super::{Image, ImageError, Record};

/// An object of the image, as the scratch space holds it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// Its handle.
    pub handle: u32,
    /// Its kind.
    pub kind: u16,
    /// Its number on the device (QPN, MR index, AH or SRQ number), or 0.
    pub num: u32,
}

/// What a checked image holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The context record.
    pub context: record::Context,
    /// Object records.
    pub objects: u32,
}

/// The image's context record (the first after an optional producer), to
/// size the scratch space of [`validate`]: one [`Entry`] per object.
pub fn context(img: &Image<'_>) -> Result<record::Context, ImageError> {
    let mut recs = img.records();
    let mut r = recs.next().ok_or(ImageError::Count)?;
    if r.kind == Kind::Producer as u16 {
        r = recs.next().ok_or(ImageError::Count)?;
    }
    if r.kind != Kind::Context as u16 {
        return Err(ImageError::Field {
            kind: r.kind,
            at: 0,
        });
    }
    let c: record::Context = decode(r.payload, Kind::Context)?;
    c.check()?;
    Ok(c)
}

/// The number of objects the context announces (the scratch space
/// [`validate`] needs), `None` past `u32`.
pub fn objects(c: &record::Context) -> Option<u32> {
    [c.cqs, c.srqs, c.mrs, c.ahs, c.qps]
        .iter()
        .try_fold(c.pds, |n, &m| n.checked_add(m))
}

/// The scratch space [`validate`] needs for `img`, whose context record
/// is `c`: one [`Entry`] per object the context announces. A count beyond
/// the image's records (each object has one of its own) is refused before
/// anything is allocated for it: a damaged count must not cost memory.
pub fn scratch_len(img: &Image<'_>, c: &record::Context) -> Result<usize, ImageError> {
    let n = objects(c).ok_or(ImageError::Count)?;
    if n > img.count() {
        return Err(ImageError::Count);
    }
    usize::try_from(n).map_err(|_| ImageError::Count)
}

/// An error about record `r` at byte `at` of its payload.
fn bad(r: &Record<'_>, at: usize) -> ImageError {
    ImageError::Field {
        kind: r.kind,
        at: u16::try_from(at).unwrap_or(u16::MAX),
    }
}

/// Reads the next record of kind `kind`, or fails on whatever else comes.
fn expect<'a>(
    recs: &mut core::iter::Peekable<super::Records<'a>>,
    kind: Kind,
) -> Result<Record<'a>, ImageError> {
    match recs.next() {
        Some(r) if r.kind == kind as u16 => Ok(r),
        Some(r) => Err(bad(&r, 0)),
        None => Err(ImageError::Count),
    }
}

/// The ring record that must follow an object: of `which`, its bytes
/// exactly `info`'s size.
fn expect_ring(
    recs: &mut core::iter::Peekable<super::Records<'_>>,
    handle: u32,
    which: u32,
    info: &record::RingInfo,
) -> Result<(), ImageError> {
    let r = expect(recs, Kind::Ring)?;
    let (head, bytes) = Kind::Ring.split_headed::<record::RingHead>(r.payload)?;
    head.check()?;
    if head.handle != handle || head.which != which {
        return Err(bad(&r, 0));
    }
    if bytes.len() != info.mmap_size as usize {
        return Err(ImageError::RecordLen(r.kind));
    }
    Ok(())
}

/// Checks the records following a QP: its engines, replay slots, begun
/// WQEs, receive in progress, and its two rings.
fn qp_tail(
    recs: &mut core::iter::Peekable<super::Records<'_>>,
    qp: &record::Qp,
) -> Result<(), ImageError> {
    let r = expect(recs, Kind::QpEngine)?;
    let e: record::QpEngine = decode(r.payload, Kind::QpEngine)?;
    e.check()?;
    if e.handle != qp.handle {
        return Err(bad(&r, 0));
    }
    if e.resp_res_len != 0 && e.resp_res_len != u32::from(qp.max_dest_rd_atomic) {
        return Err(bad(&r, record::QpEngine::LEN));
    }
    if e.req_index > qp.sq.capacity {
        return Err(bad(&r, 0));
    }
    for slot in 0..e.resp_res_len {
        let r = expect(recs, Kind::QpRes)?;
        let res: record::QpRes = decode(r.payload, Kind::QpRes)?;
        res.check()?;
        if res.handle != qp.handle || res.slot != slot {
            return Err(bad(&r, 0));
        }
    }
    // The WQEs begun: contiguous in ring order from the oldest not
    // completed (the SQ's kernel index); the requester's index among them
    // or just past them.
    let sq_elem = 1usize << qp.sq.log2_elem;
    let mask = qp.sq.capacity;
    let mut next = qp.sq.index;
    let mut wqes: u32 = 0;
    while let Some(r) = recs.next_if(|r| r.kind == Kind::QpWqe as u16) {
        let (w, bytes) = Kind::QpWqe.split_headed::<record::QpWqeHead>(r.payload)?;
        w.check()?;
        if w.handle != qp.handle || w.index != next {
            return Err(bad(&r, 0));
        }
        if bytes.len() != sq_elem {
            return Err(ImageError::RecordLen(r.kind));
        }
        wqes += 1;
        if wqes > mask {
            return Err(ImageError::Count);
        }
        next = next.wrapping_add(1) & mask;
    }
    if (e.req_index.wrapping_sub(qp.sq.index) & mask) > wqes {
        return Err(bad(&r, 0));
    }
    let recv = recs.next_if(|r| r.kind == Kind::QpRecv as u16);
    if let Some(r) = &recv {
        let (h, bytes) = Kind::QpRecv.split_headed::<record::QpRecvHead>(r.payload)?;
        if h.handle != qp.handle || h.off > params::PORT_MAX_MSG_SZ {
            return Err(bad(r, 0));
        }
        if !bytes.len().is_power_of_two() || bytes.len() < 64 {
            return Err(ImageError::RecordLen(r.kind));
        }
    }
    // Inside a SEND, its receive WQE is being filled.
    if e.resp_pos == 1 && recv.is_none() {
        return Err(ImageError::Count);
    }
    expect_ring(recs, qp.handle, record::RING_SQ, &qp.sq)?;
    expect_ring(recs, qp.handle, record::RING_RQ, &qp.rq)
}

/// Checks `img` whole: every record's fields, the order above, the counts
/// the context announces, references (each names an earlier or later
/// object of the right kind), and device numbers unique per kind.
/// `scratch` must hold [`objects`] entries; on success it holds every
/// object in handle order.
pub fn validate(img: &Image<'_>, scratch: &mut [Entry]) -> Result<Summary, ImageError> {
    let context = context(img)?;
    let total = objects(&context).ok_or(ImageError::Count)?;
    let table = scratch
        .get_mut(..total as usize)
        .ok_or(ImageError::NoRoom)?;
    let mut recs = img.records().peekable();
    if recs.peek().is_some_and(|r| r.kind == Kind::Producer as u16) {
        if let Some(r) = recs.next() {
            record::check_producer(r.payload)?;
        }
    }
    let _ = recs.next(); // The context, checked above.

    let mut counts = [0u32; 6];
    let mut n: usize = 0;
    let mut last: Option<u32> = None;
    while let Some(r) = recs.next() {
        let kind = Kind::from_u16(r.kind).ok_or(ImageError::UnknownKind(r.kind))?;
        let (handle, num, slot) = match kind {
            Kind::Pd => {
                let o: record::Pd = decode(r.payload, kind)?;
                o.check()?;
                (o.handle, 0, 0)
            }
            Kind::Cq => {
                let o: record::Cq = decode(r.payload, kind)?;
                o.check()?;
                expect_ring(&mut recs, o.handle, record::RING_CQ, &o.ring)?;
                (o.handle, 0, 1)
            }
            Kind::Srq => {
                let o: record::Srq = decode(r.payload, kind)?;
                o.check()?;
                expect_ring(&mut recs, o.handle, record::RING_SRQ, &o.ring)?;
                (o.handle, o.num, 2)
            }
            Kind::Mr => {
                let o: record::Mr = decode(r.payload, kind)?;
                o.check()?;
                (o.handle, o.index(), 3)
            }
            Kind::Ah => {
                let o: record::Ah = decode(r.payload, kind)?;
                o.check()?;
                (o.handle, o.num, 4)
            }
            Kind::Qp => {
                let o: record::Qp = decode(r.payload, kind)?;
                o.check()?;
                qp_tail(&mut recs, &o)?;
                (o.handle, o.qpn, 5)
            }
            _ => return Err(bad(&r, 0)),
        };
        if last.is_some_and(|l| handle <= l) {
            return Err(bad(&r, 0));
        }
        last = Some(handle);
        let e = table.get_mut(n).ok_or(ImageError::Count)?;
        *e = Entry {
            handle,
            kind: r.kind,
            num,
        };
        n += 1;
        counts[slot] = counts[slot].checked_add(1).ok_or(ImageError::Count)?;
    }
    let want = [
        context.pds,
        context.cqs,
        context.srqs,
        context.mrs,
        context.ahs,
        context.qps,
    ];
    if counts != want || n != table.len() {
        return Err(ImageError::Count);
    }
    references(img, table)?;
    unique_numbers(table)?;
    Ok(Summary {
        context,
        objects: total,
    })
}

/// The kind of the object with `handle`, from the handle-sorted table.
fn kind_of(table: &[Entry], handle: u32) -> Option<u16> {
    table
        .binary_search_by_key(&handle, |e| e.handle)
        .ok()
        .and_then(|i| table.get(i))
        .map(|e| e.kind)
}

/// Every reference names an object of the right kind.
fn references(img: &Image<'_>, table: &[Entry]) -> Result<(), ImageError> {
    let is = |h: u32, k: Kind| kind_of(table, h) == Some(k as u16);
    for r in img.records() {
        let ok = match Kind::from_u16(r.kind) {
            Some(Kind::Srq) => is(decode::<record::Srq>(r.payload, Kind::Srq)?.pd, Kind::Pd),
            Some(Kind::Mr) => is(decode::<record::Mr>(r.payload, Kind::Mr)?.pd, Kind::Pd),
            Some(Kind::Ah) => is(decode::<record::Ah>(r.payload, Kind::Ah)?.pd, Kind::Pd),
            Some(Kind::Qp) => {
                let q: record::Qp = decode(r.payload, Kind::Qp)?;
                is(q.pd, Kind::Pd)
                    && is(q.send_cq, Kind::Cq)
                    && is(q.recv_cq, Kind::Cq)
                    && (q.srq == NO_HANDLE || is(q.srq, Kind::Srq))
            }
            _ => true,
        };
        if !ok {
            return Err(bad(&r, 4));
        }
    }
    Ok(())
}

/// No two objects of a kind share a device number. Sorts `table` by kind
/// and number, then restores handle order.
fn unique_numbers(table: &mut [Entry]) -> Result<(), ImageError> {
    sort::sort_by_key(table, |e| (e.kind, e.num));
    let dup = table
        .windows(2)
        .find(|w| w[0].kind == w[1].kind && w[0].num == w[1].num && w[0].num != 0);
    let res = match dup {
        Some(w) => Err(ImageError::Field {
            kind: w[1].kind,
            at: 8,
        }),
        None => Ok(()),
    };
    sort::sort_by_key(table, |e| e.handle);
    res
}

/// The sum of a [`Field`]'s size and `extra` bytes (a headed record's
/// payload length), for writers.
pub fn headed_len<T: Field>(extra: usize) -> Option<usize> {
    T::SIZE.checked_add(extra)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::record::*;
    use super::super::{record_size, Writer, HEADER_LEN};
    use super::*;

    fn ring(capacity: u32, log2_elem: u32, offset: u64) -> RingInfo {
        RingInfo {
            capacity,
            index: capacity / 2,
            log2_elem,
            mmap_size: RING_HEADER_LEN + ((capacity + 1) << log2_elem),
            mmap_offset: offset,
        }
    }

    fn v4(a: [u8; 4]) -> [u8; 16] {
        let mut g = [0u8; 16];
        g[10] = 0xff;
        g[11] = 0xff;
        g[12..].copy_from_slice(&a);
        g
    }

    /// The records of a context with one object of each kind, as a dump
    /// writes them: (kind, payload).
    pub(crate) fn sample_records() -> Vec<(Kind, Vec<u8>)> {
        fn enc<T: Field>(v: &T) -> Vec<u8> {
            let mut b = vec![0u8; T::SIZE];
            v.put(&mut b);
            b
        }
        fn headed<T: Field>(h: &T, bytes: &[u8]) -> Vec<u8> {
            let mut b = enc(h);
            b.extend_from_slice(bytes);
            b
        }
        let path = Path {
            sgid_index: 1,
            hop_limit: 64,
            sgid: v4([10, 0, 0, 1]),
            dgid: v4([10, 0, 0, 2]),
            dmac: [2, 0, 0, 0, 0, 2],
            ..Default::default()
        };
        let cq = Cq {
            handle: 1,
            notify: 2,
            ring: ring(15, 7, 0),
            ..Default::default()
        };
        let srq = Srq {
            handle: 2,
            pd: 0,
            num: params::MIN_SRQ_INDEX,
            max_sge: 1,
            limit: 4,
            ring: ring(7, 6, 40960),
            ..Default::default()
        };
        let mr = Mr {
            handle: 3,
            pd: 0,
            lkey: 0x1234,
            rkey: 0x1234,
            access: 0x7,
            start: 0x7f00_0000_1000,
            iova: 0x7f00_0000_1000,
            length: 1 << 20,
            ..Default::default()
        };
        let ah = Ah {
            handle: 4,
            pd: 0,
            num: 1,
            path,
            ..Default::default()
        };
        let qp = Qp {
            handle: 5,
            pd: 0,
            qpn: 17,
            send_cq: 1,
            recv_cq: 1,
            srq: 2,
            qp_type: QPT_RC,
            state: QPS_RTS,
            flags: QP_HAS_PATH,
            mig: MIG_STOPPED,
            access: 0x7,
            dest_qpn: 18,
            sq_psn: 100,
            rq_psn: 200,
            path_mtu: 3,
            timeout: 14,
            retry_cnt: 7,
            rnr_retry: 7,
            max_rd_atomic: 4,
            max_dest_rd_atomic: 2,
            port_num: 1,
            sq_max_sge: 4,
            sq_max_inline: 64,
            path,
            sq: ring(31, 7, 8192),
            rq: ring(0, 6, 4096),
            ..Default::default()
        };
        let eng = QpEngine {
            handle: 5,
            req_psn: 110,
            req_index: 16,
            req_max_psn: 110,
            comp_psn: 105,
            comp_retry_left: 7,
            comp_rnr_left: 7,
            resp_psn: 250,
            resp_msn: 50,
            resp_pos: 1,
            resp_res_len: 2,
            resp_res_next: 1,
            ..Default::default()
        };
        let res = |slot| QpRes {
            handle: 5,
            slot,
            valid: 1,
            atomic: 1,
            first_psn: 240 + slot,
            last_psn: 240 + slot,
            rkey: 0x1234,
            len: 8,
            va: 0x7f00_0000_1000,
            orig: 42,
            ..Default::default()
        };
        let wqe = QpWqeHead {
            handle: 5,
            index: 15,
            first_psn: 105,
            last_psn: 109,
            len: 5000,
            sent: 1,
            ..Default::default()
        };
        let ring_bytes = |info: &RingInfo| vec![0xa5u8; info.mmap_size as usize];
        vec![
            (Kind::Producer, b"rxe-rs test".to_vec()),
            (
                Kind::Context,
                enc(&Context {
                    page_size: 4096,
                    cq_log2_elem: 7,
                    flags: CONTEXT_STOPPED,
                    pds: 1,
                    cqs: 1,
                    srqs: 1,
                    mrs: 1,
                    ahs: 1,
                    qps: 1,
                    ..Default::default()
                }),
            ),
            (Kind::Pd, enc(&Pd::default())),
            (Kind::Cq, enc(&cq)),
            (
                Kind::Ring,
                headed(
                    &RingHead {
                        handle: 1,
                        which: RING_CQ,
                    },
                    &ring_bytes(&cq.ring),
                ),
            ),
            (Kind::Srq, enc(&srq)),
            (
                Kind::Ring,
                headed(
                    &RingHead {
                        handle: 2,
                        which: RING_SRQ,
                    },
                    &ring_bytes(&srq.ring),
                ),
            ),
            (Kind::Mr, enc(&mr)),
            (Kind::Ah, enc(&ah)),
            (Kind::Qp, enc(&qp)),
            (Kind::QpEngine, enc(&eng)),
            (Kind::QpRes, enc(&res(0))),
            (Kind::QpRes, enc(&res(1))),
            (Kind::QpWqe, headed(&wqe, &[1u8; 128])),
            (
                Kind::QpRecv,
                headed(
                    &QpRecvHead {
                        handle: 5,
                        off: 1024,
                    },
                    &[2u8; 64],
                ),
            ),
            (
                Kind::Ring,
                headed(
                    &RingHead {
                        handle: 5,
                        which: RING_SQ,
                    },
                    &ring_bytes(&qp.sq),
                ),
            ),
            (
                Kind::Ring,
                headed(
                    &RingHead {
                        handle: 5,
                        which: RING_RQ,
                    },
                    &ring_bytes(&qp.rq),
                ),
            ),
        ]
    }

    pub(crate) fn write(recs: &[(Kind, Vec<u8>)]) -> Vec<u8> {
        let size = recs
            .iter()
            .map(|(_, p)| record_size(p.len()).unwrap())
            .sum::<usize>()
            + HEADER_LEN;
        let mut buf = vec![0u8; size];
        let mut w = Writer::new(&mut buf).unwrap();
        for (k, p) in recs {
            w.record(*k, p).unwrap();
        }
        assert_eq!(w.finish().unwrap(), size);
        buf
    }

    fn check(bytes: &[u8]) -> Result<Summary, ImageError> {
        let img = Image::parse(bytes)?;
        let mut scratch = vec![Entry::default(); 16];
        validate(&img, &mut scratch)
    }

    /// Writes the sample through a [`super::super::Sink`]: the typed
    /// helpers for the fixed records, `record_with` for the rest.
    fn sample_into<S: super::super::Sink>(sink: &mut S) {
        for (kind, payload) in sample_records() {
            match kind {
                Kind::Pd => {
                    let pd: Pd = decode(&payload, kind).unwrap();
                    sink.put(kind, &pd).unwrap();
                }
                Kind::Ring => {
                    let (head, rest) = kind.split_headed::<RingHead>(&payload).unwrap();
                    sink.put_headed(kind, &head, rest.len(), |b| b.copy_from_slice(rest))
                        .unwrap();
                }
                _ => sink
                    .record_with(kind, payload.len(), |b| b.copy_from_slice(&payload))
                    .unwrap(),
            }
        }
    }

    #[test]
    fn records_resume_where_they_were() {
        let bytes = write(&sample_records());
        let img = Image::parse(&bytes).unwrap();
        let mut recs = img.records();
        recs.next();
        recs.next();
        let at = recs.at(&bytes);
        let rest: Vec<_> = recs.collect();
        let again: Vec<_> = super::super::Records::resume(&bytes, at).collect();
        assert_eq!(rest, again);
        assert_eq!(again[0].kind, Kind::Pd as u16);
        assert_eq!(
            super::super::Records::resume(&bytes, bytes.len() + 5).count(),
            0
        );
    }

    #[test]
    fn sizer_sizes_what_a_writer_writes() {
        let mut sizer = super::super::Sizer::default();
        sample_into(&mut sizer);
        let mut buf = vec![0u8; sizer.bytes()];
        let mut w = Writer::new(&mut buf).unwrap();
        sample_into(&mut w);
        assert_eq!(w.finish().unwrap(), sizer.bytes());
        let img = Image::parse(&buf).unwrap();
        assert_eq!(img.count(), sizer.count());
        let mut scratch = vec![Entry::default(); 6];
        validate(&img, &mut scratch).unwrap();
        // One byte short: the writer says so instead of writing past it.
        let mut short = vec![0u8; sizer.bytes() - 1];
        let mut w = Writer::new(&mut short).unwrap();
        let mut failed = false;
        for (kind, payload) in sample_records() {
            if w.record(kind, &payload).is_err() {
                failed = true;
            }
        }
        assert!(failed);
    }

    #[test]
    fn scratch_for_the_records_there_are() {
        let recs = sample_records();
        let img = write(&recs);
        let parsed = Image::parse(&img).unwrap();
        let ctx = context(&parsed).unwrap();
        assert_eq!(scratch_len(&parsed, &ctx), Ok(6));
        // A count past the records (or past u32) costs no memory: refused.
        for qps in [u32::MAX, u32::MAX - 10, 1 << 30, parsed.count()] {
            let mut recs = recs.clone();
            let (_, payload) = recs.iter_mut().find(|(k, _)| *k == Kind::Context).unwrap();
            let mut c: Context = decode(payload, Kind::Context).unwrap();
            c.qps = qps;
            c.put(payload);
            let img = write(&recs);
            let parsed = Image::parse(&img).unwrap();
            let ctx = context(&parsed).unwrap();
            assert_eq!(
                scratch_len(&parsed, &ctx),
                Err(ImageError::Count),
                "qps {qps}"
            );
        }
    }

    #[test]
    fn sample_validates() {
        let img = write(&sample_records());
        let s = check(&img).unwrap();
        assert_eq!(s.objects, 6);
        assert_eq!(s.context.qps, 1);
        // Scratch too small for the announced objects.
        let parsed = Image::parse(&img).unwrap();
        assert_eq!(
            validate(&parsed, &mut [Entry::default(); 5]),
            Err(ImageError::NoRoom)
        );
    }

    /// Applies `f` to record `i`'s decoded `T` and checks the result.
    fn with<T: Field>(i: usize, f: impl FnOnce(&mut T)) -> Result<Summary, ImageError> {
        let mut recs = sample_records();
        let mut v = T::get(&recs[i].1);
        f(&mut v);
        v.put(&mut recs[i].1);
        check(&write(&recs))
    }

    #[test]
    fn bad_fields_refused() {
        // (record, mutation) pairs, each of which must be refused.
        assert!(with::<Context>(1, |c| c.page_size = 3000).is_err());
        assert!(with::<Context>(1, |c| c.flags = 2).is_err());
        assert!(with::<Context>(1, |c| c.qps = 2).is_err());
        assert!(with::<Cq>(3, |c| c.notify = 4).is_err());
        assert!(
            with::<Cq>(3, |c| c.channel = 1 << 31).is_err(),
            "channel fd"
        );
        assert!(
            with::<Context>(1, |c| c.async_fd = 1 << 31).is_err(),
            "async fd"
        );
        assert!(with::<Cq>(3, |c| c.ring.capacity = 10).is_err());
        assert!(with::<Cq>(3, |c| c.ring.index = 16).is_err());
        assert!(with::<Cq>(3, |c| c.ring.mmap_size += 1).is_err());
        assert!(with::<Cq>(3, |c| c.ring.mmap_offset = 100).is_err());
        assert!(with::<Srq>(5, |s| s.num = 5).is_err());
        assert!(with::<Srq>(5, |s| s.limit = 8).is_err());
        assert!(with::<Srq>(5, |s| s.pd = 1).is_err(), "SRQ's PD is a CQ");
        assert!(with::<Mr>(7, |m| m.lkey = 0x12).is_err());
        assert!(with::<Mr>(7, |m| m.rkey = 0x1235).is_err());
        assert!(
            with::<Mr>(7, |m| m.access = 0).is_err(),
            "rkey without remote access"
        );
        assert!(with::<Mr>(7, |m| m.iova += 1).is_err());
        assert!(with::<Mr>(7, |m| m.start = u64::MAX).is_err());
        assert!(with::<Mr>(7, |m| m.pd = 9).is_err(), "no such PD");
        assert!(with::<Ah>(8, |a| a.num = 0).is_err());
        assert!(with::<Ah>(8, |a| a.path.ipv6 = 1).is_err());
        assert!(with::<Ah>(8, |a| a.path.flow_label = 1 << 20).is_err());
        assert!(
            with::<Ah>(8, |a| a.handle = 3).is_err(),
            "handle out of order"
        );
        assert!(with::<Qp>(9, |q| q.qpn = 1).is_err());
        assert!(with::<Qp>(9, |q| q.qp_type = 1).is_err());
        assert!(with::<Qp>(9, |q| q.state = 7).is_err());
        assert!(with::<Qp>(9, |q| q.mig = 3).is_err());
        assert!(
            with::<Qp>(9, |q| q.flags |= QP_DRAINED).is_err(),
            "drained outside SQD"
        );
        assert!(
            with::<Qp>(9, |q| {
                q.qp_type = QPT_UD;
                q.flags = QP_PEER_EXT;
            })
            .is_err(),
            "the extension is RC's"
        );
        assert!(
            with::<Qp>(9, |q| {
                q.state = QPS_ERR;
                q.mig = MIG_STOPPED;
            })
            .is_err(),
            "stopped in error"
        );
        assert!(with::<Qp>(9, |q| q.sq_psn = 1 << 24).is_err());
        assert!(with::<Qp>(9, |q| q.max_rd_atomic = 3).is_err());
        assert!(with::<Qp>(9, |q| q.retry_cnt = 8).is_err());
        assert!(with::<Qp>(9, |q| q.send_cq = 0).is_err(), "send CQ is a PD");
        assert!(with::<Qp>(9, |q| q.srq = 77).is_err());
        assert!(
            with::<Qp>(9, |q| q.max_dest_rd_atomic = 4).is_err(),
            "res slots"
        );
        assert!(with::<QpEngine>(10, |e| e.handle = 4).is_err());
        assert!(with::<QpEngine>(10, |e| e.resp_pos = 3).is_err());
        assert!(with::<QpEngine>(10, |e| e.resp_res_next = 2).is_err());
        assert!(with::<QpEngine>(10, |e| e.resp_write_rkey = 1).is_err());
        assert!(with::<QpEngine>(10, |e| e.req_index = 32).is_err());
        assert!(with::<QpRes>(11, |r| r.slot = 1).is_err(), "slot order");
        assert!(
            with::<QpRes>(12, |r| r.len = 16).is_err(),
            "atomic of 16 bytes"
        );
        assert!(with::<QpWqeHead>(13, |w| w.index = 32).is_err());
        assert!(
            with::<QpWqeHead>(13, |w| w.index = 14).is_err(),
            "not the oldest"
        );
        assert!(
            with::<QpEngine>(10, |e| e.req_index = 17).is_err(),
            "past the begun"
        );
        assert!(with::<RingHead>(15, |r| r.which = RING_RQ).is_err());
        assert!(with::<RingHead>(4, |r| r.handle = 2).is_err());
    }

    #[test]
    fn bad_structure_refused() {
        let base = sample_records();
        let drop = |i: usize| {
            let mut r = base.clone();
            r.remove(i);
            check(&write(&r))
        };
        for (i, (kind, _)) in base.iter().enumerate().skip(1) {
            assert!(drop(i).is_err(), "record {i} ({kind:?}) missing");
        }
        // A ring of the wrong size, a WQE of the wrong size.
        let mut r = base.clone();
        r[4].1.pop();
        assert!(check(&write(&r)).is_err());
        let mut r = base.clone();
        r[13].1.push(0);
        assert!(check(&write(&r)).is_err());
        // Two MRs with one index.
        let mut r = base.clone();
        let mut mr2 = r[7].clone();
        let mut m = Mr::get(&mr2.1);
        m.handle = 6;
        m.put(&mut mr2.1);
        r.push(mr2);
        let mut c = Context::get(&r[1].1);
        c.mrs = 2;
        c.put(&mut r[1].1);
        assert!(matches!(check(&write(&r)), Err(ImageError::Field { .. })));
        // The same with another index is fine.
        let last = r.len() - 1;
        let mut m = Mr::get(&r[last].1);
        m.lkey = 0x2234;
        m.rkey = 0x2234;
        m.put(&mut r[last].1);
        assert!(check(&write(&r)).is_ok());
    }

    #[test]
    fn good_variants_accepted() {
        // A stopped QP in SQD, and a peer that speaks the extension.
        assert!(with::<Qp>(9, |q| {
            q.state = QPS_SQD;
            q.flags |= QP_PEER_EXT | QP_DRAINED;
        })
        .is_ok());
    }
}
