// SPDX-License-Identifier: GPL-2.0

//! The library's errors: each says, in one line, what failed and why.

use std::{fmt, io};

/// Why an rxe-ckpt operation failed.
#[derive(Debug)]
pub enum Error {
    /// No process with that pid (or it exited meanwhile).
    NoProcess(i32),
    /// Not allowed: the caller lacks a capability or may not trace the
    /// process (what the kernel refused, with EPERM or EACCES).
    Privilege(String),
    /// The process holds no uverbs file of an rxe-rs device.
    NoResources(i32),
    /// No such device, or not an rxe-rs one.
    NoDevice(String),
    /// The driver does not have the migration methods (another driver, or
    /// an older rxe-rs).
    Unsupported(String),
    /// A system call failed: what was being done, and the error.
    Sys(String, io::Error),
    /// The checkpoint image is bad.
    Image(rxe_proto::image::ImageError),
    /// Bad arguments.
    Usage(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NoProcess(pid) => write!(f, "no such process: {pid}"),
            Error::Privilege(what) => write!(
                f,
                "{what}: permission denied (needs CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN, and ptrace access to the process)"
            ),
            Error::NoResources(pid) => {
                write!(f, "process {pid} holds no rxe-rs RDMA resources (no uverbs file of an rxe-rs device)")
            }
            Error::NoDevice(name) => write!(f, "no rxe-rs device {name}"),
            Error::Unsupported(what) => {
                write!(f, "{what}: the driver has no migration methods (not rxe-rs, or too old)")
            }
            Error::Sys(what, e) => write!(f, "{what}: {e}"),
            Error::Image(e) => write!(f, "bad checkpoint image: {e}"),
            Error::Usage(what) => f.write_str(what),
        }
    }
}

impl std::error::Error for Error {}

impl Error {
    /// The error of a failed system call doing `what`, with EPERM and
    /// EACCES told apart as missing privilege.
    pub fn sys(what: impl Into<String>, e: io::Error) -> Self {
        let what = what.into();
        match e.raw_os_error() {
            Some(libc::EPERM) | Some(libc::EACCES) => Error::Privilege(what),
            Some(libc::EPROTONOSUPPORT) => Error::Unsupported(what),
            _ => Error::Sys(what, e),
        }
    }

    /// The last OS error, for `what`.
    pub fn last(what: impl Into<String>) -> Self {
        Error::sys(what, io::Error::last_os_error())
    }
}
