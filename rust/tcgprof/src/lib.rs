// SPDX-License-Identifier: GPL-2.0

//! tcgprof: where the guest kernel spends its instructions under TCG.
//!
//! `perf` inside a TCG guest samples almost nothing but idle time, so
//! `make bench`'s profile mode counts instead: QEMU loads this crate as a
//! TCG plugin ([`plugin`]), which counts, for every translation block of
//! guest kernel code, how many times it ran. The guest asks for snapshots of
//! those counts around a run ([`serve`], [`snapshot`]); the report ([`report`], binary
//! `tcgprof-report`) takes the difference of two snapshots and names the
//! code with the guest's `/proc/kallsyms` ([`symbols`]).
//!
//! A count is exact for what TCG executed (instructions, not time): the
//! same work gives the same figure however loaded the host is, which is
//! what comparing two drivers on a shared two-core machine needs.

#[cfg(feature = "plugin")]
pub mod plugin;
pub mod report;
pub mod serve;
pub mod snapshot;
pub mod symbols;
