// SPDX-License-Identifier: GPL-2.0

//! The dump side. CRIU calls CHECKPOINT_DEVICES for each task once every
//! task is stopped, before any of their memory or files are dumped: there
//! the QPs of the task's rxe-rs context are stopped (a peer that speaks
//! the extension is told, and pauses), the context is dumped with
//! rxe-ckpt, and the image and the task's layout are written to CRIU's
//! images directory. A dump on top of a pre-dump also marks the pages the
//! kernel wrote into (`rxe_ckpt::dirty`), which CRIU would not see changed. DUMP_EXT_FILE then claims the context's files (the
//! uverbs file, its event files), HANDLE_DEVICE_VMA its ring mappings
//! (their contents are in the image). At the end the QPs are resumed if
//! the task goes on running (`--leave-running`, or a dump that failed);
//! a task CRIU kills leaves its peer paused, waiting for the restored
//! one's resume.

use std::{fs, sync::Mutex};

use rxe_ckpt::{process::Process, restore::Layout, Error};

use crate::{
    abi::{self, FinalState, Level},
    images,
    record::{self, FileRecord, ProcessRecord},
    Handled,
};

/// A task whose context was dumped.
struct Dumped {
    process: Process,
    /// Its uverbs fd and event fds: what DUMP_EXT_FILE claims.
    fds: Vec<i32>,
}

/// What the dump did so far.
#[derive(Default)]
struct State {
    dumped: Vec<Dumped>,
    /// The inventory names the plugin (once per dump).
    in_inventory: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    dumped: Vec::new(),
    in_inventory: false,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// CHECKPOINT_DEVICES: dumps task `pid`'s context, if it has one.
pub fn checkpoint(pid: i32) -> Handled {
    let start = std::time::Instant::now();
    let p = Process::open(pid).map_err(|e| e.to_string())?;
    let u = match rxe_ckpt::one_context(&p) {
        Ok(u) => u,
        Err(Error::NoResources(_)) => return Ok(false),
        Err(e) => return Err(e.to_string()),
    };
    let layout = Layout::of_process(pid, &u.node).map_err(|e| e.to_string())?;
    let mut fds: Vec<i32> = vec![u.fd];
    fds.extend(
        p.event_files()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|(fd, _)| *fd as i32),
    );
    let rec = ProcessRecord {
        pid,
        fd: u.fd,
        layout,
    };
    drop(u);
    // Stops the QPs; they stay stopped until the end of the dump.
    let d = rxe_ckpt::dump(&p, false).map_err(|e| e.to_string())?;
    // On top of a pre-dump, only pages marked soft-dirty are dumped: the
    // ones the kernel wrote into are marked now (the QPs are stopped).
    // RXE_CKPT_NO_MARK=1 leaves them unmarked, for a test to show that the
    // dump then restores what the kernel wrote since the parent stale.
    let no_mark = std::env::var("RXE_CKPT_NO_MARK").is_ok_and(|v| v == "1");
    let marked = if images::has("parent") && !no_mark {
        let ranges = rxe_ckpt::dirty::writable_mrs(&d.image).map_err(|e| e.to_string());
        match ranges.and_then(|r| rxe_ckpt::dirty::mark(pid, &r).map_err(|e| e.to_string())) {
            Ok(n) => format!(", {n} MR pages marked for the memory dump"),
            Err(e) => {
                let _ = rxe_ckpt::resume(&p);
                return Err(e);
            }
        }
    } else {
        String::new()
    };
    let mut st = state();
    st.dumped.push(Dumped { process: p, fds });
    // On failure the dump fails, and its end resumes the QPs.
    images::write(&record::image_name(pid), &d.image)?;
    images::write(&record::layout_name(pid), rec.to_text().as_bytes())?;
    if !st.in_inventory {
        st.in_inventory = abi::add_inventory(crate::NAME);
        if !st.in_inventory {
            return Err("cannot add the plugin to the dump's inventory".into());
        }
    }
    abi::log(
        Level::Info,
        &format!(
            "process {pid}: {} bytes of RDMA state, {} QPs stopped{marked}, in {} ms",
            d.image.len(),
            d.stopped,
            start.elapsed().as_millis()
        ),
    );
    Ok(true)
}

/// DUMP_EXT_FILE: claims CRIU's copy `fd` of a dumped context's file.
pub fn ext_file(fd: i32, id: u32) -> Handled {
    let me = std::process::id() as i32;
    let st = state();
    for d in &st.dumped {
        let pid = d.process.pid();
        for &theirs in &d.fds {
            if same_file(me, fd, pid, theirs) {
                let rec = FileRecord { pid, fd: theirs };
                images::write(&record::file_name(id), rec.to_text().as_bytes())?;
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// Whether fd `a` of process `pa` and fd `b` of `pb` are one open file.
fn same_file(pa: i32, a: i32, pb: i32, b: i32) -> bool {
    const KCMP_FILE: libc::c_long = 0;
    // SAFETY: kcmp(pid1, pid2, KCMP_FILE, fd1, fd2): no pointers.
    unsafe { libc::syscall(libc::SYS_kcmp, pa, pb, KCMP_FILE, a, b) == 0 }
}

/// HANDLE_DEVICE_VMA: whether a mapping of the character device `rdev`
/// is a uverbs ring (the plugin's).
pub fn is_uverbs_device(st: &libc::stat) -> bool {
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR {
        return false;
    }
    let (major, minor) = dev_numbers(st.st_rdev);
    fs::metadata(format!("/sys/dev/char/{major}:{minor}/ibdev")).is_ok()
}

/// A `dev_t`'s major and minor numbers (glibc's encoding).
fn dev_numbers(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major, minor)
}

/// The end of the dump: the QPs resume if their tasks go on.
pub fn finish(ret: i32) {
    let mut st = state();
    let resume = ret != 0 || abi::final_state() == FinalState::Alive;
    for d in st.dumped.drain(..) {
        if !resume {
            continue;
        }
        match rxe_ckpt::resume(&d.process) {
            Ok(n) => abi::log(
                Level::Info,
                &format!("process {}: {n} QPs resumed", d.process.pid()),
            ),
            Err(e) => abi::log(
                Level::Error,
                &format!("process {}: resume failed: {e}", d.process.pid()),
            ),
        }
    }
    st.in_inventory = false;
}

#[cfg(test)]
mod tests {
    #[test]
    fn dev_numbers() {
        // uverbs0 is 231:192; a dynamic major above 255 and a large minor.
        assert_eq!(super::dev_numbers(libc::makedev(231, 192)), (231, 192));
        assert_eq!(
            super::dev_numbers(libc::makedev(4000, 70000)),
            (4000, 70000)
        );
    }
}
