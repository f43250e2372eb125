// SPDX-License-Identifier: GPL-2.0

//! The pages the kernel wrote for a process, shown to soft-dirty tracking.
//!
//! What peers put into a process's MRs (SENDs, RDMA WRITEs, atomics) and
//! what READ responses bring is written by the kernel through the pages
//! the MR pinned, not through the process's page tables: soft-dirty
//! tracking, which iterative checkpoints (`criu pre-dump`, then `criu dump
//! --track-mem`) rely on to find what changed, does not see it. The kernel
//! happens to leave pinned small pages of private mappings soft-dirty for
//! good (it does not write-protect them when the bits are cleared), but
//! not transparent huge pages. So, once the QPs are stopped (nothing
//! writes any more) and before the pages' flags are read, one byte of
//! every page of every MR the kernel may write (local write access) is
//! written back with its own value through the process's memory: a write
//! fault of the process's own, which marks the page.
//!
//! Only private mappings are touched: nobody else writes their pages. A
//! shared mapping may have a writer outside the process (another task of
//! the dump whose QPs still run, a process outside it), whose write could
//! land between the read and the write back; CRIU dumps anonymous shared
//! memory whole, and a file's pages are the file's.

use std::{fs, os::unix::fs::FileExt};

use rxe_proto::image::{
    record::{decode, Kind, Mr},
    Image,
};

use crate::{Error, Result};

/// `IB_ACCESS_LOCAL_WRITE`: the kernel may write the MR's pages.
const LOCAL_WRITE: u32 = 1;

/// The MRs of `image` the kernel may write: (start address, length).
pub fn writable_mrs(image: &[u8]) -> Result<Vec<(u64, u64)>> {
    let img = Image::parse(image).map_err(Error::Image)?;
    let mut out = Vec::new();
    for r in img.records() {
        if r.kind != Kind::Mr as u16 {
            continue;
        }
        let m: Mr = decode(r.payload, Kind::Mr).map_err(Error::Image)?;
        if m.access & LOCAL_WRITE != 0 {
            out.push((m.start, m.length));
        }
    }
    Ok(out)
}

/// A mapping of the process the marking may touch: [start, end).
fn touchable(pid: i32) -> Result<Vec<(u64, u64)>> {
    let maps = fs::read_to_string(format!("/proc/{pid}/maps"))
        .map_err(|e| Error::sys(format!("read the mappings of process {pid}"), e))?;
    let mut out = Vec::new();
    for line in maps.lines() {
        let mut w = line.split_whitespace();
        let (Some(range), Some(perms)) = (w.next(), w.next()) else {
            continue;
        };
        let Some((a, b)) = range.split_once('-') else {
            continue;
        };
        let (Ok(a), Ok(b)) = (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) else {
            continue;
        };
        let p = perms.as_bytes();
        if p.get(1) == Some(&b'w') && p.get(3) == Some(&b'p') {
            out.push((a, b));
        }
    }
    Ok(out)
}

/// Marks soft-dirty every page of process `pid` within `ranges` that lies
/// in a mapping it may touch; returns how many pages. The process must be
/// stopped, and nothing else writing its MRs (their QPs stopped).
pub fn mark(pid: i32, ranges: &[(u64, u64)]) -> Result<u64> {
    if ranges.is_empty() {
        return Ok(0);
    }
    // SAFETY: sysconf(_SC_PAGESIZE): no pointers.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => p as u64,
        _ => 4096,
    };
    let maps = touchable(pid)?;
    let mem = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{pid}/mem"))
        .map_err(|e| Error::sys(format!("open the memory of process {pid}"), e))?;
    let mut marked = 0;
    for &(start, len) in ranges {
        let end = start.saturating_add(len);
        for &(ma, mb) in &maps {
            let (a, b) = (start.max(ma), end.min(mb));
            if a >= b {
                continue;
            }
            let mut at = a - a % page;
            while at < b {
                let mut byte = [0u8];
                mem.read_exact_at(&mut byte, at)
                    .and_then(|()| mem.write_all_at(&byte, at))
                    .map_err(|e| {
                        Error::sys(format!("mark page {at:#x} of process {pid} written"), e)
                    })?;
                marked += 1;
                at = match at.checked_add(page) {
                    Some(n) => n,
                    None => break,
                };
            }
        }
    }
    Ok(marked)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Maps `pages` pages: private anonymous, or shared on a file.
    fn map(pages: usize, file: Option<&fs::File>) -> (*mut u8, usize) {
        use std::os::fd::AsRawFd;
        let len = pages * 4096;
        let (flags, fd) = match file {
            Some(f) => (libc::MAP_SHARED, f.as_raw_fd()),
            None => (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1),
        };
        // SAFETY: A fresh mapping of our own, unmapped by the test.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED);
        (p.cast(), len)
    }

    #[test]
    fn marks_each_page_of_a_private_range_keeping_its_contents() {
        let me = std::process::id() as i32;
        let (p, len) = map(4, None);
        {
            // SAFETY: The mapping is ours, `len` bytes.
            let buf = unsafe { core::slice::from_raw_parts_mut(p, len) };
            for (i, b) in buf.iter_mut().enumerate() {
                *b = (i * 7) as u8;
            }
            // Two pages' worth from 10 bytes in: three pages.
            assert_eq!(mark(me, &[(p as u64 + 10, 2 * 4096)]).unwrap(), 3);
            assert!(buf.iter().enumerate().all(|(i, &b)| b == (i * 7) as u8));
        }
        let base = p as u64;
        assert_eq!(mark(me, &[]).unwrap(), 0);
        // A hole in the range (page 2 unmapped): only the mapped pages.
        // SAFETY: The third page of our mapping, not used after.
        unsafe { libc::munmap(p.add(2 * 4096).cast(), 4096) };
        assert_eq!(mark(me, &[(base, len as u64)]).unwrap(), 3);
        // SAFETY: Our mapping's other pages, no longer used.
        unsafe {
            libc::munmap(p.cast(), 2 * 4096);
            libc::munmap(p.add(3 * 4096).cast(), 4096);
        }
    }

    #[test]
    fn leaves_a_files_shared_mapping_alone() {
        let me = std::process::id() as i32;
        let path = std::env::temp_dir().join(format!("rxe-ckpt-dirty-{me}"));
        let f = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.set_len(2 * 4096).unwrap();
        let (p, len) = map(2, Some(&f));
        assert_eq!(mark(me, &[(p as u64, len as u64)]).unwrap(), 0);
        // SAFETY: Our mapping, no longer used.
        unsafe { libc::munmap(p.cast(), len) };
        let _ = fs::remove_file(path);
    }
}
