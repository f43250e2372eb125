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

mod mig;
mod net;
mod transport;
mod verbs;

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
/// should be left), then the QP workqueue (drained), then the netdev
/// notifier, so that no device op, packet, work item or notifier call can
/// reach the module after it is gone.
struct RxeModule {
    _link: Pin<KBox<net::link::LinkType>>,
    _devices: net::registry::Devices,
    _netns: Pin<KBox<net::netns::Subsys>>,
    _tasks: transport::task::Installed,
    _notifier: Pin<KBox<net::netdev::Notifier>>,
    /// Last: checks that no QP outlived the rest.
    _check: transport::live::UnloadCheck,
}

impl kernel::Module for RxeModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let devices = net::registry::Devices::init();
        let tasks = transport::task::install()?;
        let notifier = KBox::pin_init(net::netdev::Notifier::new(), GFP_KERNEL)?;
        let netns = KBox::pin_init(net::netns::Subsys::new(), GFP_KERNEL)?;
        let link = KBox::pin_init(net::link::LinkType::new()?, GFP_KERNEL)?;
        pr_info!("loaded, link type {:?}\n", link.name());
        Ok(RxeModule {
            _link: link,
            _devices: devices,
            _tasks: tasks,
            _netns: netns,
            _notifier: notifier,
            _check: transport::live::UnloadCheck,
        })
    }
}
