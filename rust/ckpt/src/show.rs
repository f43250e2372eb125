// SPDX-License-Identifier: GPL-2.0

//! `rxe-ckpt show`: a checkpoint image, checked whole, in words or JSON.

use std::fmt::Write as _;

use rxe_proto::image::{
    record::{self, decode, Kind},
    validate::{self, Entry},
    Image,
};

use crate::{Error, Result};

/// Checks `bytes` as a whole image; the records, in order.
fn checked(bytes: &[u8]) -> Result<Image<'_>> {
    let img = Image::parse(bytes).map_err(Error::Image)?;
    let ctx = validate::context(&img).map_err(Error::Image)?;
    let n = validate::scratch_len(&img, &ctx).map_err(Error::Image)?;
    let mut scratch = vec![Entry::default(); n];
    validate::validate(&img, &mut scratch).map_err(Error::Image)?;
    Ok(img)
}

/// Checks `bytes` as a whole image.
pub fn check(bytes: &[u8]) -> Result<()> {
    checked(bytes).map(|_| ())
}

/// The context record of a parsed image.
pub fn context_of(img: &Image<'_>) -> Result<record::Context> {
    validate::context(img).map_err(Error::Image)
}

/// A string as a JSON string's contents.
pub fn json_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o
}

/// A file descriptor, or "none".
fn fd(n: u32) -> String {
    if n == record::NO_FD {
        "none".into()
    } else {
        n.to_string()
    }
}

/// A record as shown: its kind's name and (field, value) pairs.
type Row = (&'static str, Vec<(&'static str, String)>);

/// The fields of one record worth showing.
fn fields(kind: Kind, payload: &[u8]) -> Result<Row> {
    let e = Error::Image;
    Ok(match kind {
        Kind::Producer => (
            "producer",
            vec![(
                "text",
                record::check_producer(payload).map_err(e)?.to_string(),
            )],
        ),
        Kind::Context => {
            let c: record::Context = decode(payload, kind).map_err(e)?;
            (
                "context",
                vec![
                    ("page_size", c.page_size.to_string()),
                    (
                        "stopped",
                        (c.flags & record::CONTEXT_STOPPED != 0).to_string(),
                    ),
                    ("pds", c.pds.to_string()),
                    ("cqs", c.cqs.to_string()),
                    ("srqs", c.srqs.to_string()),
                    ("mrs", c.mrs.to_string()),
                    ("ahs", c.ahs.to_string()),
                    ("qps", c.qps.to_string()),
                    ("async_fd", fd(c.async_fd)),
                ],
            )
        }
        Kind::Pd => {
            let p: record::Pd = decode(payload, kind).map_err(e)?;
            ("pd", vec![("handle", p.handle.to_string())])
        }
        Kind::Cq => {
            let c: record::Cq = decode(payload, kind).map_err(e)?;
            (
                "cq",
                vec![
                    ("handle", c.handle.to_string()),
                    ("cqe", c.ring.capacity.to_string()),
                    ("notify", c.notify.to_string()),
                    ("channel", fd(c.channel)),
                    ("comp_events", c.comp_events.to_string()),
                ],
            )
        }
        Kind::Srq => {
            let s: record::Srq = decode(payload, kind).map_err(e)?;
            (
                "srq",
                vec![
                    ("handle", s.handle.to_string()),
                    ("pd", s.pd.to_string()),
                    ("srq_num", s.num.to_string()),
                    ("max_wr", s.ring.capacity.to_string()),
                    ("limit", s.limit.to_string()),
                ],
            )
        }
        Kind::Mr => {
            let m: record::Mr = decode(payload, kind).map_err(e)?;
            (
                "mr",
                vec![
                    ("handle", m.handle.to_string()),
                    ("pd", m.pd.to_string()),
                    ("lkey", format!("{:#x}", m.lkey)),
                    ("rkey", format!("{:#x}", m.rkey)),
                    ("access", format!("{:#x}", m.access)),
                    ("addr", format!("{:#x}", m.start)),
                    ("length", m.length.to_string()),
                ],
            )
        }
        Kind::Ah => {
            let a: record::Ah = decode(payload, kind).map_err(e)?;
            (
                "ah",
                vec![
                    ("handle", a.handle.to_string()),
                    ("pd", a.pd.to_string()),
                    ("ah_num", a.num.to_string()),
                ],
            )
        }
        Kind::Qp => {
            let q: record::Qp = decode(payload, kind).map_err(e)?;
            let t = match q.qp_type {
                record::QPT_RC => "RC",
                record::QPT_UC => "UC",
                _ => "UD",
            };
            (
                "qp",
                vec![
                    ("handle", q.handle.to_string()),
                    ("qpn", q.qpn.to_string()),
                    ("type", t.to_string()),
                    ("state", q.state.to_string()),
                    ("dest_qpn", q.dest_qpn.to_string()),
                    ("send_cq", q.send_cq.to_string()),
                    ("recv_cq", q.recv_cq.to_string()),
                    (
                        "mig",
                        match q.mig {
                            record::MIG_STOPPED => "stopped",
                            record::MIG_PAUSED => "paused",
                            _ => "none",
                        }
                        .to_string(),
                    ),
                    ("peer_ext", (q.flags & record::QP_PEER_EXT != 0).to_string()),
                ],
            )
        }
        Kind::QpEngine => {
            let g: record::QpEngine = decode(payload, kind).map_err(e)?;
            (
                "qp_engine",
                vec![
                    ("handle", g.handle.to_string()),
                    ("req_psn", g.req_psn.to_string()),
                    ("comp_psn", g.comp_psn.to_string()),
                    ("resp_psn", g.resp_psn.to_string()),
                    ("resp_msn", g.resp_msn.to_string()),
                ],
            )
        }
        Kind::QpRes => {
            let r: record::QpRes = decode(payload, kind).map_err(e)?;
            (
                "replay_slot",
                vec![
                    ("handle", r.handle.to_string()),
                    ("slot", r.slot.to_string()),
                ],
            )
        }
        Kind::QpWqe => {
            let (w, b) = kind.split_headed::<record::QpWqeHead>(payload).map_err(e)?;
            (
                "wqe_begun",
                vec![
                    ("handle", w.handle.to_string()),
                    ("index", w.index.to_string()),
                    ("bytes", b.len().to_string()),
                ],
            )
        }
        Kind::QpRecv => {
            let (r, b) = kind
                .split_headed::<record::QpRecvHead>(payload)
                .map_err(e)?;
            (
                "recv_in_progress",
                vec![
                    ("handle", r.handle.to_string()),
                    ("off", r.off.to_string()),
                    ("bytes", b.len().to_string()),
                ],
            )
        }
        Kind::Ring => {
            let (r, b) = kind.split_headed::<record::RingHead>(payload).map_err(e)?;
            let which = ["cq", "sq", "rq", "srq"]
                .get(r.which as usize)
                .copied()
                .unwrap_or("?");
            (
                "ring",
                vec![
                    ("handle", r.handle.to_string()),
                    ("which", which.to_string()),
                    ("bytes", b.len().to_string()),
                ],
            )
        }
    })
}

