// SPDX-License-Identifier: GPL-2.0

//! The QEMU TCG plugin: `libtcgprof.so`, loaded with
//! `-plugin PATH/libtcgprof.so,dir=DIR`.
//!
//! Written against QEMU's plugin API version 1 (QEMU 7.2, Debian 12's),
//! whose calls used here are unchanged in later versions. At translation,
//! every block of guest kernel code gets a counter and an inline "add one"
//! that TCG emits at the block's start: no call into the plugin as the
//! guest runs. User-space blocks (perftest spinning on its completion
//! queue) are not counted. A thread answers the guest's snapshot requests
//! in DIR (see [`crate::serve`]).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::serve;
use crate::snapshot::Counts;

type PluginId = u64;

/// QEMU's `struct qemu_plugin_tb`: opaque.
#[repr(C)]
pub struct QemuPluginTb {
    _opaque: [u8; 0],
}

/// QEMU's `qemu_info_t`: not read.
#[repr(C)]
pub struct QemuInfo {
    _opaque: [u8; 0],
}

/// `QEMU_PLUGIN_INLINE_ADD_U64` of QEMU's `enum qemu_plugin_op`.
const INLINE_ADD_U64: c_int = 0;

/// The lowest address of x86-64 kernel space.
const KERNEL_START: u64 = 0xffff_8000_0000_0000;

/// How often the request directory is looked at.
const POLL: Duration = Duration::from_millis(50);

extern "C" {
    fn qemu_plugin_register_vcpu_tb_trans_cb(
        id: PluginId,
        cb: unsafe extern "C" fn(PluginId, *mut QemuPluginTb),
    );
    fn qemu_plugin_tb_n_insns(tb: *const QemuPluginTb) -> usize;
    fn qemu_plugin_tb_vaddr(tb: *const QemuPluginTb) -> u64;
    fn qemu_plugin_register_vcpu_tb_exec_inline(
        tb: *mut QemuPluginTb,
        op: c_int,
        ptr: *mut c_void,
        imm: u64,
    );
}

/// The plugin API version this plugin is written for.
#[no_mangle]
#[allow(non_upper_case_globals)]
pub static qemu_plugin_version: c_int = 1;

/// One translation of a block of kernel code.
struct Block {
    vaddr: u64,
    insns: u64,
    /// Executions, added to by TCG's inline operation.
    runs: &'static AtomicU64,
}

/// Every block translated so far; a block translated again (after a
/// flush) has one entry per translation, and their runs add up.
static BLOCKS: Mutex<Vec<Block>> = Mutex::new(Vec::new());

fn blocks() -> std::sync::MutexGuard<'static, Vec<Block>> {
    // A panic aborts (panic = "abort"), so the lock is never poisoned;
    // if it were, the list is still whole.
    BLOCKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Instructions run so far, by block address.
fn counts() -> Counts {
    let mut c = Counts::new();
    for b in blocks().iter() {
        let n = b.runs.load(Ordering::Relaxed).saturating_mul(b.insns);
        if n != 0 {
            *c.entry(b.vaddr).or_default() += n;
        }
    }
    c
}

unsafe extern "C" fn tb_trans(_id: PluginId, tb: *mut QemuPluginTb) {
    // SAFETY: QEMU passes a block that stays valid for this callback.
    let vaddr = unsafe { qemu_plugin_tb_vaddr(tb) };
    if vaddr < KERNEL_START {
        return;
    }
    // SAFETY: as above.
    let insns = unsafe { qemu_plugin_tb_n_insns(tb) } as u64;
    // Leaked: translated code may run, and add to it, until QEMU exits.
    let runs: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
    // SAFETY: `tb` is valid for this callback (as above), and `runs` is a
    // naturally aligned u64 that lives as long as the process, so the
    // inline addition TCG emits always has somewhere to write.
    unsafe {
        qemu_plugin_register_vcpu_tb_exec_inline(tb, INLINE_ADD_U64, runs.as_ptr().cast(), 1)
    };
    blocks().push(Block { vaddr, insns, runs });
}

/// The value of `dir=` among the plugin's arguments.
///
/// # Safety
///
/// `argv` must hold `argc` pointers to NUL-terminated strings.
unsafe fn dir_arg(argc: c_int, argv: *const *const c_char) -> Option<PathBuf> {
    let n = usize::try_from(argc).ok()?;
    if argv.is_null() {
        return None;
    }
    (0..n).find_map(|i| {
        // SAFETY: `i < argc`, and the caller guarantees `argc` valid
        // pointers to NUL-terminated strings.
        let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
        arg.to_str().ok()?.strip_prefix("dir=").map(PathBuf::from)
    })
}

/// Called by QEMU when it loads the plugin.
///
/// # Safety
///
/// QEMU's contract: `argv` holds `argc` NUL-terminated strings.
#[no_mangle]
pub unsafe extern "C" fn qemu_plugin_install(
    id: PluginId,
    _info: *const QemuInfo,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    // SAFETY: QEMU's contract, above.
    let Some(dir) = (unsafe { dir_arg(argc, argv) }) else {
        eprintln!("tcgprof: needs dir=DIRECTORY (where the guest asks for snapshots)");
        return -1;
    };
    if !dir.is_dir() {
        eprintln!("tcgprof: {} is not a directory", dir.display());
        return -1;
    }
    // SAFETY: `tb_trans` has the signature QEMU calls it with.
    unsafe { qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans) };
    let spawned = std::thread::Builder::new()
        .name("tcgprof".into())
        .spawn(move || loop {
            if let Err(e) = serve::answer(&dir, counts) {
                eprintln!("tcgprof: {}: {e}", dir.display());
            }
            std::thread::sleep(POLL);
        });
    match spawned {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("tcgprof: cannot start its thread: {e}");
            -1
        }
    }
}
