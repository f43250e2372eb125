// SPDX-License-Identifier: GPL-2.0

//! rxe-rs's CRIU plugin (`rxe_rs_plugin.so`): stock CRIU checkpoints and
//! restores a process that holds rxe-rs RDMA resources through it, as it
//! does GPUs through its amdgpu and cuda plugins. A thin layer over the
//! rxe-ckpt library: the dump side ([`dump`]) stops and dumps each task's
//! context, the restore side ([`restore`]) puts it back into the restored
//! task once CRIU is done with it. The plugin's files live beside CRIU's
//! in the images directory ([`record`]).
//!
//! Every hook catches a panic (a failed hook, not a CRIU brought down
//! with a task half dumped) and answers `-ENOTSUP` for what is not
//! rxe-rs's, so that CRIU asks the next plugin.

use core::ffi::{c_char, c_int, c_void, CStr};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

mod abi;
mod dump;
mod images;
mod record;
mod restore;

use abi::{hook, Desc, Level, Stage};

/// The plugin's name, in CRIU's log and the dump's inventory.
const NAME: &CStr = c"rxe_rs";

const ENOTSUP: c_int = libc::ENOTSUP;

/// What a hook did: handled (`true`), not the plugin's (`false`), or
/// failed, and why.
type Handled = Result<bool, String>;

/// The restore side is on: the dump being restored needs the plugin.
static RESTORING: AtomicBool = AtomicBool::new(false);

/// The descriptor CRIU looks up (`CR_PLUGIN_DESC`).
#[unsafe(no_mangle)]
pub static CR_PLUGIN_DESC: Desc = Desc {
    name: NAME.as_ptr(),
    init: Some(init),
    exit: Some(exit),
    version: abi::VERSION,
    max_hooks: hook::MAX as u32,
    hooks: hooks(),
};

const fn hooks() -> [*const c_void; hook::MAX] {
    let mut h = [core::ptr::null(); hook::MAX];
    h[hook::DUMP_EXT_FILE] = dump_ext_file as *const c_void;
    h[hook::RESTORE_EXT_FILE] = restore_ext_file as *const c_void;
    h[hook::HANDLE_DEVICE_VMA] = handle_device_vma as *const c_void;
    h[hook::UPDATE_VMA_MAP] = update_vma_map as *const c_void;
    h[hook::RESUME_DEVICES_LATE] = resume_devices_late as *const c_void;
    h[hook::CHECKPOINT_DEVICES] = checkpoint_devices as *const c_void;
    h
}

/// Runs hook `what`, turning a panic into a failure.
fn guard<T>(what: &str, fail: T, f: impl FnOnce() -> T) -> T {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            abi::log(Level::Error, &format!("{what}: the plugin panicked"));
            fail
        }
    }
}

/// A [`Handled`] as CRIU takes it.
fn answer(what: &str, r: Handled) -> c_int {
    match r {
        Ok(true) => 0,
        Ok(false) => -ENOTSUP,
        Err(e) => {
            abi::log(Level::Error, &format!("{what}: {e}"));
            -libc::EIO
        }
    }
}

extern "C" fn init(stage: c_int) -> c_int {
    guard("init", -1, || {
        if Stage::from_c(stage) != Some(Stage::Restore) || !abi::in_inventory(NAME) {
            return 0;
        }
        // Refused here, the restore fails before CRIU makes any task.
        match restore::check_images() {
            Ok(n) => {
                abi::log(Level::Info, &format!("{n} process images can be restored"));
                RESTORING.store(true, Relaxed);
                0
            }
            Err(e) => {
                abi::log(Level::Error, &format!("restore refused: {e}"));
                -1
            }
        }
    })
}

extern "C" fn exit(stage: c_int, ret: c_int) {
    guard("exit", (), || {
        if Stage::from_c(stage) == Some(Stage::Dump) {
            dump::finish(ret);
        }
    })
}

extern "C" fn checkpoint_devices(pid: c_int) -> c_int {
    guard("CHECKPOINT_DEVICES", -libc::EIO, || {
        answer(&format!("process {pid}"), dump::checkpoint(pid))
    })
}

extern "C" fn dump_ext_file(fd: c_int, id: c_int) -> c_int {
    guard("DUMP_EXT_FILE", -libc::EIO, || {
        answer("dump a file", dump::ext_file(fd, id as u32))
    })
}

extern "C" fn handle_device_vma(_fd: c_int, st: *const libc::stat) -> c_int {
    guard("HANDLE_DEVICE_VMA", -libc::EIO, || {
        // SAFETY: CRIU passes the stat of the mapped file, live for the call.
        match unsafe { st.as_ref() } {
            Some(st) if dump::is_uverbs_device(st) => 0,
            _ => -ENOTSUP,
        }
    })
}

extern "C" fn restore_ext_file(id: c_int) -> c_int {
    guard("RESTORE_EXT_FILE", -libc::EIO, || {
        if !RESTORING.load(Relaxed) {
            return -ENOTSUP;
        }
        match restore::ext_file(id as u32) {
            Ok(Some(fd)) => fd,
            Ok(None) => -ENOTSUP,
            Err(e) => {
                abi::log(Level::Error, &format!("restore a file: {e}"));
                -libc::EIO
            }
        }
    })
}

extern "C" fn update_vma_map(
    path: *const c_char,
    addr: u64,
    old_pgoff: u64,
    new_pgoff: *mut u64,
    plugin_fd: *mut c_int,
) -> c_int {
    guard("UPDATE_VMA_MAP", -libc::EIO, || {
        if !RESTORING.load(Relaxed) || path.is_null() || new_pgoff.is_null() || plugin_fd.is_null()
        {
            return -ENOTSUP;
        }
        // SAFETY: CRIU passes the mapped file's NUL-terminated path.
        let path = unsafe { CStr::from_ptr(path) }.to_string_lossy();
        match restore::vma(&path, addr, old_pgoff) {
            Ok(Some((fd, off))) => {
                // SAFETY: CRIU's out-parameters, checked non-null above.
                unsafe {
                    *plugin_fd = fd;
                    *new_pgoff = off;
                }
                1
            }
            Ok(None) => -ENOTSUP,
            Err(e) => {
                abi::log(Level::Error, &format!("map a ring: {e}"));
                -libc::EIO
            }
        }
    })
}

extern "C" fn resume_devices_late(pid: c_int) -> c_int {
    guard("RESUME_DEVICES_LATE", -libc::EIO, || {
        if !RESTORING.load(Relaxed) {
            return -ENOTSUP;
        }
        let r = restore::resume(pid);
        if r.is_err() {
            // CRIU ignores this hook's result: the task would run on with
            // stand-ins for its RDMA files.
            restore::kill(pid);
        }
        answer(&format!("process {pid} (killed)"), r)
    })
}
