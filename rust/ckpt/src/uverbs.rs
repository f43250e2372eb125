// SPDX-License-Identifier: GPL-2.0

//! A uverbs file, and the rxe-rs driver's own methods called on it through
//! `RDMA_VERBS_IOCTL` (the ABI is `rxe_proto::uapi`). The file is either
//! borrowed from a process (`pidfd_getfd`: the methods then act on that
//! process's user context) or opened here on a device, with a context of
//! its own (for device-wide settings).

use std::{
    fs,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::Path,
};

use rxe_proto::{
    image::record::Field,
    uapi::{self, DumpIn, DumpOut, FdPair, MigIn, MigOut, QueryOut, SetNextIn, StageIn, StageOut},
};

use crate::{Error, Result};

/// `_IOWR(0x1b, 1, struct ib_uverbs_ioctl_hdr)`.
const RDMA_VERBS_IOCTL: libc::c_ulong = 0xc018_1b01;
/// `UVERBS_ATTR_F_MANDATORY`.
const ATTR_F_MANDATORY: u16 = 1;
/// `IB_USER_VERBS_CMD_GET_CONTEXT`.
const CMD_GET_CONTEXT: u32 = 0;

/// `struct ib_uverbs_ioctl_hdr`.
#[repr(C)]
struct IoctlHdr {
    length: u16,
    object_id: u16,
    method_id: u16,
    num_attrs: u16,
    reserved1: u64,
    driver_id: u32,
    reserved2: u32,
}

/// `struct ib_uverbs_attr`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct Attr {
    attr_id: u16,
    len: u16,
    flags: u16,
    attr_data: u16,
    data: u64,
}

/// An ioctl with an input and an output attribute.
#[repr(C)]
struct Call {
    hdr: IoctlHdr,
    attrs: [Attr; 2],
}

/// A uverbs file with a user context.
#[derive(Debug)]
pub struct Uverbs {
    fd: OwnedFd,
    /// What it is, for messages: "process 123 fd 4", "device rxe0".
    what: String,
}

impl Uverbs {
    /// A uverbs file borrowed from a process, or opened here with a
    /// context; `what` names it in messages.
    pub fn from_fd(fd: OwnedFd, what: String) -> Self {
        Uverbs { fd, what }
    }

    /// What it is, for messages.
    pub fn what(&self) -> &str {
        &self.what
    }

