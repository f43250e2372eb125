// SPDX-License-Identifier: GPL-2.0

//! rxe-ckpt: the userspace side of rxe-rs's live migration. It finds a
//! process's uverbs files, borrows them (`pidfd_getfd`), and calls the
//! driver's own methods on them (stop, resume, query, set the next
//! numbers); the dump, restore and move of a process build on these (see
//! docs/migration.md). The CLI (`rxe-ckpt`) is a thin layer over this
//! library, and so is to be the CRIU plugin.

pub mod error;
pub mod process;
pub mod show;
pub mod uverbs;

pub use error::Error;

use process::Process;

/// What the library's calls return.
pub type Result<T> = core::result::Result<T, Error>;

/// Stops the QPs of every rxe-rs context of process `p`; returns how many.
/// All or nothing: if one context cannot be stopped, those stopped already
/// are resumed, and the error is returned.
pub fn pause(p: &Process) -> Result<u32> {
    if p.uses_rdma_cm()? {
        return Err(Error::Usage(format!(
            "process {} uses the RDMA connection manager (rdma_cm): not supported yet",
            p.pid()
        )));
    }
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
