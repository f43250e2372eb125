// SPDX-License-Identifier: GPL-2.0

//! The restore of a checkpoint image into a running process, on another
//! (or the same) rxe-rs device, with the process stopped throughout:
//!
//! 1. In the process: open the destination's uverbs device and make a
//!    context (its own file, under its own credentials).
//! 2. Here, on a borrowed copy of that file: stage the image (the kernel
//!    checks it whole, and against the device).
//! 3. In the process, in handle order: completion channels, then every
//!    object with the ordinary verbs commands (PDs fill the handle gaps);
//!    the kernel gives each its identity and state from the stage.
//! 4. In the process: destroy the gap PDs. Here: RESUME, which ends the
//!    restore (the context holds exactly the image's objects) and resumes
//!    the QPs.
//! 5. The commit, in the process: map each new ring over the old one's
//!    address, and move the new files onto the old fd numbers (uverbs file,
//!    async event file, completion channels). The old context goes with
//!    its last file reference.
//!
//! Up to the commit, a failure closes what was made and leaves the process
//! on its old context, untouched.

use std::{collections::BTreeMap, fs};

use rxe_proto::image::{
    record::{self, decode, Kind},
    Image,
};

use crate::{
    cmd::{self, Cmd},
    process::Process,
    ptrace::{map_range, Tracee},
    uverbs::{self, Uverbs},
    Error, Result,
};

/// What a restore did.
#[derive(Debug, Default)]
pub struct Restored {
    /// Objects made.
    pub objects: u32,
    /// QPs resumed.
    pub qps: u32,
    /// QPs that took a new number: (old, new).
    pub new_qpns: Vec<(u32, u32)>,
    /// The image's bytes.
    pub image_bytes: usize,
    /// For a move: how long it took, from the pause to the end of the
    /// commit (the process is stopped throughout).
    pub stopped: Option<std::time::Duration>,
}

/// A ring to map at its old address: the old offset, the new one, size.
struct Ring {
    old_offset: u64,
    new_offset: u64,
    size: u64,
}

/// Scratch memory in the process, for commands and their answers.
const SCRATCH: u64 = 1 << 16;

/// The process side of a restore: the tracee, and the scratch memory.
struct Inside<'a> {
    t: &'a Tracee,
    scratch: u64,
    pid: i32,
}

impl Inside<'_> {
    /// Runs a uverbs command on fd `fd` in the process; its answer.
    fn run(&self, fd: u64, what: &str, c: Cmd) -> Result<Vec<u8>> {
        let resp = self.scratch + SCRATCH / 2;
        // The command's `response` field is its first 8 bytes after the
        // header, for every command with an answer.
        let mut bytes = c.bytes;
        if c.resp_len > 0 {
            if let Some(f) = bytes.get_mut(8..16) {
                f.copy_from_slice(&resp.to_le_bytes());
            }
        }
        self.t.write(self.scratch, &bytes)?;
        self.t.call(
            what,
            libc::SYS_write,
            &[fd, self.scratch, bytes.len() as u64],
        )?;
        let mut out = vec![0u8; c.resp_len];
        self.t.read(resp, &mut out)?;
        Ok(out)
    }

    fn close(&self, fd: u64) {
        let _ = self.t.syscall(libc::SYS_close, &[fd]);
    }
}

/// The fds a restore made in the process, closed if it fails before its
/// commit.
#[derive(Default)]
struct Made {
    cmd_fd: Option<u64>,
    async_fd: Option<u64>,
    /// Old channel fd to new.
    channels: BTreeMap<u32, u64>,
}

impl Made {
    fn close_all(&self, inside: &Inside<'_>) {
        for &fd in self.channels.values() {
            inside.close(fd);
        }
        if let Some(fd) = self.async_fd {
            inside.close(fd);
        }
        if let Some(fd) = self.cmd_fd {
            inside.close(fd);
        }
    }
}

/// What a restore needs to know of the process besides the image: where
/// its old rings are mapped, and its files' flags. Read from the live
/// process for a move; for a process CRIU re-created (its ring mappings
/// and files stand-ins), recorded at the dump.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Old ring offset in the uverbs file to (address, size).
    pub rings: BTreeMap<u64, (u64, u64)>,
    /// fd number to its flags (`/proc/PID/fdinfo`'s: the file's status
    /// flags and the descriptor's `O_CLOEXEC`).
    pub flags: BTreeMap<u32, u32>,
}

