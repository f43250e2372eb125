// SPDX-License-Identifier: GPL-2.0

//! Sending RoCEv2 packets. (Placeholder with the interface of the network
//! layer being written beside this; replaced when it merges.)

use kernel::prelude::*;

use crate::device::RxeDev;

/// An IP address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IpAddr {
    /// An IPv4 address, in network byte order.
    V4([u8; 4]),
    /// An IPv6 address, in network byte order.
    V6([u8; 16]),
}

impl IpAddr {
    /// The address a RoCEv2 GID stands for.
    pub(crate) fn from_gid(gid: &[u8; 16]) -> Self {
        if crate::av::is_v4_mapped(gid) {
            IpAddr::V4([gid[12], gid[13], gid[14], gid[15]])
        } else {
            IpAddr::V6(*gid)
        }
    }
}

/// Where and how a packet goes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Path {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    pub(crate) src_port: u16,
    pub(crate) traffic_class: u8,
    pub(crate) hop_limit: u8,
    pub(crate) flow_label: u32,
}

/// Sends one packet of `len` bytes of UDP payload laid out by `build`.
pub(crate) fn send(
    _dev: &RxeDev,
    _path: &Path,
    _len: usize,
    _build: impl FnOnce(&mut [u8]) -> Result,
) -> Result {
    Err(ENODEV)
}