/// The records of `img`, each as its kind's name and fields.
fn rows(img: &Image<'_>) -> Result<Vec<Row>> {
    img.records()
        .map(|r| {
            let kind = Kind::from_u16(r.kind).ok_or(Error::Image(
                rxe_proto::image::ImageError::UnknownKind(r.kind),
            ))?;
            fields(kind, r.payload)
        })
        .collect()
}

/// The image in words: one line per record.
pub fn text(bytes: &[u8]) -> Result<String> {
    let img = checked(bytes)?;
    let mut o = String::new();
    let _ = writeln!(
        o,
        "image: {} bytes, {} records, checks passed",
        bytes.len(),
        img.count()
    );
    for (name, f) in rows(&img)? {
        let _ = write!(o, "{name}");
        for (k, v) in f {
            let _ = write!(o, " {k}={v}");
        }
        o.push('\n');
    }
    Ok(o)
}

/// The image as JSON: `{"bytes": N, "records": [{"kind": ..., ...}]}`.
pub fn json(bytes: &[u8]) -> Result<String> {
    let img = checked(bytes)?;
    let mut o = String::new();
    let _ = write!(o, "{{\"bytes\":{},\"records\":[", bytes.len());
    for (i, (name, f)) in rows(&img)?.into_iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        let _ = write!(o, "{{\"kind\":\"{name}\"");
        for (k, v) in f {
            let _ = write!(o, ",\"{k}\":\"{}\"", json_escape(&v));
        }
        o.push('}');
    }
    o.push_str("]}\n");
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rxe_proto::image::{record_size, Writer, HEADER_LEN};

    fn image(recs: &[(Kind, Vec<u8>)]) -> Vec<u8> {
        let size = HEADER_LEN
            + recs
                .iter()
                .map(|(_, p)| record_size(p.len()).unwrap())
                .sum::<usize>();
        let mut buf = vec![0u8; size];
        let mut w = Writer::new(&mut buf).unwrap();
        for (k, p) in recs {
            w.record(*k, p).unwrap();
        }
        w.finish().unwrap();
        buf
    }

    fn enc<T: record::Field>(v: &T) -> Vec<u8> {
        let mut b = vec![0u8; T::SIZE];
        v.put(&mut b);
        b
    }

    fn small() -> Vec<u8> {
        let ctx = record::Context {
            page_size: 4096,
            cq_log2_elem: 7,
            pds: 2,
            ..Default::default()
        };
        image(&[
            (Kind::Producer, b"test \"quoted\"".to_vec()),
            (Kind::Context, enc(&ctx)),
            (
                Kind::Pd,
                enc(&record::Pd {
                    handle: 0,
                    reserved: 0,
                }),
            ),
            (
                Kind::Pd,
                enc(&record::Pd {
                    handle: 3,
                    reserved: 0,
                }),
            ),
        ])
    }

    #[test]
    fn text_and_json() {
        let img = small();
        let t = text(&img).unwrap();
        assert!(t.contains("4 records, checks passed"));
        assert!(t.contains("pd handle=3"));
        let j = json(&img).unwrap();
        assert!(j.starts_with("{\"bytes\":"));
        assert!(j.contains("\"kind\":\"producer\",\"text\":\"test \\\"quoted\\\"\""));
        assert!(j.contains("{\"kind\":\"pd\",\"handle\":\"3\"}"));
    }

    #[test]
    fn refuses_damage() {
        let mut img = small();
        let last = img.len() - 1;
        img[last] ^= 1;
        let e = text(&img).unwrap_err().to_string();
        assert_eq!(e, "bad checkpoint image: image checksum mismatch (damaged)");
        assert!(text(&img[..10]).is_err());
    }
}