impl Layout {
    /// Process `pid`'s layout: its mappings of uverbs file `node`, and the
    /// flags of its files.
    pub fn of_process(pid: i32, node: &str) -> Result<Self> {
        let dir = format!("/proc/{pid}/fd");
        let entries = fs::read_dir(&dir).map_err(|_| Error::NoProcess(pid))?;
        let flags = entries
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
            .map(|fd| (fd, fd_flags(pid, fd)))
            .collect();
        Ok(Layout {
            rings: ring_maps(pid, node)?,
            flags,
        })
    }

    fn flags_of(&self, fd: u32) -> u32 {
        self.flags.get(&fd).copied().unwrap_or(0)
    }
}

/// The old rings' mappings in process `pid`: offset in the uverbs file
/// `node` to (address, size).
fn ring_maps(pid: i32, node: &str) -> Result<BTreeMap<u64, (u64, u64)>> {
    let maps =
        fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|_| Error::NoProcess(pid))?;
    let mut out = BTreeMap::new();
    for l in maps.lines().filter(|l| l.ends_with(node)) {
        let Some((start, end)) = map_range(l) else {
            continue;
        };
        let Some(off) = l
            .split_whitespace()
            .nth(2)
            .and_then(|o| u64::from_str_radix(o, 16).ok())
        else {
            continue;
        };
        out.insert(off, (start, end - start));
    }
    Ok(out)
}

/// The flags of fd `fd` of process `pid` (its file's status flags, and
/// `O_CLOEXEC` for the descriptor's own), as `/proc` shows them.
fn fd_flags(pid: i32, fd: u32) -> u32 {
    fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .and_then(|f| u32::from_str_radix(f.trim(), 8).ok())
        })
        .unwrap_or(0)
}

/// Restores `image`, a dump of the context on process `p`'s uverbs fd
/// `old_fd` (device node `old_node`), into `p` on device `to`, restored
/// paths taking the source address `addr` (for that family; else the
/// device's first of each family). The process is stopped for it; the
/// image must still be what its context is (see [`unchanged`]).
pub fn restore(
    p: &Process,
    old_fd: i32,
    old_node: &str,
    image: &[u8],
    to: &str,
    addr: Option<std::net::IpAddr>,
) -> Result<Restored> {
    // What the image and the device say first, before the process stops.
    hostable(image, to, addr)?;
    let t = Tracee::attach(p.pid())?;
    unchanged(p, image)?;
    let layout = Layout::of_process(p.pid(), old_node)?;
    restore_stopped(&t, p, old_fd, &layout, image, to, addr)
}

/// `image` is whole and device `to` can host it.
fn hostable(image: &[u8], to: &str, addr: Option<std::net::IpAddr>) -> Result<()> {
    crate::show::check(image)?;
    match crate::check_with(image, to, addr)?.first() {
        Some(w) => Err(Error::Usage(format!("{to} cannot host the image: {w}"))),
        None => Ok(()),
    }
}

/// Whether process `p`'s context is still what `image` says: a process
/// that went on using its queues after the dump (a WQE posted to a ring
/// of a stopped QP, a completion taken from a CQ) would lose that in the
/// restore. The process is stopped; its QPs must be too.
fn unchanged(p: &Process, image: &[u8]) -> Result<()> {
    let u = crate::one_context(p)?;
    let now = u.file.dump(&p.event_files()?).map_err(|e| match e {
        Error::Usage(m) if m.contains("not all stopped") => Error::Usage(format!(
            "process {}: its QPs run again since the image was taken (dump again)",
            p.pid()
        )),
        other => other,
    })?;
    if now != image {
        return Err(Error::Usage(format!(
            "process {}: it used its RDMA queues or objects since the image was taken; \
             dump again with the process stopped, or use move",
            p.pid()
        )));
    }
    Ok(())
}

