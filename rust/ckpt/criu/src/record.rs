// SPDX-License-Identifier: GPL-2.0

//! The plugin's own files in CRIU's images directory, beside rxe-ckpt's
//! checkpoint image of each process's context (`rxe-rs-PID.img`):
//!
//! - `rxe-rs-PID.layout`: what the restore needs of the process besides the
//!   image, which CRIU's re-created process no longer shows: its uverbs fd,
//!   where its rings were mapped, its files' flags (CRIU restores no
//!   status flags of files it does not know);
//! - `rxe-rs-file-ID`: a file CRIU asked the plugin to dump (its id in
//!   CRIU's image), so that the restore claims it back.
//!
//! Small text files, one fact a line, versioned; read back as hostile
//! input (a bad line refuses the whole file).

use std::collections::BTreeMap;

use rxe_ckpt::restore::Layout;

const LAYOUT_MAGIC: &str = "rxe-rs criu layout 1";
const FILE_MAGIC: &str = "rxe-rs criu file 1";
/// More rings or files than any process has: a damaged file.
const MAX_LINES: usize = 1 << 16;

/// A process's record: its uverbs fd, and its layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRecord {
    pub pid: i32,
    /// The uverbs fd the image is of.
    pub fd: i32,
    pub layout: Layout,
}

impl ProcessRecord {
    pub fn to_text(&self) -> String {
        let mut s = format!("{LAYOUT_MAGIC}\npid {}\nfd {}\n", self.pid, self.fd);
        for (off, (addr, size)) in &self.layout.rings {
            s += &format!("ring {off:#x} {addr:#x} {size:#x}\n");
        }
        for (fd, flags) in &self.layout.flags {
            s += &format!("flags {fd} {flags:#o}\n");
        }
        s
    }

    pub fn from_text(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        if lines.next() != Some(LAYOUT_MAGIC) {
            return Err("not an rxe-rs layout record (or another version)".into());
        }
        let (mut pid, mut fd) = (None, None);
        let mut rings = BTreeMap::new();
        let mut flags = BTreeMap::new();
        for (n, l) in lines.enumerate() {
            if n > MAX_LINES {
                return Err("too many lines".into());
            }
            let w: Vec<&str> = l.split(' ').collect();
            let bad = || format!("bad line {}: {l:?}", n + 2);
            match w.as_slice() {
                ["pid", p] if pid.is_none() => pid = Some(p.parse::<i32>().map_err(|_| bad())?),
                ["fd", f] if fd.is_none() => fd = Some(f.parse::<i32>().map_err(|_| bad())?),
                ["ring", off, addr, size] => {
                    let (off, addr, size) = (hex(off), hex(addr), hex(size));
                    let (Some(off), Some(addr), Some(size)) = (off, addr, size) else {
                        return Err(bad());
                    };
                    if size == 0 || addr.checked_add(size).is_none() {
                        return Err(bad());
                    }
                    if rings.insert(off, (addr, size)).is_some() {
                        return Err(bad());
                    }
                }
                ["flags", f, v] => {
                    let f = f.parse::<u32>().map_err(|_| bad())?;
                    let v = v
                        .strip_prefix("0o")
                        .and_then(|o| u32::from_str_radix(o, 8).ok())
                        .ok_or_else(bad)?;
                    if flags.insert(f, v).is_some() {
                        return Err(bad());
                    }
                }
                _ => return Err(bad()),
            }
        }
        match (pid, fd) {
            (Some(pid), Some(fd)) if pid > 0 && fd >= 0 => Ok(ProcessRecord {
                pid,
                fd,
                layout: Layout { rings, flags },
            }),
            _ => Err("no pid or uverbs fd".into()),
        }
    }
}

fn hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.strip_prefix("0x")?, 16).ok()
}

/// A file the dump claimed: whose it was, and its fd number there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileRecord {
    pub pid: i32,
    pub fd: i32,
}

impl FileRecord {
    pub fn to_text(self) -> String {
        format!("{FILE_MAGIC}\npid {}\nfd {}\n", self.pid, self.fd)
    }

    pub fn from_text(text: &str) -> Result<Self, String> {
        let l: Vec<&str> = text.lines().collect();
        let num = |line: Option<&&str>, key: &str| -> Option<i32> {
            line?.strip_prefix(key)?.strip_prefix(' ')?.parse().ok()
        };
        match (
            l.first(),
            num(l.get(1), "pid"),
            num(l.get(2), "fd"),
            l.len(),
        ) {
            (Some(&FILE_MAGIC), Some(pid), Some(fd), 3) if pid > 0 && fd >= 0 => {
                Ok(FileRecord { pid, fd })
            }
            _ => Err("not an rxe-rs file record (or another version)".into()),
        }
    }
}

/// The names of the files.
pub fn image_name(pid: i32) -> String {
    format!("rxe-rs-{pid}.img")
}

/// The pid of the process whose image `name` is, if it is one.
pub fn image_pid(name: &str) -> Option<i32> {
    name.strip_prefix("rxe-rs-")?
        .strip_suffix(".img")?
        .parse::<i32>()
        .ok()
        .filter(|&p| p > 0)
}

pub fn layout_name(pid: i32) -> String {
    format!("rxe-rs-{pid}.layout")
}

pub fn file_name(id: u32) -> String {
    format!("rxe-rs-file-{id:x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ProcessRecord {
        let mut layout = Layout::default();
        layout.rings.insert(0x1000, (0x7f00_0000_0000, 0x2000));
        layout.rings.insert(0x3000, (0x7f00_0001_0000, 0x1000));
        layout.flags.insert(3, 0o2100002);
        layout.flags.insert(4, 0o2004000);
        ProcessRecord {
            pid: 1234,
            fd: 3,
            layout,
        }
    }

    #[test]
    fn layout_round_trip() {
        let r = sample();
        assert_eq!(ProcessRecord::from_text(&r.to_text()), Ok(r));
    }

    #[test]
    fn layout_refuses_damage() {
        let t = sample().to_text();
        for bad in [
            t.replace("layout 1", "layout 2"),
            t.replace("pid 1234", "pid -1"),
            t.replace("ring 0x1000", "ring 0x3000"),
            t.replace("0x2000", "0x0"),
            t.replace("0o2100002", "2100002"),
            t.replace("flags 4", "flags 3"),
            t.clone() + "ring 0x5000 0xffffffffffffffff 0x2\n",
            t.clone() + "what\n",
            t.replace("fd 3\n", ""),
            String::new(),
        ] {
            assert!(ProcessRecord::from_text(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn file_round_trip_and_damage() {
        let f = FileRecord { pid: 77, fd: 5 };
        assert_eq!(FileRecord::from_text(&f.to_text()), Ok(f));
        assert!(FileRecord::from_text(&f.to_text().replace("fd 5", "fd x")).is_err());
        assert!(FileRecord::from_text(&(f.to_text() + "more\n")).is_err());
        assert!(FileRecord::from_text("").is_err());
    }

    #[test]
    fn image_names_give_their_pids() {
        assert_eq!(image_pid(&image_name(1234)), Some(1234));
        for bad in [
            "rxe-rs-.img",
            "rxe-rs-0.img",
            "rxe-rs--3.img",
            "rxe-rs-12.layout",
            "rxe-rs-file-1f",
            "core-12.img",
        ] {
            assert_eq!(image_pid(bad), None, "{bad}");
        }
    }
}