    /// Opens the uverbs device of the RDMA device `name` and makes a user
    /// context on it (the methods act on the caller's context).
    pub fn open_device(name: &str) -> Result<Self> {
        let node = uverbs_node(name)?;
        let path = format!("/dev/infiniband/{node}");
        let c = std::ffi::CString::new(path.clone()).map_err(|_| Error::NoDevice(name.into()))?;
        // SAFETY: A NUL-terminated path; the fd returned is ours.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if fd < 0 {
            return Err(Error::last(format!("open {path}")));
        }
        // SAFETY: A fresh fd nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        get_context(&fd).map_err(|e| match e {
            Error::Sys(_, io) => Error::Sys(format!("device {name}: make a user context"), io),
            other => other,
        })?;
        Ok(Uverbs {
            fd,
            what: format!("device {name}"),
        })
    }

    /// Calls driver method `method` with `input`, its answer into `out`.
    fn call(&self, method: u16, input: &[u8], out: &mut [u8]) -> std::io::Result<()> {
        let mut c = Call {
            hdr: IoctlHdr {
                length: core::mem::size_of::<Call>() as u16,
                object_id: uapi::OBJECT_DEVICE,
                method_id: method,
                num_attrs: if out.is_empty() { 1 } else { 2 },
                reserved1: 0,
                driver_id: uapi::DRIVER_ID,
                reserved2: 0,
            },
            attrs: [Attr::default(); 2],
        };
        c.attrs[0] = Attr {
            attr_id: uapi::ATTR_IN,
            len: input.len() as u16,
            flags: ATTR_F_MANDATORY,
            attr_data: 0,
            data: input.as_ptr() as u64,
        };
        c.attrs[1] = Attr {
            attr_id: uapi::ATTR_OUT,
            len: out.len() as u16,
            flags: ATTR_F_MANDATORY,
            attr_data: 0,
            data: out.as_mut_ptr() as u64,
        };
        if out.is_empty() {
            c.hdr.length -= core::mem::size_of::<Attr>() as u16;
        }
        // SAFETY: `c` is a complete ioctl header with its attributes; the
        // pointers in them are live buffers of the lengths given (inputs
        // of more than 8 bytes are passed by pointer).
        let r = unsafe { libc::ioctl(self.fd.as_raw_fd(), RDMA_VERBS_IOCTL, &mut c as *mut Call) };
        if r < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// Calls `method` with a [`MigIn`] of no flags, answered in a `T`.
    fn call_mig<T: Field>(&self, method: u16, name: &str) -> Result<T> {
        let input: [u8; MigIn::LEN] = uapi::to_bytes(&MigIn::default());
        let mut out = vec![0u8; T::SIZE];
        self.call(method, &input, &mut out)
            .map_err(|e| Error::sys(format!("{} of {}", name, self.what), e))?;
        uapi::from_bytes(&out).ok_or_else(|| Error::Usage("short answer".into()))
    }

    /// What the device can host, and where its numbers stand.
    pub fn query(&self) -> Result<QueryOut> {
        self.call_mig(uapi::METHOD_QUERY, "query")
    }

    /// Stops the QPs of the context; returns how many.
    pub fn pause(&self) -> Result<u32> {
        self.call_mig::<MigOut>(uapi::METHOD_PAUSE, "pause")
            .map(|o| o.qps)
    }

    /// Resumes the stopped QPs of the context; returns how many.
    pub fn resume(&self) -> Result<u32> {
        self.call_mig::<MigOut>(uapi::METHOD_RESUME, "resume")
            .map(|o| o.qps)
    }

    /// One DUMP call: into `buf` (or only the size, if it is empty).
    fn dump_into(&self, buf: &mut [u8], fds: &[u8]) -> std::io::Result<DumpOut> {
        let i = DumpIn {
            buf: if buf.is_empty() {
                0
            } else {
                buf.as_mut_ptr() as u64
            },
            len: buf.len() as u64,
            nfds: (fds.len() / FdPair::LEN) as u32,
            fds: fds.as_ptr() as u64,
            ..Default::default()
        };
        let input: [u8; DumpIn::LEN] = uapi::to_bytes(&i);
        let mut out = [0u8; DumpOut::LEN];
        self.call(uapi::METHOD_DUMP, &input, &mut out)?;
        uapi::from_bytes(&out).ok_or_else(|| std::io::Error::from_raw_os_error(libc::EPROTO))
    }

    /// The checkpoint image of the context, whose QPs are stopped. `fds`:
    /// the process's event files, as their numbers there and our copies
    /// (see [`crate::process::Process::event_files`]).
    pub fn dump(&self, fds: &[(u32, OwnedFd)]) -> Result<Vec<u8>> {
        if fds.len() > uapi::DUMP_FDS_MAX as usize {
            return Err(Error::Usage(format!(
                "dump of {}: the process has more than {} uverbs event files",
                self.what,
                uapi::DUMP_FDS_MAX
            )));
        }
        let fds: Vec<u8> = fds
            .iter()
            .flat_map(|(n, f)| {
                let p = FdPair {
                    proc_fd: *n,
                    own_fd: f.as_raw_fd() as u32,
                };
                uapi::to_bytes::<FdPair, { FdPair::LEN }>(&p)
            })
            .collect();
        let err = |e: std::io::Error| match e.raw_os_error() {
            Some(libc::EBUSY) => Error::Usage(format!(
                "dump of {}: its QPs are not all stopped (pause first)",
                self.what
            )),
            Some(libc::EBADF) => Error::Usage(format!(
                "dump of {}: a CQ's completion channel is not among the process's open files",
                self.what
            )),
            _ => Error::sys(format!("dump of {}", self.what), e),
        };
        // The size, then the image; if the context grew in between (the
        // process made objects), once more.
        for _ in 0..3 {
            let size = self.dump_into(&mut [], &fds).map_err(err)?;
            let len =
                usize::try_from(size.len).map_err(|_| Error::Usage("image too large".into()))?;
            let mut buf = vec![0u8; len];
            match self.dump_into(&mut buf, &fds) {
                Ok(out) if out.len == size.len => return Ok(buf),
                Ok(_) => continue,
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => continue,
                Err(e) => return Err(err(e)),
            }
        }
        Err(Error::Usage(format!(
            "dump of {}: the process keeps changing its RDMA objects",
            self.what
        )))
    }

    /// Hands the kernel `image` for this context, restored paths taking
    /// their source addresses from GID indexes `sgid` (IPv4, IPv6); with
    /// `check_only`, only checks it against the device. The answer says
    /// what stands in the way; a bad image is an error.
    pub fn stage(&self, image: &[u8], sgid: [u32; 2], check_only: bool) -> Result<StageOut> {
        let i = StageIn {
            flags: if check_only { uapi::STAGE_CHECK } else { 0 },
            sgid4: sgid[0],
            sgid6: sgid[1],
            reserved: 0,
            buf: image.as_ptr() as u64,
            len: image.len() as u64,
        };
        let input: [u8; StageIn::LEN] = uapi::to_bytes(&i);
        let mut out = [0u8; StageOut::LEN];
        let r = self.call(uapi::METHOD_STAGE, &input, &mut out);
        let answer = uapi::from_bytes::<StageOut>(&out)
            .ok_or_else(|| Error::Usage("short answer".into()))?;
        match r {
            Ok(()) => Ok(answer),
            // Conflicts: the answer says which.
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Ok(answer),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => Err(Error::Usage(format!(
                "{}: the kernel refused the image as invalid (see the kernel log)",
                self.what
            ))),
            Err(e) => Err(Error::sys(format!("stage on {}", self.what), e)),
        }
    }

    /// Sets the numbers the device's next QP and MR take.
    pub fn set_next(&self, qpn: Option<u32>, mrn: Option<u32>) -> Result<()> {
        let mut i = SetNextIn::default();
        if let Some(q) = qpn {
            i.flags |= uapi::SET_NEXT_QPN;
            i.qpn = q;
        }
        if let Some(m) = mrn {
            i.flags |= uapi::SET_NEXT_MRN;
            i.mrn = m;
        }
        let input: [u8; SetNextIn::LEN] = uapi::to_bytes(&i);
        self.call(uapi::METHOD_SET_NEXT, &input, &mut [])
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EINVAL) => Error::Usage(format!(
                    "set-next on {}: number out of the device's range",
                    self.what
                )),
                _ => Error::sys(format!("set-next on {}", self.what), e),
            })
    }
}