/// [`restore`] with process `p` already stopped by `t` (a move stops it
/// before its dump, so that nothing it does comes between the two).
pub fn restore_stopped(
    t: &Tracee,
    p: &Process,
    old_fd: i32,
    layout: &Layout,
    image: &[u8],
    to: &str,
    addr: Option<std::net::IpAddr>,
) -> Result<Restored> {
    let img = Image::parse(image).map_err(Error::Image)?;
    hostable(image, to, addr)?;
    let maps = &layout.rings;
    let new_node = format!("/dev/infiniband/{}", uverbs::uverbs_node(to)?);
    let sgid = uverbs::source_gids_for(to, addr)?;

    let scratch = t.call(
        "map scratch memory",
        libc::SYS_mmap,
        &[
            0,
            SCRATCH,
            (libc::PROT_READ | libc::PROT_WRITE) as u64,
            (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
            u64::MAX,
            0,
        ],
    )?;
    let inside = Inside {
        t,
        scratch,
        pid: p.pid(),
    };
    let mut made = Made::default();
    let res = (|| {
        let (rings, restored) = make(&inside, p, &img, image, &new_node, &sgid, maps, &mut made)?;
        commit(&inside, &img, old_fd, &rings, layout, &made)?;
        Ok(restored)
    })();
    if res.is_err() {
        made.close_all(&inside);
    }
    let _ = t.syscall(libc::SYS_munmap, &[scratch, SCRATCH]);
    res
}

/// Steps 1 to 4: the new context, its objects, RESUME.
#[allow(clippy::too_many_arguments)]
fn make(
    inside: &Inside<'_>,
    p: &Process,
    img: &Image<'_>,
    image: &[u8],
    new_node: &str,
    sgid: &[u32; 2],
    maps: &BTreeMap<u64, (u64, u64)>,
    made: &mut Made,
) -> Result<(Vec<Ring>, Restored)> {
    let t = inside.t;
    // 1. The new file and context, the process's own.
    let mut path = new_node.as_bytes().to_vec();
    path.push(0);
    t.write(inside.scratch, &path)?;
    let fd = t.call(
        &format!("open {new_node}"),
        libc::SYS_openat,
        &[
            libc::AT_FDCWD as u64,
            inside.scratch,
            (libc::O_RDWR | libc::O_CLOEXEC) as u64,
        ],
    )?;
    made.cmd_fd = Some(fd);
    let ctx = inside.run(fd, "get a context", cmd::get_context(0))?;
    made.async_fd = Some(u64::from(cmd::u32_at(&ctx, 0)));

    // 2. The stage, on our copy of the file.
    let file = Uverbs::from_fd(
        p.borrow(fd as i32)?,
        format!("process {} fd {fd} ({new_node})", p.pid()),
    );
    let a = file.stage(image, *sgid, false)?;
    if a.conflicts != 0 {
        return Err(Error::Usage(format!(
            "{new_node}: the device cannot host the image (conflicts {:#x}); see rxe-ckpt check",
            a.conflicts
        )));
    }

    // 3. Channels, then the objects in handle order.
    let mut out = Restored {
        image_bytes: image.len(),
        ..Restored::default()
    };
    let mut renumbered = Vec::new();
    let mut rings = Vec::new();
    let mut gaps = Vec::new();
    let mut next = 0u32;
    for r in img.records() {
        let Some(kind) = Kind::from_u16(r.kind) else {
            continue;
        };
        let bad = |_| Error::Usage("bad image record".into());
        let handle = match kind {
            Kind::Pd => decode::<record::Pd>(r.payload, kind).map_err(bad)?.handle,
            Kind::Cq => decode::<record::Cq>(r.payload, kind).map_err(bad)?.handle,
            Kind::Srq => decode::<record::Srq>(r.payload, kind).map_err(bad)?.handle,
            Kind::Mr => decode::<record::Mr>(r.payload, kind).map_err(bad)?.handle,
            Kind::Ah => decode::<record::Ah>(r.payload, kind).map_err(bad)?.handle,
            Kind::Qp => decode::<record::Qp>(r.payload, kind).map_err(bad)?.handle,
            _ => continue,
        };
        while next < handle {
            let h = cmd::u32_at(
                &inside.run(fd, "make a PD for a handle gap", cmd::alloc_pd(0))?,
                0,
            );
            if h != next {
                return Err(handle_err(next, h));
            }
            gaps.push(h);
            next += 1;
        }
        let got = match kind {
            Kind::Pd => cmd::u32_at(&inside.run(fd, "make a PD", cmd::alloc_pd(0))?, 0),
            Kind::Cq => {
                let c: record::Cq = decode(r.payload, kind).map_err(bad)?;
                let channel = match c.channel {
                    record::NO_FD => -1,
                    old => channel_fd(inside, fd, old, made)? as i32,
                };
                let resp = inside.run(
                    fd,
                    "make a CQ",
                    cmd::create_cq(0, c.user_handle, c.ring.capacity, c.comp_vector, channel),
                )?;
                rings.push(ring(&c.ring, &resp, 8)?);
                cmd::u32_at(&resp, 0)
            }
            Kind::Srq => {
                let s: record::Srq = decode(r.payload, kind).map_err(bad)?;
                let resp = inside.run(
                    fd,
                    "make an SRQ",
                    cmd::create_srq(0, s.user_handle, s.pd, s.ring.capacity, s.max_sge, s.limit),
                )?;
                rings.push(ring(&s.ring, &resp, 16)?);
                cmd::u32_at(&resp, 0)
            }
            Kind::Mr => {
                let m: record::Mr = decode(r.payload, kind).map_err(bad)?;
                let resp = inside.run(
                    fd,
                    "register an MR",
                    cmd::reg_mr(0, m.start, m.length, m.iova, m.pd, m.access),
                )?;
                if (cmd::u32_at(&resp, 4), cmd::u32_at(&resp, 8)) != (m.lkey, m.rkey) {
                    return Err(Error::Usage(format!(
                        "the MR of handle {} did not get its keys back",
                        m.handle
                    )));
                }
                cmd::u32_at(&resp, 0)
            }
            Kind::Ah => {
                let a: record::Ah = decode(r.payload, kind).map_err(bad)?;
                let path = cmd::AhPath {
                    dgid: a.path.dgid,
                    flow_label: a.path.flow_label,
                    sgid_index: sgid[usize::from(a.path.ipv6 == 1)] as u8,
                    hop_limit: a.path.hop_limit,
                    traffic_class: a.path.traffic_class,
                    sl: a.path.sl,
                };
                let resp = inside.run(fd, "make an AH", cmd::create_ah(0, 0, a.pd, &path))?;
                cmd::u32_at(&resp, 0)
            }
            Kind::Qp => {
                let q: record::Qp = decode(r.payload, kind).map_err(bad)?;
                let init = cmd::QpInit {
                    user_handle: q.user_handle,
                    pd: q.pd,
                    send_cq: q.send_cq,
                    recv_cq: q.recv_cq,
                    srq: q.srq,
                    max_send_wr: q.sq.capacity,
                    max_recv_wr: q.rq.capacity,
                    max_send_sge: q.sq_max_sge,
                    max_recv_sge: q.rq_max_sge,
                    max_inline: q.sq_max_inline,
                    sig_all: q.flags & record::QP_SIG_ALL != 0,
                    qp_type: q.qp_type,
                };
                let resp = inside.run(fd, "make a QP", cmd::create_qp(0, &init))?;
                let qpn = cmd::u32_at(&resp, 4);
                if qpn != q.qpn {
                    out.new_qpns.push((q.qpn, qpn));
                    renumbered.push((q.user_handle, q.handle, q.qpn, qpn));
                }
                // The driver's answer: the RQ's mminfo, then the SQ's.
                rings.push(ring(&q.rq, &resp, 32)?);
                rings.push(ring(&q.sq, &resp, 48)?);
                cmd::u32_at(&resp, 0)
            }
            _ => continue,
        };
        if got != handle {
            return Err(handle_err(handle, got));
        }
        out.objects += 1;
        next = handle + 1;
    }
    // Every ring the process mapped (the provider does not map the RQ of a
    // QP on an SRQ) has a mapping of its size to take over.
    let pages = |n: u64| n.div_ceil(4096) * 4096;
    if let Some(r) = rings.iter().find(|r| {
        maps.get(&r.old_offset)
            .is_some_and(|m| m.1 != pages(r.size))
    }) {
        return Err(Error::Usage(format!(
            "process {}: the mapping at offset {:#x} of its uverbs file is not the ring's size",
            inside.pid, r.old_offset
        )));
    }

    // 4. The gaps' PDs go; RESUME ends the restore.
    for h in gaps {
        inside.run(fd, "destroy a gap's PD", cmd::dealloc_pd(h))?;
    }
    out.qps = file.resume()?;
    for (user, handle, old, new) in renumbered {
        renumber(inside, user, handle, old, new);
    }
    Ok((rings, out))
}

/// Where `struct ibv_qp` (libibverbs' public ABI) keeps its uverbs handle
/// and its QP number, after six pointers.
const IBV_QP_HANDLE_AT: u64 = 48;

/// Tells the process's libibverbs of a QP's new number: its `ibv_qp`, whose
/// address libibverbs gives the kernel as the QP's user handle, gets it
/// where the process reads `qp->qp_num`. Only if that is what the memory
/// there holds (the QP's handle and old number): another library's user
/// handle is left alone.
fn renumber(inside: &Inside<'_>, user: u64, handle: u32, old: u32, new: u32) {
    let Some(at) = user.checked_add(IBV_QP_HANDLE_AT) else {
        return;
    };
    let mut b = [0u8; 8];
    if inside.t.read(at, &mut b).is_err() {
        return;
    }
    if cmd::u32_at(&b, 0) == handle && cmd::u32_at(&b, 4) == old {
        let _ = inside.t.write(at + 4, &new.to_le_bytes());
    }
}

/// The new fd of completion channel `old` (made on first use).
fn channel_fd(inside: &Inside<'_>, fd: u64, old: u32, made: &mut Made) -> Result<u64> {
    if let Some(&n) = made.channels.get(&old) {
        return Ok(n);
    }
    let resp = inside.run(fd, "make a completion channel", cmd::create_comp_channel(0))?;
    let n = u64::from(cmd::u32_at(&resp, 0));
    made.channels.insert(old, n);
    Ok(n)
}

/// A ring's old and new places, from a create's answer with the driver's
/// `mminfo` at byte `at`.
fn ring(info: &record::RingInfo, resp: &[u8], at: usize) -> Result<Ring> {
    let new_offset = cmd::u64_at(resp, at);
    let size = u64::from(cmd::u32_at(resp, at + 8));
    if size != u64::from(info.mmap_size) {
        return Err(Error::Usage(format!(
            "a restored ring is {size} bytes, not {}",
            info.mmap_size
        )));
    }
    Ok(Ring {
        old_offset: info.mmap_offset,
        new_offset,
        size,
    })
}

fn handle_err(want: u32, got: u32) -> Error {
    Error::Usage(format!(
        "the restored object took handle {got}, not {want} (the process made objects meanwhile?)"
    ))
}

/// Step 5: the new rings over the old ones, the new files on the old fd
/// numbers.
fn commit(
    inside: &Inside<'_>,
    img: &Image<'_>,
    old_fd: i32,
    rings: &[Ring],
    layout: &Layout,
    made: &Made,
) -> Result<()> {
    let t = inside.t;
    let fd = made.cmd_fd.ok_or(Error::Usage("no new file".into()))?;
    for r in rings {
        let Some(&(addr, _)) = layout.rings.get(&r.old_offset) else {
            continue;
        };
        t.call(
            "map a restored ring",
            libc::SYS_mmap,
            &[
                addr,
                r.size,
                (libc::PROT_READ | libc::PROT_WRITE) as u64,
                (libc::MAP_SHARED | libc::MAP_FIXED) as u64,
                fd,
                r.new_offset,
            ],
        )?;
    }
    let ctx = crate::show::context_of(img)?;
    // The new file takes the old one's place with its flags: close-on-exec
    // (the descriptor's), and non-blocking (the file's: an event loop's
    // completion channel read with O_NONBLOCK must not start blocking).
    let onto = |new: u64, old: u32| -> Result<()> {
        let flags = layout.flags_of(old);
        let cloexec = flags & libc::O_CLOEXEC as u32;
        t.call(
            "move a file onto its old fd",
            libc::SYS_dup3,
            &[new, u64::from(old), u64::from(cloexec)],
        )?;
        inside.close(new);
        if flags & libc::O_NONBLOCK as u32 != 0 {
            t.call(
                "make a moved file non-blocking",
                libc::SYS_fcntl,
                &[
                    u64::from(old),
                    libc::F_SETFL as u64,
                    libc::O_NONBLOCK as u64,
                ],
            )?;
        }
        Ok(())
    };
    for (&old, &new) in &made.channels {
        onto(new, old)?;
    }
    if let Some(a) = made.async_fd {
        if ctx.async_fd != record::NO_FD {
            onto(a, ctx.async_fd)?;
        } else {
            inside.close(a);
        }
    }
    onto(fd, old_fd as u32)
}
