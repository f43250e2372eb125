// SPDX-License-Identifier: GPL-2.0

//! The restore side. A uverbs file cannot be opened for the task while
//! CRIU restores its files (CRIU's credentials would be the file's, and
//! the kernel refuses `write()` commands on a file opened under other
//! credentials than the caller's), nor can MRs pin its memory then (its
//! pages are only final once CRIU's restorer has run). So:
//!
//! - RESTORE_EXT_FILE gives each of the context's files back as a
//!   stand-in (`/dev/null`) at its fd number;
//! - UPDATE_VMA_MAP maps a stand-in (anonymous shared memory of the ring's
//!   size) at each ring's address;
//! - RESUME_DEVICES_LATE, with the task's memory and credentials final and
//!   every thread stopped under CRIU's trace, runs rxe-ckpt's restore in
//!   the task, as a move does: the task opens the device and makes its
//!   objects itself, the kernel gives them their identities and states
//!   from the image, the new rings are mapped over the stand-ins and the
//!   new files moved onto the old fd numbers, and the QPs resume (a
//!   paused peer is told where to go on). CRIU ignores that hook's
//!   result: if it fails, the task is killed and the reason logged.
//!
//! Before any of that, at the plugin's init, every image of the dump is
//! checked against the destination ([`check_images`]): a damaged image,
//! or a device that cannot host one (not rxe-rs, QPNs or keys taken,
//! paths it has no address for), refuses the restore before CRIU makes a
//! task, with the reasons in one line.
//!
//! The destination device is `RXE_CKPT_TO` (in CRIU's environment), or the
//! one rxe-rs device there is; `RXE_CKPT_ADDR` picks the source address.

use std::sync::Mutex;

use rxe_ckpt::{process::Process, ptrace::Tracee, uverbs::Uverbs};

use crate::{
    abi::{self, Level},
    images,
    record::{self, FileRecord, ProcessRecord},
    Handled,
};

/// The task process's own record, read once (UPDATE_VMA_MAP runs once per
/// mapping, in the task's process).
static LAYOUT: Mutex<Option<ProcessRecord>> = Mutex::new(None);

/// RESTORE_EXT_FILE: a stand-in for file `id` if the dump claimed it.
pub fn ext_file(id: u32) -> Result<Option<i32>, String> {
    let Some(text) = images::read(&record::file_name(id))? else {
        return Ok(None);
    };
    let text = String::from_utf8(text).map_err(|_| "bad file record")?;
    let rec = FileRecord::from_text(&text)?;
    // SAFETY: A NUL-terminated path; CRIU takes the fd.
    let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(format!(
            "open a stand-in for fd {} of process {}: {}",
            rec.fd,
            rec.pid,
            std::io::Error::last_os_error()
        ));
    }
    Ok(Some(fd))
}

fn own_record() -> Result<Option<ProcessRecord>, String> {
    let mut cached = LAYOUT.lock().unwrap_or_else(|e| e.into_inner());
    if cached.is_none() {
        let pid = std::process::id() as i32;
        if let Some(text) = images::read(&record::layout_name(pid))? {
            let text = String::from_utf8(text).map_err(|_| "bad layout record")?;
            *cached = Some(ProcessRecord::from_text(&text)?);
        }
    }
    Ok(cached.clone())
}

