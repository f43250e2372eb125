// SPDX-License-Identifier: GPL-2.0

//! The plugin's files in CRIU's images directory (CRIU hands plugins the
//! directory's fd; the restored tasks' processes have it too).

use std::{
    fs,
    io::Write,
    os::fd::{FromRawFd, OwnedFd},
};

use crate::abi;

/// Writes `name` in CRIU's images directory.
pub fn write(name: &str, data: &[u8]) -> Result<(), String> {
    let dir = abi::image_dir().ok_or("CRIU gave no images directory")?;
    let c = std::ffi::CString::new(name).map_err(|_| "bad file name")?;
    // SAFETY: openat on CRIU's directory fd with a NUL-terminated name;
    // the fd returned is ours.
    let fd = unsafe {
        libc::openat(
            dir,
            c.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_CLOEXEC,
            0o600,
        )
    };
    if fd < 0 {
        return Err(format!(
            "create {name} in the images directory: {}",
            std::io::Error::last_os_error()
        ));
    }
    // SAFETY: A fresh fd nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut f = fs::File::from(fd);
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .map_err(|e| format!("write {name}: {e}"))?;
    Ok(())
}

/// Reads `name` from CRIU's images directory; `None` if it is not there.
pub fn read(name: &str) -> Result<Option<Vec<u8>>, String> {
    use std::io::Read;
    let dir = abi::image_dir().ok_or("CRIU gave no images directory")?;
    let c = std::ffi::CString::new(name).map_err(|_| "bad file name")?;
    // SAFETY: As in write.
    let fd = unsafe { libc::openat(dir, c.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::ENOENT) {
            return Ok(None);
        }
        return Err(format!("open {name} in the images directory: {e}"));
    }
    // SAFETY: A fresh fd nobody else owns.
    let mut f = fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut out = Vec::new();
    f.read_to_end(&mut out)
        .map_err(|e| format!("read {name}: {e}"))?;
    Ok(Some(out))
}

/// The names in CRIU's images directory that `keep` picks, sorted.
pub fn list(keep: impl Fn(&str) -> bool) -> Result<Vec<String>, String> {
    let dir = abi::image_dir().ok_or("CRIU gave no images directory")?;
    let entries = fs::read_dir(format!("/proc/self/fd/{dir}"))
        .map_err(|e| format!("list the images directory: {e}"))?;
    let mut names = Vec::new();
    for e in entries {
        let e = e.map_err(|e| format!("list the images directory: {e}"))?;
        if let Some(name) = e.file_name().to_str().filter(|n| keep(n)) {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Whether `name` is in CRIU's images directory (a file or a link).
pub fn has(name: &str) -> bool {
    abi::image_dir()
        .is_some_and(|dir| fs::symlink_metadata(format!("/proc/self/fd/{dir}/{name}")).is_ok())
}
