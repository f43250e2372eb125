// SPDX-License-Identifier: GPL-2.0

//! Snapshot requests: how the guest asks the plugin for its counts.
//!
//! The plugin and the guest share a directory (QEMU's process sees it on
//! the host, the guest through virtme-ng's `--rwdir`). The guest creates
//! `NAME.req`; the plugin writes the counts to `NAME.snap` (whole: written
//! under another name, then renamed) and removes the request. The guest
//! waits for `NAME.snap`.

use std::fs;
use std::io;
use std::path::Path;

use crate::snapshot::{self, Counts};

/// Suffix of a request.
pub const REQUEST: &str = "req";
/// Suffix of an answer.
pub const SNAPSHOT: &str = "snap";

/// Answers every request waiting in `dir` with the counts `counts` gives
/// at that moment; returns how many it answered. A request name that is
/// not plain UTF-8 is removed unanswered.
pub fn answer(dir: &Path, counts: impl Fn() -> Counts) -> io::Result<usize> {
    let mut done = 0;
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(REQUEST) {
            continue;
        }
        if let Some(name) = path.file_stem().and_then(|s| s.to_str()) {
            let tmp = dir.join(format!(".{name}.{SNAPSHOT}.tmp"));
            fs::write(&tmp, snapshot::format(&counts()))?;
            fs::rename(&tmp, dir.join(format!("{name}.{SNAPSHOT}")))?;
            done += 1;
        }
        fs::remove_file(&path)?;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_requests_and_only_them() {
        let dir = std::env::temp_dir().join(format!("tcgprof-serve-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("a.req"), "").unwrap();
        fs::write(dir.join("b.req"), "").unwrap();
        fs::write(dir.join("kallsyms"), "x").unwrap();
        let n = answer(&dir, || [(0xffff_ffff_8100_0000, 3)].into()).unwrap();
        assert_eq!(n, 2);
        for name in ["a", "b"] {
            assert!(!dir.join(format!("{name}.req")).exists());
            let c = snapshot::parse(&fs::read_to_string(dir.join(format!("{name}.snap"))).unwrap())
                .unwrap();
            assert_eq!(c[&0xffff_ffff_8100_0000], 3);
        }
        assert!(dir.join("kallsyms").exists(), "other files are left alone");
        assert_eq!(
            answer(&dir, Counts::new).unwrap(),
            0,
            "nothing left to answer"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
