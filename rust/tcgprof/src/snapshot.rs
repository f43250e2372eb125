// SPDX-License-Identifier: GPL-2.0

//! The snapshot file: the guest kernel instructions executed so far, per
//! start address of a translation block.
//!
//! Text, so that a person can read it: a header line, then one line per
//! address that ran, `ADDRESS INSTRUCTIONS` (hexadecimal address, decimal
//! count), in address order.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The first line of every snapshot.
pub const HEADER: &str = "# tcgprof snapshot 1";

/// Instructions executed, by the start address of the block they ran in.
pub type Counts = BTreeMap<u64, u64>;

/// The file's text for `counts` (addresses whose count is zero left out).
pub fn format(counts: &Counts) -> String {
    let mut out = String::with_capacity(32 * counts.len() + HEADER.len() + 1);
    out.push_str(HEADER);
    out.push('\n');
    for (addr, n) in counts.iter().filter(|(_, n)| **n != 0) {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "{addr:x} {n}");
    }
    out
}

/// Parses a snapshot file's text.
pub fn parse(text: &str) -> Result<Counts, String> {
    let mut lines = text.lines();
    if lines.next() != Some(HEADER) {
        return Err(format!(
            "not a tcgprof snapshot (first line is not '{HEADER}')"
        ));
    }
    let mut counts = Counts::new();
    for (i, line) in lines.enumerate() {
        let bad = || format!("line {}: expected 'ADDRESS COUNT', got '{line}'", i + 2);
        let (addr, n) = line.split_once(' ').ok_or_else(bad)?;
        let addr = u64::from_str_radix(addr, 16).map_err(|_| bad())?;
        let n: u64 = n.parse().map_err(|_| bad())?;
        *counts.entry(addr).or_default() += n;
    }
    Ok(counts)
}

/// What ran between `before` and `after`: `after - before`, address by
/// address. Counts only grow, so a smaller one (a snapshot pair given in
/// the wrong order) is an error.
pub fn diff(before: &Counts, after: &Counts) -> Result<Counts, String> {
    let mut out = Counts::new();
    for (addr, n) in after {
        let was = before.get(addr).copied().unwrap_or(0);
        let d = n.checked_sub(was).ok_or_else(|| {
            format!("count at {addr:x} went down ({was} to {n}): snapshots swapped?")
        })?;
        if d != 0 {
            out.insert(*addr, d);
        }
    }
    if let Some(addr) = before.keys().find(|a| !after.contains_key(a)) {
        return Err(format!(
            "address {addr:x} is in the first snapshot only: snapshots swapped?"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let c: Counts = [
            (0xffff_ffff_8100_0000, 12),
            (0xffff_ffff_c000_0010, 7),
            (1, 0),
        ]
        .into();
        let text = format(&c);
        assert!(!text.contains("\n1 0\n"), "zero counts are left out");
        let back = parse(&text).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[&0xffff_ffff_8100_0000], 12);
        assert_eq!(back[&0xffff_ffff_c000_0010], 7);
    }

    #[test]
    fn parse_rejects_garbage() {
        assert!(parse("").is_err());
        assert!(parse("hello\n").is_err());
        assert!(parse(&format!("{HEADER}\nzz 1\n")).is_err());
        assert!(parse(&format!("{HEADER}\nff\n")).is_err());
        assert!(parse(&format!("{HEADER}\nff -1\n")).is_err());
    }

    #[test]
    fn diff_subtracts_and_refuses_swapped() {
        let a: Counts = [(1, 10), (2, 5)].into();
        let b: Counts = [(1, 15), (2, 5), (3, 4)].into();
        let d = diff(&a, &b).unwrap();
        assert_eq!(d, [(1, 5), (3, 4)].into());
        assert!(diff(&b, &a).is_err());
    }
}
