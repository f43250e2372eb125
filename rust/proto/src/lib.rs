// SPDX-License-Identifier: GPL-2.0

//! Pure protocol logic of rxe-rs, with no kernel dependency.
//!
//! The kernel module compiles these files as its `proto` module; userspace
//! (tests, fuzzers, the checkpointer) uses them as the `rxe_proto` crate. One
//! definition serves both, so nothing here may allocate, print or touch
//! anything outside its arguments.

#![cfg_attr(not(any(test, MODULE)), no_std)]

pub mod aeth;
pub mod bth;
pub mod crc32;
pub mod guid;
pub mod headers;
pub mod icrc;
pub mod ip;
pub mod link;
pub mod mtu;
pub mod opcode;
pub mod packet;
pub mod params;
pub mod psn;
