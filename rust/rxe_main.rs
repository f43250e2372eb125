// SPDX-License-Identifier: GPL-2.0

//! rdma_rxe_rs: Soft-RoCE (RXE) in Rust.
//!
//! The crate root owns what lives as long as the module: the RDMA link type
//! (`rdma link add NAME type rxe netdev DEV`), the netdev notifier and the
//! list of devices this module created. Unloading unregisters all three, in
//! the order that leaves no callback into unloaded code.

use kernel::prelude::*;

mod bindings;
// The pure protocol crate, compiled in: the kernel uses part of what it
// offers userspace, and its items are `pub` for the crate's own users.
#[path = "proto/src/lib.rs"]
#[allow(unreachable_pub, dead_code)]
mod proto;

mod net {
    pub(crate) mod link;
    pub(crate) mod netdev;
    pub(crate) mod netns;
    pub(crate) mod recv;
    pub(crate) mod registry;
    pub(crate) mod rxq;
    pub(crate) mod skb;
    pub(crate) mod tunnel;
    pub(crate) mod tx;
    pub(crate) use tx::{send, Path, Tx, Via};
}
mod transport {
    pub(crate) mod comp;
    pub(crate) mod live;
    pub(crate) mod req;
    pub(crate) mod resp;
    pub(crate) mod task;
}
mod verbs {
    pub(crate) mod ah;
    pub(crate) mod av;
    pub(crate) mod counters;
    pub(crate) mod cq;
    pub(crate) mod device;
    pub(crate) mod mmap;
    pub(crate) mod mr;
    pub(crate) mod ops;
    pub(crate) mod pool;
    pub(crate) mod post;
    pub(crate) mod qp;
    pub(crate) mod queue;
    pub(crate) mod srq;
    pub(crate) mod udata;
    pub(crate) use ops::{errno, set_ops};
}
// The files moved into layers; their old paths, until the imports follow.
use net::{link, netdev, netns, recv, registry, rxq, skb, tunnel};
use transport::{comp, live, req, resp, task};
use verbs::{ah, av, counters, cq, device, mmap, mr, pool, post, qp, queue, srq, udata};

module! {
    type: RxeModule,
    name: "rdma_rxe_rs",
    authors: ["rxe-rs developers"],
    description: "Soft-RoCE (RXE) driver in Rust, with live-migratable connections",
    license: "GPL",
}

/// What the module holds while loaded. Fields drop in order: first the link
/// type (no new devices; unregistering it waits for `newlink` calls in
/// flight), then the devices left, then the per-namespace sockets (none
/// should be left) and the receive workqueue, then the QP workqueue
/// (drained), then the netdev notifier, so that no device op, packet, work
/// item or notifier call can reach the module after it is gone.
struct RxeModule {
    _link: Pin<KBox<link::LinkType>>,
    _devices: registry::Devices,
    _netns: Pin<KBox<netns::Subsys>>,
    _tasks: task::Installed,
    _notifier: Pin<KBox<netdev::Notifier>>,
    /// Last: checks that no QP outlived the rest.
    _check: live::UnloadCheck,
}

impl kernel::Module for RxeModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let devices = registry::Devices::init();
        let tasks = task::install()?;
        let notifier = KBox::pin_init(netdev::Notifier::new(), GFP_KERNEL)?;
        let netns = KBox::pin_init(netns::Subsys::new(), GFP_KERNEL)?;
        let link = KBox::pin_init(link::LinkType::new()?, GFP_KERNEL)?;
        pr_info!("loaded, link type {:?}\n", link.name());
        Ok(RxeModule {
            _link: link,
            _devices: devices,
            _tasks: tasks,
            _netns: netns,
            _notifier: notifier,
            _check: live::UnloadCheck,
        })
    }
}
