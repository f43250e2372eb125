// SPDX-License-Identifier: GPL-2.0

//! A process whose RDMA state is checkpointed: its uverbs files, borrowed
//! through a pidfd (`pidfd_getfd` needs ptrace access to it, which the
//! kernel checks).

use std::{
    fs,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use crate::{uverbs::Uverbs, Error, Result};

/// A process, held by a pidfd.
#[derive(Debug)]
pub struct Process {
    pid: i32,
    pidfd: OwnedFd,
}

/// One of a process's uverbs files.
#[derive(Debug)]
pub struct UverbsFile {
    /// Its fd number in the process.
    pub fd: i32,
    /// The device node it opened (`/dev/infiniband/uverbsN`).
    pub node: String,
    /// Our copy of it.
    pub file: Uverbs,
}

impl Process {
    /// Holds process `pid`.
    pub fn open(pid: i32) -> Result<Self> {
        if pid <= 0 {
            return Err(Error::NoProcess(pid));
        }
        // SAFETY: pidfd_open(pid, 0): no pointers.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::ESRCH) => Error::NoProcess(pid),
                _ => Error::sys(format!("pidfd_open {pid}"), e),
            });
        }
        // SAFETY: A fresh fd nobody else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        Ok(Process { pid, pidfd })
    }

    /// Its pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Its open files: (fd number, what the fd's link says).
    fn fds(&self) -> Result<Vec<(i32, String)>> {
        let dir = format!("/proc/{}/fd", self.pid);
        let entries = fs::read_dir(&dir).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => Error::NoProcess(self.pid),
            _ => Error::sys(format!("read {dir}"), e),
        })?;
        let mut out = Vec::new();
        for e in entries.flatten() {
            let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if let Ok(target) = fs::read_link(e.path()) {
                out.push((fd, target.to_string_lossy().into_owned()));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Whether it uses the RDMA connection manager (its connections are
    /// the CM's, which cannot be moved yet).
    pub fn uses_rdma_cm(&self) -> Result<bool> {
        Ok(self
            .fds()?
            .iter()
            .any(|(_, t)| t == "/dev/infiniband/rdma_cm"))
    }

    /// Its uverbs event files (completion channels, async event files),
    /// each as its fd number there and our copy of it: what DUMP needs to
    /// name them in the image.
    pub fn event_files(&self) -> Result<Vec<(u32, OwnedFd)>> {
        let mut out = Vec::new();
        for (fd, target) in self.fds()? {
            if target == "anon_inode:[infinibandevent]" {
                out.push((fd as u32, self.borrow(fd)?));
            }
        }
        Ok(out)
    }

    /// Borrows its fd `fd`.
    pub fn borrow(&self, fd: i32) -> Result<OwnedFd> {
        // SAFETY: pidfd_getfd(pidfd, fd, 0): no pointers.
        let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, self.pidfd.as_raw_fd(), fd, 0) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::ESRCH) => Error::NoProcess(self.pid),
                _ => Error::sys(format!("borrow fd {fd} of process {}", self.pid), e),
            });
        }
        // SAFETY: A fresh fd nobody else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
    }

    /// Its uverbs files, borrowed; `NoResources` if it has none.
    pub fn uverbs(&self) -> Result<Vec<UverbsFile>> {
        let mut out = Vec::new();
        for (fd, node) in self.fds()? {
            if !node.starts_with("/dev/infiniband/uverbs") {
                continue;
            }
            let file = Uverbs::from_fd(
                self.borrow(fd)?,
                format!("process {} fd {fd} ({node})", self.pid),
            );
            out.push(UverbsFile { fd, node, file });
        }
        if out.is_empty() {
            return Err(Error::NoResources(self.pid));
        }
        Ok(out)
    }
}
