// SPDX-License-Identifier: GPL-2.0

//! Pure protocol logic of rxe-rs, with no kernel dependency.
//!
//! The kernel module compiles these files as its `proto` module; userspace
//! (tests, fuzzers, the checkpointer) uses them as the `rxe_proto` crate. One
//! definition serves both, so nothing here may allocate, print or touch
//! anything outside its arguments.
//!
//! Besides device parameters, it holds the RoCEv2 wire format as the C rxe
//! speaks it: the opcode table (`opcode`), the transport headers (`bth`,
//! `aeth`, `headers`), whole packets (`packet`), sequence numbers (`psn`)
//! and the invariant CRC (`crc32`, `icrc`), the opcode sequence of a
//! message (`msgseq`). Parsers take bytes from the
//! network: they check every length and never panic.
//!
//! It also holds the checkpoint image (`image`): the format in which a
//! uverbs context's objects leave one device and come back on another,
//! written and checked by the kernel, stored and shown by `rxe-ckpt`.

#![cfg_attr(not(any(test, MODULE)), no_std)]

pub mod aeth;
pub mod bth;
pub mod crc32;
#[cfg(test)]
mod fuzz;
pub mod guid;
pub mod headers;
pub mod icrc;
pub mod image;
pub mod ip;
pub mod link;
pub mod msgseq;
pub mod mtu;
pub mod opcode;
pub mod packet;
pub mod params;
pub mod psn;
pub mod sort;
pub mod uapi;
pub mod wqe;
