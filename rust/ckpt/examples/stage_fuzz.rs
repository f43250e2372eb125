// SPDX-License-Identifier: GPL-2.0

//! The VM test's image fuzzer (selftests/migrate.sh): hands the kernel
//! COUNT damaged copies of a real checkpoint image through RESTORE_STAGE
//! and checks that it refuses every one the image checker refuses, and
//! takes only ones the checker takes. Most copies are re-sealed with a
//! valid checksum, so that the damage reaches the checks behind it: bytes
//! flipped, fields set to extremes, records cut short, lengths changed.
//! Every 64th copy is staged for real on a fresh context (then dropped
//! with it), so that a stage kept and freed is exercised too.
//!
//! Usage: stage_fuzz DEVICE IMAGE COUNT [SEED]. Prints one line of
//! totals; exit 1 at the first disagreement, with the copy written next
//! to IMAGE.

use std::process::ExitCode;

use rxe_ckpt::{
    show,
    uverbs::{self, Uverbs},
    Error,
};
use rxe_proto::image::{self, HEADER_LEN, RECORD_HEADER_LEN};

/// xorshift64*: reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

/// The offsets of the records' headers in `img`.
fn record_offsets(img: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    let mut at = HEADER_LEN;
    while at + RECORD_HEADER_LEN <= img.len() {
        out.push(at);
        let len = u32::from_le_bytes([img[at + 4], img[at + 5], img[at + 6], img[at + 7]]) as usize;
        at += RECORD_HEADER_LEN + len.div_ceil(8) * 8;
    }
    out
}

/// One damaged copy of `good`.
fn damage(good: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut img = good.to_vec();
    let recs = record_offsets(good);
    match rng.below(6) {
        // A few bytes anywhere past the header.
        0 => {
            for _ in 0..1 + rng.below(4) {
                let at = HEADER_LEN + rng.below(img.len() - HEADER_LEN);
                img[at] ^= 1 << rng.below(8);
            }
        }
        // A 32-bit field of a record's payload set to an extreme.
        1 | 2 => {
            let r = recs[rng.below(recs.len())];
            let len = u32::from_le_bytes([img[r + 4], img[r + 5], img[r + 6], img[r + 7]]) as usize;
            if len >= 4 {
                let at = r + RECORD_HEADER_LEN + rng.below(len / 4) * 4;
                let v: u32 = match rng.below(5) {
                    0 => 0,
                    1 => u32::MAX,
                    2 => 0x8000_0000,
                    3 => 0x00ff_ffff + 1,
                    _ => rng.next() as u32,
                };
                img[at..at + 4].copy_from_slice(&v.to_le_bytes());
            }
        }
        // A record's kind or length changed.
        3 => {
            let r = recs[rng.below(recs.len())];
            if rng.below(2) == 0 {
                img[r] = rng.next() as u8;
            } else {
                let v = rng.next() as u32 % (img.len() as u32 * 2);
                img[r + 4..r + 8].copy_from_slice(&v.to_le_bytes());
            }
        }
        // Cut short (the header's length follows, so only the records
        // tell).
        4 => {
            let len = HEADER_LEN + rng.below(img.len() - HEADER_LEN);
            img.truncate(len);
            img[16..24].copy_from_slice(&(len as u64).to_le_bytes());
        }
        // A header field.
        _ => {
            let at = 8 + rng.below(20);
            img[at] ^= 1 << rng.below(8);
        }
    }
    // One in eight keeps its broken checksum.
    if rng.below(8) != 0 {
        image::seal(&mut img);
    }
    img
}

fn run(dev: &str, path: &str, count: u64, seed: u64) -> Result<(), String> {
    let good = std::fs::read(path).map_err(|e| format!("read {path}: {e}"))?;
    show::check(&good).map_err(|e| format!("{path}: not a good image to start from: {e}"))?;
    if good.len() <= HEADER_LEN || record_offsets(&good).is_empty() {
        return Err(format!("{path}: no records"));
    }
    let file = Uverbs::open_device(dev).map_err(|e| e.to_string())?;
    let sgid = uverbs::source_gids_for(dev, None).map_err(|e| e.to_string())?;
    let mut rng = Rng(seed | 1);
    let (mut refused, mut taken, mut staged) = (0u64, 0u64, 0u64);
    for i in 0..count {
        let img = damage(&good, &mut rng);
        let checker = show::check(&img).is_ok();
        let kernel = match file.stage(&img, sgid, true) {
            Ok(_) => true,
            Err(Error::Usage(m)) if m.contains("refused the image as invalid") => false,
            Err(e) => return Err(format!("copy {i}: stage: {e}")),
        };
        if checker != kernel {
            let bad = format!("{path}.disagree-{i}");
            let _ = std::fs::write(&bad, &img);
            return Err(format!(
                "copy {i} (seed {seed}): the checker {} it, the kernel {} it; written to {bad}",
                if checker { "takes" } else { "refuses" },
                if kernel { "takes" } else { "refuses" }
            ));
        }
        if kernel {
            taken += 1;
        } else {
            refused += 1;
        }
        if i % 64 == 0 {
            // Kept by a fresh context, freed with it.
            let fresh = Uverbs::open_device(dev).map_err(|e| e.to_string())?;
            if fresh
                .stage(&img, sgid, false)
                .is_ok_and(|a| a.conflicts == 0)
            {
                staged += 1;
            }
        }
    }
    if count >= 1024 && staged == 0 {
        return Err(
            "no image was kept by a fresh context: the kept stage went untested \
             (are the image's numbers taken on the device?)"
                .into(),
        );
    }
    println!(
        "stage_fuzz: {count} damaged images on {dev}: {refused} refused by checker and kernel alike, \
         {taken} harmless (both take them), {staged} kept by a fresh context and dropped"
    );
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(dev), Some(path), Some(count)) = (args.get(1), args.get(2), args.get(3)) else {
        eprintln!("usage: stage_fuzz DEVICE IMAGE COUNT [SEED]");
        return ExitCode::from(2);
    };
    let Ok(count) = count.parse::<u64>() else {
        eprintln!("stage_fuzz: COUNT is a number");
        return ExitCode::from(2);
    };
    let seed = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    match run(dev, path, count, seed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stage_fuzz: FAIL: {e}");
            ExitCode::FAILURE
        }
    }
}
