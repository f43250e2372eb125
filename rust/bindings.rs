// SPDX-License-Identifier: GPL-2.0

//! The C API of the RDMA core and the network stack, as bindgen generates it
//! at build time from `bindings_helper.h` (see Kbuild), plus the C glue in
//! `helpers.c`. Nothing but the generated items and the few type aliases
//! bindgen is told to leave out lives here.

#![allow(
    clippy::all,
    clippy::as_underscore,
    clippy::cast_lossless,
    clippy::ptr_as_ptr,
    clippy::ref_as_ptr,
    clippy::undocumented_unsafe_blocks,
    dead_code,
    missing_docs,
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    improper_ctypes,
    unreachable_pub,
    unsafe_op_in_unsafe_fn,
    unnecessary_transmutes
)]

use kernel::ffi;
#[allow(unused_imports)]
use pin_init::{MaybeZeroable, Zeroable};

// The tree's bindgen_parameters blocklist these so they map to Rust's own.
type __kernel_size_t = usize;
type __kernel_ssize_t = isize;
type __kernel_ptrdiff_t = isize;

// SAFETY: `__BindgenBitfieldUnit<Storage>` is a newtype around `Storage`, so
// it is zeroable exactly when `Storage` is.
unsafe impl<Storage> Zeroable for __BindgenBitfieldUnit<Storage> where Storage: Zeroable {}

include!("bindings_generated.rs");