/// UPDATE_VMA_MAP: a stand-in for the ring mapped at `addr` from offset
/// `pgoff` of a uverbs file: (fd, new offset).
pub fn vma(path: &str, addr: u64, pgoff: u64) -> Result<Option<(i32, u64)>, String> {
    if !path.starts_with("/dev/infiniband/uverbs") {
        return Ok(None);
    }
    let Some(rec) = own_record()? else {
        return Ok(None);
    };
    let Some(&(_, size)) = rec.layout.rings.get(&pgoff).filter(|(a, _)| *a == addr) else {
        return Err(format!(
            "process {}: no ring at {addr:#x} (offset {pgoff:#x}) in its record",
            rec.pid
        ));
    };
    // SAFETY: A NUL-terminated name; the fd returned is CRIU's to map and
    // close.
    let fd = unsafe { libc::memfd_create(c"rxe-rs-ring".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: ftruncate of our fresh fd.
    if unsafe { libc::ftruncate(fd, size as libc::off_t) } != 0 {
        let e = std::io::Error::last_os_error();
        // SAFETY: Ours, not handed out.
        unsafe { libc::close(fd) };
        return Err(format!("size a ring's stand-in: {e}"));
    }
    Ok(Some((fd, 0)))
}

/// At init: checks every process image of the dump against the
/// destination; returns how many there are. The kernel does not keep what
/// a check stages: the restore proper checks again.
pub fn check_images() -> Result<usize, String> {
    let names = images::list(|n| record::image_pid(n).is_some())?;
    if names.is_empty() {
        return Err("the dump needs the plugin but holds no rxe-rs image (a damaged dump?)".into());
    }
    let mut all = Vec::new();
    for name in &names {
        let image = images::read(name)?.ok_or_else(|| format!("{name} went away"))?;
        rxe_ckpt::show::check(&image).map_err(|e| format!("{name}: {e}"))?;
        all.push((name, image));
    }
    let to = destination()?;
    let addr = source_addr()?;
    for (name, image) in all {
        let why = rxe_ckpt::check_with(&image, &to, addr).map_err(|e| format!("{name}: {e}"))?;
        if !why.is_empty() {
            return Err(format!(
                "{name} cannot be restored on {to}: {}",
                why.join("; ")
            ));
        }
    }
    Ok(names.len())
}

/// `RXE_CKPT_ADDR`: the source address the restored paths take.
fn source_addr() -> Result<Option<std::net::IpAddr>, String> {
    match std::env::var("RXE_CKPT_ADDR") {
        Ok(a) => Ok(Some(
            a.parse()
                .map_err(|_| format!("RXE_CKPT_ADDR: bad address {a}"))?,
        )),
        Err(_) => Ok(None),
    }
}

/// RESUME_DEVICES_LATE: restores task `pid`'s context, if it had one.
pub fn resume(pid: i32) -> Handled {
    let start = std::time::Instant::now();
    let Some(image) = images::read(&record::image_name(pid))? else {
        return Ok(false);
    };
    let text = images::read(&record::layout_name(pid))?
        .ok_or_else(|| format!("process {pid}: its layout record is missing"))?;
    let text = String::from_utf8(text).map_err(|_| "bad layout record")?;
    let rec = ProcessRecord::from_text(&text)?;
    let to = destination()?;
    let addr = source_addr()?;
    let p = Process::open(pid).map_err(|e| e.to_string())?;
    let t = Tracee::adopt(pid).map_err(|e| e.to_string())?;
    let r = rxe_ckpt::restore::restore_stopped(&t, &p, rec.fd, &rec.layout, &image, &to, addr)
        .map_err(|e| format!("process {pid}: restore on {to}: {e}"))?;
    abi::log(
        Level::Info,
        &format!(
            "process {pid}: {} objects on {to}, {} QPs resumed{}, in {} ms",
            r.objects,
            r.qps,
            if r.new_qpns.is_empty() {
                String::new()
            } else {
                format!(" ({} with new QPNs)", r.new_qpns.len())
            },
            start.elapsed().as_millis()
        ),
    );
    Ok(true)
}

/// The device to restore onto: `RXE_CKPT_TO`, or the only rxe-rs device.
fn destination() -> Result<String, String> {
    if let Ok(to) = std::env::var("RXE_CKPT_TO") {
        return Ok(to);
    }
    let mut found = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/sys/class/infiniband_verbs") {
        for e in entries.flatten() {
            let Ok(name) = std::fs::read_to_string(e.path().join("ibdev")) else {
                continue;
            };
            let name = name.trim().to_string();
            if Uverbs::open_device(&name).and_then(|u| u.query()).is_ok() {
                found.push(name);
            }
        }
    }
    match &found[..] {
        [one] => Ok(one.clone()),
        [] => Err("no rxe-rs device to restore onto".into()),
        many => Err(format!(
            "set RXE_CKPT_TO to the rxe-rs device to restore onto (one of {})",
            many.join(", ")
        )),
    }
}

/// Kills task `pid` whose restore failed: CRIU would let it run on with
/// stand-ins for its RDMA files.
pub fn kill(pid: i32) {
    // SAFETY: kill(pid, SIGKILL): no pointers.
    unsafe { libc::kill(pid, libc::SIGKILL) };
}
