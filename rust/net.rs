// SPDX-License-Identifier: GPL-2.0

//! The network layer: RoCEv2 over UDP. Per-namespace tunnel sockets and
//! the receive path that hands checked packets to their QP, the transmit
//! path that puts packets in UDP and IP and routes them out of the
//! device's netdev, and the device's place among netdevs: the RDMA link
//! type that creates devices, the registry that finds them by netdev, and
//! the netdev events they follow.

pub(crate) mod link;
pub(crate) mod netdev;
pub(crate) mod netns;
pub(crate) mod recv;
pub(crate) mod registry;
pub(crate) mod skb;
pub(crate) mod tunnel;
pub(crate) mod tx;
