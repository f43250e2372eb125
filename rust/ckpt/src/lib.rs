// SPDX-License-Identifier: GPL-2.0

//! rxe-ckpt: the userspace side of rxe-rs's live migration. It finds a
//! process's uverbs files, borrows them (`pidfd_getfd`), and calls the
//! driver's own methods on them (stop, resume, query, set the next
//! numbers); the dump, restore and move of a process build on these (see
//! docs/migration.md). The CLI (`rxe-ckpt`) is a thin layer over this
//! library, and so is to be the CRIU plugin.

pub mod cmd;
pub mod dirty;
pub mod error;
pub mod process;
pub mod ptrace;
pub mod restore;
pub mod show;
pub mod uverbs;

pub use error::Error;

use process::Process;

/// What the library's calls return.
pub type Result<T> = core::result::Result<T, Error>;

/// Refuses a process whose connections are the RDMA connection manager's.
fn no_rdma_cm(p: &Process) -> Result<()> {
    if p.uses_rdma_cm()? {
        return Err(Error::Usage(format!(
            "process {} uses the RDMA connection manager (rdma_cm): not supported yet",
            p.pid()
        )));
    }
    Ok(())
}

/// A dump of a process's RDMA state.
#[derive(Debug)]
pub struct Dump {
    /// The process's uverbs fd the image is of.
    pub fd: i32,
    /// QPs that the dump stopped (others were stopped already).
    pub stopped: u32,
    /// The checkpoint image.
    pub image: Vec<u8>,
}

/// Dumps the RDMA state of process `p`: stops its QPs, takes the image,
/// and, with `leave_running`, resumes them. One rxe-rs context per process
/// for now. On failure the QPs it stopped are resumed.
pub fn dump(p: &Process, leave_running: bool) -> Result<Dump> {
    no_rdma_cm(p)?;
    let files = p.uverbs()?;
    let [u] = &files[..] else {
        return Err(Error::Usage(format!(
            "process {} has {} RDMA contexts: only one is supported yet",
            p.pid(),
            files.len()
        )));
    };
    let events = p.event_files()?;
    let stopped = u.file.pause()?;
    let image = match u.file.dump(&events) {
        Ok(i) => i,
        Err(e) => {
            let _ = u.file.resume();
            return Err(e);
        }
    };
    if leave_running {
        u.file.resume()?;
    }
    Ok(Dump {
        fd: u.fd,
        stopped,
        image,
    })
}

/// Stops the QPs of every rxe-rs context of process `p`; returns how many.
/// All or nothing: if one context cannot be stopped, those stopped already
/// are resumed, and the error is returned.
pub fn pause(p: &Process) -> Result<u32> {
    no_rdma_cm(p)?;
    let files = p.uverbs()?;
    let mut n = 0;
    for (i, u) in files.iter().enumerate() {
        match u.file.pause() {
            Ok(k) => n += k,
            Err(e) => {
                for done in files.iter().take(i) {
                    let _ = done.file.resume();
                }
                return Err(e);
            }
        }
    }
    Ok(n)
}

/// Resumes the stopped QPs of every rxe-rs context of process `p`; returns
/// how many.
pub fn resume(p: &Process) -> Result<u32> {
    let mut n = 0;
    for u in p.uverbs()? {
        n += u.file.resume()?;
    }
    Ok(n)
}

/// Whether device `device` can host `image`: the reasons it cannot, each
/// one line (none: it can). A bad image is an error.
pub fn check(image: &[u8], device: &str) -> Result<Vec<String>> {
    check_with(image, device, None)
}

/// [`check`], the paths' source address being `addr` (for its family).
pub fn check_with(
    image: &[u8],
    device: &str,
    addr: Option<std::net::IpAddr>,
) -> Result<Vec<String>> {
    use rxe_proto::uapi;
    // The kernel checks the image whole too; checked here first, a bad one
    // is refused with the reason (RXE_CKPT_KERNEL_CHECK_ONLY=1 leaves it
    // to the kernel alone, to test that it refuses it).
    if std::env::var_os("RXE_CKPT_KERNEL_CHECK_ONLY").is_none() {
        show::check(image)?;
    }
    let u = uverbs::Uverbs::open_device(device)?;
    let sgid = uverbs::source_gids_for(device, addr)?;
    let a = u.stage(image, sgid, true)?;
    let mut why = Vec::new();
    let first = if a.first == rxe_proto::image::record::NO_HANDLE {
        String::new()
    } else {
        format!(" (first: object {})", a.first)
    };
    if a.conflicts & uapi::CONFLICT_FORMAT != 0 {
        why.push("the image is of another page size or CQ slot size (another architecture)".into());
    }
    if a.conflicts & uapi::CONFLICT_QPN != 0 {
        why.push(format!(
            "{} QP numbers are taken on {device}, and their peers cannot be told of new ones{first}",
            a.qpns_taken
        ));
    }
    if a.conflicts & uapi::CONFLICT_MRN != 0 {
        why.push(format!(
            "{} MR keys are taken on {device}{first}",
            a.mrns_taken
        ));
    }
    if a.conflicts & uapi::CONFLICT_AHN != 0 {
        why.push(format!(
            "{} AH numbers are taken on {device}{first}",
            a.ahns_taken
        ));
    }
    if a.conflicts & uapi::CONFLICT_MTU != 0 {
        why.push(format!(
            "{} QPs have a path MTU above {device}'s{first}",
            a.mtu_over
        ));
    }
    if a.conflicts & uapi::CONFLICT_ADDR != 0 {
        why.push(format!(
            "{device} has no RoCE v2 address of a family the image's paths use{first}"
        ));
    }
    Ok(why)
}

/// The one rxe-rs context of process `p`, for now the only kind handled
/// (a process using rdma_cm is refused).
pub fn one_context(p: &Process) -> Result<process::UverbsFile> {
    no_rdma_cm(p)?;
    let mut files = p.uverbs()?;
    if files.len() != 1 {
        return Err(Error::Usage(format!(
            "process {} has {} RDMA contexts: only one is supported yet",
            p.pid(),
            files.len()
        )));
    }
    files.pop().ok_or(Error::NoResources(p.pid()))
}

/// Restores `image`, a dump of process `p`'s context, into `p` on device
/// `to` (the process keeps running on its old context if this fails).
pub fn restore(
    p: &Process,
    image: &[u8],
    to: &str,
    addr: Option<std::net::IpAddr>,
) -> Result<restore::Restored> {
    let u = one_context(p)?;
    restore::restore(p, u.fd, &u.node, image, to, addr)
}

/// Moves process `p`'s RDMA state to device `to` (source address `addr`
/// for its family): dump, then restore. If the restore fails, the process
/// goes on where it was.
pub fn move_to(p: &Process, to: &str, addr: Option<std::net::IpAddr>) -> Result<restore::Restored> {
    uverbs::uverbs_node(to)?;
    uverbs::source_gids_for(to, addr)?;
    let u = one_context(p)?;
    // The process stops before the dump: what it did with its queues
    // between the dump and the commit (a WQE posted to the old ring, a
    // completion taken from it) would be lost.
    let t = ptrace::Tracee::attach(p.pid())?;
    let start = std::time::Instant::now();
    let layout = restore::Layout::of_process(p.pid(), &u.node)?;
    let d = dump(p, false)?;
    match restore::restore_stopped(&t, p, u.fd, &layout, &d.image, to, addr) {
        Ok(mut r) => {
            r.stopped = Some(start.elapsed());
            Ok(r)
        }
        Err(e) => {
            let _ = u.file.resume();
            Err(e)
        }
    }
}
