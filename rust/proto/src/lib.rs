// SPDX-License-Identifier: GPL-2.0

//! Pure protocol logic of rxe-rs, with no kernel dependency.
//!
//! The kernel module compiles these files as its `proto` module; userspace
//! (tests, fuzzers, the checkpointer) uses them as the `rxe_proto` crate. One
//! definition serves both, so nothing here may allocate, print or touch
//! anything outside its arguments.

#![cfg_attr(not(any(test, MODULE)), no_std)]

pub mod guid;
pub mod link;
pub mod mtu;
pub mod params;