/// The RoCE v2 GIDs of port 1 of device `name`, by index, as sysfs writes
/// them (eight groups of four hex digits), in index order.
fn roce_gids(name: &str) -> Vec<(u32, String)> {
    let port = Path::new("/sys/class/infiniband")
        .join(name)
        .join("ports/1");
    let Ok(entries) = fs::read_dir(port.join("gids")) else {
        return Vec::new();
    };
    let mut found: Vec<(u32, String)> = entries
        .flatten()
        .filter_map(|e| {
            let i = e.file_name().to_str()?.parse::<u32>().ok()?;
            let kind = fs::read_to_string(port.join("gid_attrs/types").join(i.to_string())).ok()?;
            if kind.trim() != "RoCE v2" {
                return None;
            }
            let gid = fs::read_to_string(e.path()).ok()?.trim().to_string();
            (!gid.chars().all(|c| c == '0' || c == ':')).then_some((i, gid))
        })
        .collect();
    found.sort();
    found
}

/// Whether a GID as sysfs writes it is an IPv4-mapped one.
fn is_v4(gid: &str) -> bool {
    gid.starts_with("0000:0000:0000:0000:0000:ffff:")
}

/// The GID of an IP address, as sysfs writes it.
fn gid_of(addr: std::net::IpAddr) -> String {
    let b = match addr {
        std::net::IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        std::net::IpAddr::V6(a) => a.octets(),
    };
    b.chunks(2)
        .map(|c| format!("{:02x}{:02x}", c[0], c[1]))
        .collect::<Vec<_>>()
        .join(":")
}

