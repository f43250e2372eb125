// SPDX-License-Identifier: GPL-2.0

//! CRIU's side of the plugin ABI (`criu/include/criu-plugin.h`, plugin API
//! 0.2.0, CRIU 3.17 to 4.2), declared by hand, and the few CRIU functions
//! the plugin calls. Those are looked up when the plugin starts, not bound
//! at load time: a cdylib binds every symbol it names at `dlopen`, and a
//! missing one would fail the whole CRIU command (`criu_get_image_dir` is
//! the only public one; the others are CRIU's own, exported because CRIU
//! is linked `-rdynamic`).

use core::ffi::{c_char, c_int, c_uint, c_void};
use std::sync::OnceLock;

/// `CRIU_PLUGIN_VERSION`: 0.2.0.
pub const VERSION: c_uint = 0x200;

/// The hooks (`CR_PLUGIN_HOOK__*`).
pub mod hook {
    pub const DUMP_EXT_FILE: usize = 2;
    pub const RESTORE_EXT_FILE: usize = 3;
    pub const HANDLE_DEVICE_VMA: usize = 7;
    pub const UPDATE_VMA_MAP: usize = 8;
    pub const RESUME_DEVICES_LATE: usize = 9;
    pub const CHECKPOINT_DEVICES: usize = 11;
    /// `CR_PLUGIN_HOOK__MAX`.
    pub const MAX: usize = 12;
}

/// The stages `init` and `exit` are told (`CR_PLUGIN_STAGE__*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Dump,
    PreDump,
    Restore,
}

impl Stage {
    pub fn from_c(stage: c_int) -> Option<Self> {
        match stage {
            0 => Some(Stage::Dump),
            1 => Some(Stage::PreDump),
            2 => Some(Stage::Restore),
            _ => None,
        }
    }
}

/// `cr_plugin_desc_t`.
#[repr(C)]
pub struct Desc {
    pub name: *const c_char,
    pub init: Option<unsafe extern "C" fn(c_int) -> c_int>,
    pub exit: Option<unsafe extern "C" fn(c_int, c_int)>,
    pub version: c_uint,
    pub max_hooks: c_uint,
    pub hooks: [*const c_void; hook::MAX],
}

// SAFETY: The descriptor is written once, at compile time, and only read
// after (by CRIU); its pointers are to static data and functions.
unsafe impl Sync for Desc {}

/// How a task ends after a dump (`opts.final_state`, `TASK_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FinalState {
    /// `--leave-running`.
    Alive,
    /// The default: killed.
    Dead,
    /// `-s`: left stopped.
    Stopped,
}

/// CRIU's log levels (`LOG_*`).
#[derive(Clone, Copy)]
pub enum Level {
    Error = 1,
    Info = 3,
}

type PrintOnLevel = unsafe extern "C" fn(c_uint, *const c_char, ...);
type AddInventoryPlugin = unsafe extern "C" fn(*const c_char) -> c_int;
type CheckAndRemove = unsafe extern "C" fn(*const c_char, usize) -> bool;
type GetImageDir = unsafe extern "C" fn() -> c_int;

/// The CRIU functions and data the plugin uses.
struct Criu {
    print_on_level: Option<PrintOnLevel>,
    add_inventory_plugin: Option<AddInventoryPlugin>,
    check_and_remove_inventory_plugin: Option<CheckAndRemove>,
    get_image_dir: Option<GetImageDir>,
    /// `struct cr_options opts`: its first member is `int final_state`.
    opts: *const c_int,
}

// SAFETY: Read-only after the lookup; CRIU runs the plugin's hooks in one
// thread at a time.
unsafe impl Send for Criu {}
// SAFETY: As above.
unsafe impl Sync for Criu {}

static CRIU: OnceLock<Criu> = OnceLock::new();

fn lookup(name: &core::ffi::CStr) -> *mut c_void {
    // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name.
    unsafe { libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr()) }
}

fn criu() -> &'static Criu {
    CRIU.get_or_init(|| {
        // SAFETY: Each symbol, when CRIU has it, is the function (or the
        // variable) of that name, with the type CRIU declares it with
        // (criu/include/log.h, image.h, criu-plugin.h, cr_options.h).
        unsafe {
            let f = |name| {
                let p = lookup(name);
                (!p.is_null()).then_some(p)
            };
            Criu {
                print_on_level: f(c"print_on_level").map(|p| core::mem::transmute(p)),
                add_inventory_plugin: f(c"add_inventory_plugin").map(|p| core::mem::transmute(p)),
                check_and_remove_inventory_plugin: f(c"check_and_remove_inventory_plugin")
                    .map(|p| core::mem::transmute(p)),
                get_image_dir: f(c"criu_get_image_dir").map(|p| core::mem::transmute(p)),
                opts: lookup(c"opts") as *const c_int,
            }
        }
    })
}

/// Logs `msg` in CRIU's log (and on its error output at `Level::Error`).
pub fn log(level: Level, msg: &str) {
    let line = format!("rxe-rs: {msg}\n").replace('\0', " ");
    let Ok(line) = std::ffi::CString::new(line) else {
        return;
    };
    match criu().print_on_level {
        // SAFETY: A "%s" format with one NUL-terminated string.
        Some(p) => unsafe { p(level as c_uint, c"%s".as_ptr(), line.as_ptr()) },
        None => eprint!("{}", line.to_string_lossy()),
    }
}

/// The fd of the images directory.
pub fn image_dir() -> Option<c_int> {
    // SAFETY: CRIU's criu_get_image_dir(void).
    criu().get_image_dir.map(|f| unsafe { f() })
}

/// Records in the dump's inventory that restoring it needs this plugin.
pub fn add_inventory(name: &core::ffi::CStr) -> bool {
    match criu().add_inventory_plugin {
        // SAFETY: A NUL-terminated name.
        Some(f) => unsafe { f(name.as_ptr()) == 0 },
        None => false,
    }
}

/// Whether the dump being restored named this plugin in its inventory
/// (and checks it off: CRIU refuses a restore whose plugins are missing).
pub fn in_inventory(name: &core::ffi::CStr) -> bool {
    match criu().check_and_remove_inventory_plugin {
        // SAFETY: A NUL-terminated name and its length.
        Some(f) => unsafe { f(name.as_ptr(), name.to_bytes().len()) },
        // An older CRIU: no inventory of plugins, every one is asked.
        None => true,
    }
}

/// How the dumped tasks end.
pub fn final_state() -> FinalState {
    let opts = criu().opts;
    if opts.is_null() {
        return FinalState::Dead;
    }
    // SAFETY: `opts` is CRIU's `struct cr_options`, whose first member is
    // `int final_state`, set by its option parsing before any hook runs.
    match unsafe { *opts } {
        1 => FinalState::Alive,
        3 => FinalState::Stopped,
        _ => FinalState::Dead,
    }
}
