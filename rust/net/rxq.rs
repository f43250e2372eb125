// SPDX-License-Identifier: GPL-2.0

//! The receive queue of a network namespace: packets the tunnel sockets
//! took in softirq context wait here for a work item, which finds the
//! device each arrived for and hands it to `recv` in process context.
//!
//! The device is found by the netdev the packet arrived on, in the device
//! registry under its mutex, as a held reference ([`registry::DevRef`]):
//! the lookup is short, and the packet is processed outside the mutex with
//! the device kept registered (its unregistration waits), as the C rxe
//! holds an `ib_device` reference per packet. Each packet holds its netdev
//! (see `RxSkb`), so the pointer the lookup compares is never stale.
//! Packets that arrived on a VLAN netdev are for the device on the real
//! netdev under it, as in rxe.

use kernel::{
    impl_has_work, new_work,
    prelude::*,
    sync::{
        atomic::{Atomic, Relaxed},
        Arc, ArcBorrow,
    },
    workqueue::{Queue, Work, WorkItem},
};

use core::ptr::NonNull;

use crate::{
    bindings,
    net::{recv, registry, skb::RxSkb, skb::SkbQueue},
};

/// At most this many packets wait per namespace; more are dropped (the
/// work item is not keeping up), and counted in [`RxQueue`].
const BACKLOG_MAX: usize = 8192;

/// Packets processed per run of the work item before it makes way for
/// others on the workqueue.
const BATCH: usize = 64;

/// The module's receive workqueue.
///
/// INVARIANT: points to a workqueue that lives until every work item queued
/// on it has run: it is destroyed (which drains it) at module unload, after
/// every tunnel socket is released, when nothing can queue work any more.
#[derive(Clone, Copy)]
pub(crate) struct Wq(NonNull<bindings::workqueue_struct>);

// SAFETY: A workqueue may be used from any thread.
unsafe impl Send for Wq {}
// SAFETY: As above.
unsafe impl Sync for Wq {}

impl Wq {
    /// Allocates the workqueue.
    ///
    /// # Safety
    ///
    /// The caller must keep the type invariant: call [`Wq::destroy`] once,
    /// at module unload, after no work can be queued on it any more.
    pub(crate) unsafe fn alloc() -> Result<Self> {
        // SAFETY: No preconditions.
        let wq = unsafe { bindings::rxe_rs_alloc_rx_wq() };
        NonNull::new(wq).map(Wq).ok_or(ENOMEM)
    }

    /// Destroys the workqueue, running every work item still queued.
    ///
    /// # Safety
    ///
    /// Nothing may use the workqueue, or queue work on it, any more.
    pub(crate) unsafe fn destroy(self) {
        // SAFETY: Allocated by `alloc`; unused from now on (caller).
        unsafe { bindings::destroy_workqueue(self.0.as_ptr()) };
    }

    fn queue(&self) -> &Queue {
        // SAFETY: Live while any queue that uses it lives (type invariant);
        // the kernel crate's and our bindings name the same C type.
        unsafe { Queue::from_raw(self.0.as_ptr().cast()) }
    }
}

/// The receive queue of one namespace, shared by its tunnel sockets (whose
/// user data points to it) and its work item.
#[pin_data]
pub(crate) struct RxQueue {
    #[pin]
    skbs: SkbQueue,
    #[pin]
    work: Work<RxQueue>,
    wq: Wq,
    /// Packets dropped because the backlog was full.
    overflows: Atomic<u64>,
}

impl_has_work! {
    impl HasWork<Self> for RxQueue { self.work }
}

impl RxQueue {
    /// An empty queue whose work item runs on `wq`.
    pub(crate) fn new(wq: Wq) -> Result<Arc<Self>> {
        Arc::pin_init(
            pin_init!(RxQueue {
                skbs <- SkbQueue::new(),
                work <- new_work!("rxe_rs_rxq"),
                wq,
                overflows: Atomic::new(0),
            }),
            GFP_KERNEL,
        )
    }

    /// Queues a packet and makes sure the work item will run. Softirq (or
    /// any) context; does not sleep.
    pub(crate) fn push(this: ArcBorrow<'_, Self>, skb: RxSkb) {
        if this.skbs.len() >= BACKLOG_MAX {
            drop(skb);
            let n = this.overflows.fetch_add(1u64, Relaxed) + 1;
            // SAFETY: No preconditions.
            if unsafe { bindings::rxe_rs_ratelimit() } {
                pr_warn!("receive backlog full: {n} packets dropped so far\n");
            }
            return;
        }
        this.skbs.push(skb);
        // Already queued (not yet running) is fine: it will see this one.
        // The clone then dropped is never the last reference: the tunnel
        // holds one for as long as `encap_rcv` can run.
        let _ = this.wq.queue().enqueue(Arc::from(this));
    }

    /// Processes up to `BATCH` packets; whether more wait.
    fn drain(&self) -> bool {
        // The device found for the last packet's netdev: the next one
        // likely arrived on the same.
        let mut last: Option<(*mut bindings::net_device, Option<registry::DevRef>)> = None;
        for _ in 0..BATCH {
            let Some(skb) = self.skbs.pop() else {
                return false;
            };
            let ndev = skb.ndev();
            if let Some(owner) = skb.loopback_owner() {
                // Sent to a local address: for the device on the netdev
                // that owns it, as if it had arrived there (no cache: the
                // next packet over loopback may be for another).
                // SAFETY: `owner` is held until the put below.
                let d = unsafe { device_for(owner.as_ptr()) };
                // SAFETY: The reference `loopback_owner` took.
                unsafe { bindings::rxe_rs_dev_put(owner.as_ptr()) };
                match d {
                    Some(d) => recv::receive_skb(&d, skb),
                    None => drop(skb),
                }
                continue;
            }
            if last.as_ref().map(|(n, _)| *n) != Some(ndev) {
                // Let the last one go before looking up the next.
                drop(last.take());
                // SAFETY: The packet holds `ndev`.
                last = Some((ndev, unsafe { device_for(ndev) }));
            }
            match last.as_ref().and_then(|(_, d)| d.as_ref()) {
                Some(d) => recv::receive_skb(d, skb),
                // No device of ours there: not ours to count.
                None => drop(skb),
            }
        }
        self.skbs.len() != 0
    }
}

/// The device a packet that arrived on `ndev` is for: ours on `ndev`, or,
/// if `ndev` is a VLAN netdev, ours on the real netdev under it (the RDMA
/// core gives a device the GIDs of the VLANs over its netdev), as in rxe.
///
/// # Safety
///
/// `ndev` must be a live netdev.
unsafe fn device_for(ndev: *mut bindings::net_device) -> Option<registry::DevRef> {
    registry::get(ndev).or_else(|| {
        // SAFETY: `ndev` is live (caller); a VLAN netdev holds its real one.
        let real = unsafe { bindings::rxe_rs_vlan_real_dev(ndev) };
        if real.is_null() {
            None
        } else {
            registry::get(real)
        }
    })
}

impl WorkItem for RxQueue {
    type Pointer = Arc<RxQueue>;

    fn run(this: Arc<RxQueue>) {
        if this.drain() {
            // More wait: let other work run first, then come back.
            let wq = this.wq;
            let _ = wq.queue().enqueue(this);
        }
    }
}