/// The GID indexes of port 1 of device `name` that restored paths take
/// their source address from, IPv4 and IPv6 (`u32::MAX`: none): those of
/// `addr` for its family, the first RoCE v2 GID of a family otherwise.
pub fn source_gids_for(name: &str, addr: Option<std::net::IpAddr>) -> Result<[u32; 2]> {
    let mut out = [u32::MAX; 2];
    let gids = roce_gids(name);
    for (i, gid) in &gids {
        let slot = &mut out[usize::from(!is_v4(gid))];
        if *slot == u32::MAX {
            *slot = *i;
        }
    }
    if let Some(a) = addr {
        let want = gid_of(a);
        let (i, _) = gids
            .iter()
            .find(|(_, g)| *g == want)
            .ok_or_else(|| Error::Usage(format!("device {name} has no RoCE v2 address {a}")))?;
        out[usize::from(a.is_ipv6())] = *i;
    }
    Ok(out)
}

/// The first RoCE v2 GID index of port 1 of device `name` for IPv4 and
/// for IPv6 (`u32::MAX`: none).
pub fn source_gids(name: &str) -> [u32; 2] {
    source_gids_for(name, None).unwrap_or([u32::MAX; 2])
}

/// The uverbs node (`uverbsN`) of the RDMA device `name`.
pub fn uverbs_node(name: &str) -> Result<String> {
    let dir = Path::new("/sys/class/infiniband_verbs");
    let entries = fs::read_dir(dir).map_err(|_| Error::NoDevice(name.into()))?;
    for e in entries.flatten() {
        let ibdev = fs::read_to_string(e.path().join("ibdev")).unwrap_or_default();
        if ibdev.trim() == name {
            return Ok(e.file_name().to_string_lossy().into_owned());
        }
    }
    Err(Error::NoDevice(name.into()))
}

/// Makes the user context of a freshly opened uverbs file
/// (`IB_USER_VERBS_CMD_GET_CONTEXT`, through `write()`: the file is ours).
fn get_context(fd: &OwnedFd) -> Result<()> {
    let mut resp = [0u32; 2];
    let mut cmd = [0u8; 16];
    cmd[0..4].copy_from_slice(&CMD_GET_CONTEXT.to_ne_bytes());
    cmd[4..6].copy_from_slice(&4u16.to_ne_bytes());
    cmd[6..8].copy_from_slice(&2u16.to_ne_bytes());
    cmd[8..16].copy_from_slice(&(resp.as_mut_ptr() as u64).to_ne_bytes());
    // SAFETY: A complete command of `cmd.len()` bytes whose response
    // pointer is `resp`, 8 bytes, live across the call.
    let n = unsafe { libc::write(fd.as_raw_fd(), cmd.as_ptr().cast(), cmd.len()) };
    if n < 0 {
        return Err(Error::last("get context"));
    }
    // The context's async event fd: not needed here.
    // SAFETY: The kernel installed it in our table for us.
    drop(unsafe { OwnedFd::from_raw_fd(resp[0] as i32) });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gid_strings() {
        let v4: std::net::IpAddr = "192.168.77.2".parse().unwrap();
        assert_eq!(gid_of(v4), "0000:0000:0000:0000:0000:ffff:c0a8:4d02");
        assert!(is_v4(&gid_of(v4)));
        let v6: std::net::IpAddr = "fd00:77::1".parse().unwrap();
        assert_eq!(gid_of(v6), "fd00:0077:0000:0000:0000:0000:0000:0001");
        assert!(!is_v4(&gid_of(v6)));
    }

    #[test]
    fn abi_sizes() {
        assert_eq!(core::mem::size_of::<IoctlHdr>(), 24);
        assert_eq!(core::mem::size_of::<Attr>(), 16);
        assert_eq!(core::mem::size_of::<Call>(), 56);
        // _IOWR(0x1b, 1, 24 bytes)
        let want: libc::c_ulong = (3 << 30) | (24 << 16) | (0x1b << 8) | 1;
        assert_eq!(RDMA_VERBS_IOCTL, want);
    }
}
