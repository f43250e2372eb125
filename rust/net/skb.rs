// SPDX-License-Identifier: GPL-2.0

//! Socket buffers the driver owns: received packets ([`RxSkb`]), queues of
//! them ([`SkbQueue`]), and packets being built for sending ([`TxSkb`]).
//!
//! Each type owns its `sk_buff` and frees it when dropped, so that no path
//! (error, teardown) can leak one or free one twice.

use core::ptr::NonNull;

use kernel::{prelude::*, types::Opaque};

use crate::bindings;

/// A received packet.
///
/// INVARIANT: owns `skb` (freed on drop), whose data is linear and starts
/// at the UDP header, with the IP header right before it; `skb->dev` is a
/// netdev this `RxSkb` holds a reference on (`dev_hold`), and the skb holds
/// no route (which only RCU would protect).
pub(crate) struct RxSkb(NonNull<bindings::sk_buff>);

// SAFETY: An owned skb may be freed and read from any thread.
unsafe impl Send for RxSkb {}

impl RxSkb {
    /// Takes over a packet the UDP layer hands to our tunnel sockets, in
    /// softirq context: makes it linear, drops its route, and holds its
    /// netdev, so that it can wait for process context. `None` (and the
    /// skb freed) if it cannot be made linear.
    ///
    /// # Safety
    ///
    /// `skb` must be a packet received on a UDP socket, given to its
    /// `encap_rcv` (data at the UDP header, caller in the receive path's
    /// RCU read-side section); ownership passes to this function.
    pub(crate) unsafe fn from_encap(skb: NonNull<bindings::sk_buff>) -> Option<Self> {
        let skb = skb.as_ptr();
        // SAFETY: We own `skb` (caller).
        if unsafe { bindings::rxe_rs_skb_linearize(skb) } != 0 {
            // SAFETY: As above; out of memory, dropped.
            unsafe { bindings::rxe_rs_kfree_skb(skb) };
            return None;
        }
        // SAFETY: As above. The receive path's dst may be a reference only
        // RCU protects: let it go before the packet waits.
        unsafe { bindings::rxe_rs_skb_dst_drop(skb) };
        // SAFETY: As above.
        let dev = unsafe { bindings::rxe_rs_skb_dev(skb) };
        if dev.is_null() {
            // SAFETY: As above.
            unsafe { bindings::rxe_rs_kfree_skb(skb) };
            return None;
        }
        // SAFETY: The netdev a packet is being received on is live for the
        // receive path (RCU); the reference keeps it so afterwards.
        unsafe { bindings::rxe_rs_dev_hold(dev) };
        // INVARIANT: Owned, linear, `dev` held, no dst; the UDP layer gives
        // `encap_rcv` the data at the UDP header after the IP header.
        // SAFETY: `skb` is non-NULL (it came from a `NonNull`).
        Some(RxSkb(unsafe { NonNull::new_unchecked(skb) }))
    }

    /// The netdev the packet arrived on (held while `self` lives).
    pub(crate) fn ndev(&self) -> *mut bindings::net_device {
        // SAFETY: We own the skb.
        unsafe { bindings::rxe_rs_skb_dev(self.0.as_ptr()) }
    }

    /// For a packet sent to a local address (it came over the loopback
    /// netdev): the netdev that owns its destination address, held (the
    /// caller puts it); `None` for any other packet.
    pub(crate) fn loopback_owner(&self) -> Option<NonNull<bindings::net_device>> {
        // SAFETY: We own the skb; it still has its IP header (type
        // invariant) and holds its netdev, whose namespace is therefore
        // live.
        NonNull::new(unsafe { bindings::rxe_rs_loopback_owner(self.0.as_ptr()) })
    }

    /// The packet from the UDP header to its end.
    pub(crate) fn udp(&self) -> &[u8] {
        let skb = self.0.as_ptr();
        // SAFETY: We own the skb, which is linear (type invariant): its
        // `len` bytes from `data` are in the head buffer, which lives (and
        // is not written) as long as the skb is ours.
        unsafe {
            let data = bindings::rxe_rs_skb_data(skb);
            let len = bindings::rxe_rs_skb_len(skb) as usize;
            core::slice::from_raw_parts(data, len)
        }
    }

    /// The IP header as received: the bytes from the network header to the
    /// UDP header (options or extension headers included).
    pub(crate) fn ip(&self) -> &[u8] {
        let skb = self.0.as_ptr();
        // SAFETY: We own the skb. The network header lies in the head
        // buffer before `data` (the IP layer pulled it, linear, before
        // handing the packet to UDP), so the bytes between them are in the
        // same live buffer.
        unsafe {
            let off = bindings::rxe_rs_skb_network_offset(skb);
            let Some(len) = off.checked_neg().and_then(|n| usize::try_from(n).ok()) else {
                return &[];
            };
            let data = bindings::rxe_rs_skb_data(skb);
            core::slice::from_raw_parts(data.sub(len), len)
        }
    }

    /// The ethertype of the IP header (`ETH_P_IP` or `ETH_P_IPV6`).
    pub(crate) fn protocol(&self) -> u16 {
        // SAFETY: We own the skb.
        unsafe { bindings::rxe_rs_skb_protocol(self.0.as_ptr()) }
    }

    /// Frees the packet as one that was used (not dropped).
    pub(crate) fn consume(self) {
        let this = core::mem::ManuallyDrop::new(self);
        let ndev = this.ndev();
        // SAFETY: We own the skb; `self` is not dropped, so it is freed
        // once.
        unsafe { bindings::rxe_rs_consume_skb(this.0.as_ptr()) };
        // SAFETY: The reference taken in `from_encap` (type invariant).
        unsafe { bindings::rxe_rs_dev_put(ndev) };
    }

    /// Gives up ownership, for a C queue.
    fn into_raw(self) -> *mut bindings::sk_buff {
        core::mem::ManuallyDrop::new(self).0.as_ptr()
    }

    /// Takes back ownership of an skb given up with `into_raw`.
    ///
    /// # Safety
    ///
    /// `skb` must come from [`RxSkb::into_raw`], and be taken back once.
    unsafe fn from_raw(skb: NonNull<bindings::sk_buff>) -> Self {
        // INVARIANT: As when it was given up.
        RxSkb(skb)
    }
}

impl Drop for RxSkb {
    fn drop(&mut self) {
        let ndev = self.ndev();
        // SAFETY: We own the skb; it is dropped once.
        unsafe { bindings::rxe_rs_kfree_skb(self.0.as_ptr()) };
        // SAFETY: The reference taken in `from_encap` (type invariant).
        unsafe { bindings::rxe_rs_dev_put(ndev) };
    }
}

/// A queue of received packets, with its own spinlock: filled in softirq
/// context, emptied in process context.
///
/// INVARIANT: `head` is an initialized `sk_buff_head` whose skbs were all
/// given up by [`RxSkb::into_raw`]; they are freed with the queue.
#[pin_data(PinnedDrop)]
pub(crate) struct SkbQueue {
    #[pin]
    head: Opaque<bindings::sk_buff_head>,
}

// SAFETY: The queue is only touched through the C functions, which take its
// lock; the skbs on it are `Send`.
unsafe impl Sync for SkbQueue {}
// SAFETY: As above.
unsafe impl Send for SkbQueue {}

impl SkbQueue {
    /// An empty queue.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(SkbQueue {
            // SAFETY: `head` is valid, pinned memory for the queue head.
            head <- Opaque::ffi_init(|head| unsafe { bindings::rxe_rs_skb_queue_init(head) }),
        })
    }

    /// Adds `skb` at the tail. Any context.
    pub(crate) fn push(&self, skb: RxSkb) {
        // SAFETY: The queue is initialized (type invariant); it takes the
        // skb, given up here.
        unsafe { bindings::skb_queue_tail(self.head.get(), skb.into_raw()) };
    }

    /// Takes the packet at the head, if any. Any context.
    pub(crate) fn pop(&self) -> Option<RxSkb> {
        // SAFETY: The queue is initialized (type invariant).
        let skb = NonNull::new(unsafe { bindings::skb_dequeue(self.head.get()) })?;
        // SAFETY: Every skb on the queue was given up by `into_raw`
        // (type invariant), and it is off the queue now.
        Some(unsafe { RxSkb::from_raw(skb) })
    }

    /// How many packets wait (racy: a hint).
    pub(crate) fn len(&self) -> usize {
        // SAFETY: The queue is initialized (type invariant).
        unsafe { bindings::rxe_rs_skb_queue_len(self.head.get()) as usize }
    }
}

#[pinned_drop]
impl PinnedDrop for SkbQueue {
    fn drop(self: Pin<&mut Self>) {
        while self.pop().is_some() {}
    }
}

/// A route, as the IP layer returns it.
///
/// INVARIANT: holds a reference on `dst`.
pub(crate) struct Dst(NonNull<bindings::dst_entry>);

impl Dst {
    /// Takes over the reference a route lookup returned (an `ERR_PTR` on
    /// failure, which becomes the error).
    ///
    /// # Safety
    ///
    /// `dst` must be a referenced `dst_entry` or an `ERR_PTR`; ownership of
    /// the reference passes to this function.
    pub(crate) unsafe fn from_lookup(dst: *mut bindings::dst_entry) -> Result<Self> {
        let dst = kernel::error::from_err_ptr(dst)?;
        // INVARIANT: A referenced route (caller).
        NonNull::new(dst).map(Dst).ok_or(EHOSTUNREACH)
    }

    /// Another reference on the same route.
    pub(crate) fn clone_ref(&self) -> Self {
        // SAFETY: Referenced (type invariant), so live.
        unsafe { bindings::rxe_rs_dst_hold(self.0.as_ptr()) };
        // INVARIANT: The reference just taken.
        Dst(self.0)
    }

    /// The validity cookie to check the route against later.
    pub(crate) fn cookie(&self, ipv6: bool) -> u32 {
        // SAFETY: Referenced (type invariant). When `ipv6` is set the route
        // came from an IPv6 lookup: an `rt6_info`'s `dst`, or an xfrm
        // bundle's, whose `xfrm_dst` begins with an `rt6_info` too (the C
        // rxe reads the cookie of the same lookup the same way).
        unsafe { bindings::rxe_rs_dst_cookie(self.0.as_ptr(), ipv6) }
    }

    /// Whether the IP layer still stands by the route (it obsoletes routes
    /// when the tables or the netdev change).
    pub(crate) fn is_valid(&self, cookie: u32) -> bool {
        // SAFETY: Referenced (type invariant); `dst_check` neither takes
        // nor drops a reference.
        !unsafe { bindings::rxe_rs_dst_check(self.0.as_ptr(), cookie) }.is_null()
    }
}

// SAFETY: A route reference may be used and released from any thread:
// `dst_release` may be called in any context, and frees through RCU.
unsafe impl Send for Dst {}

impl Drop for Dst {
    fn drop(&mut self) {
        // SAFETY: The reference held (type invariant).
        unsafe { bindings::dst_release(self.0.as_ptr()) };
    }
}

/// A packet being built for sending.
///
/// INVARIANT: owns `skb` (freed on drop unless handed to the IP layer by
/// [`TxSkb::into_raw`]); its data is linear.
pub(crate) struct TxSkb(NonNull<bindings::sk_buff>);

// SAFETY: An skb nobody else holds may be filled, sent or freed from any
// thread.
unsafe impl Send for TxSkb {}

impl TxSkb {
    /// An skb with `len` bytes of data and room before them for `hdr_room`
    /// bytes of headers plus `ndev`'s link-layer headers.
    ///
    /// # Safety
    ///
    /// `ndev` must be a live netdev.
    pub(crate) unsafe fn alloc(
        ndev: *mut bindings::net_device,
        hdr_room: usize,
        len: usize,
    ) -> Result<Self> {
        let hdr_room = u32::try_from(hdr_room).map_err(|_| EMSGSIZE)?;
        let len = u32::try_from(len).map_err(|_| EMSGSIZE)?;
        // SAFETY: `ndev` is live (caller).
        let skb = unsafe { bindings::rxe_rs_alloc_tx_skb(ndev, hdr_room, len) };
        // INVARIANT: A fresh, linear skb, ours.
        NonNull::new(skb).map(TxSkb).ok_or(ENOMEM)
    }

    /// The data: the headers pushed so far and what follows.
    pub(crate) fn data_mut(&mut self) -> &mut [u8] {
        let skb = self.0.as_ptr();
        // SAFETY: We own the linear skb (type invariant) and borrow it
        // mutably: its `len` bytes from `data` are ours to write.
        unsafe {
            let data = bindings::rxe_rs_skb_data(skb);
            let len = bindings::rxe_rs_skb_len(skb) as usize;
            core::slice::from_raw_parts_mut(data, len)
        }
    }

    /// The length of the data.
    pub(crate) fn len(&self) -> usize {
        // SAFETY: We own the skb.
        unsafe { bindings::rxe_rs_skb_len(self.0.as_ptr()) as usize }
    }

    /// Pushes `len` bytes for the transport (UDP) header.
    ///
    /// # Safety
    ///
    /// The headroom must hold `len` more bytes (reserved by `alloc`).
    pub(crate) unsafe fn push_transport(&mut self, len: u32) {
        // SAFETY: Ours; the caller promises the room.
        unsafe { bindings::rxe_rs_skb_push_transport(self.0.as_ptr(), len) };
    }

    /// Pushes `len` bytes for the network header of ethertype `proto`.
    ///
    /// # Safety
    ///
    /// The headroom must hold `len` more bytes (reserved by `alloc`).
    pub(crate) unsafe fn push_network(&mut self, len: u32, proto: u16) {
        // SAFETY: Ours; the caller promises the room.
        unsafe { bindings::rxe_rs_skb_push_network(self.0.as_ptr(), len, proto) };
    }

    /// Attaches the route the packet is to take.
    pub(crate) fn set_dst(&mut self, dst: Dst) {
        let dst = core::mem::ManuallyDrop::new(dst);
        // SAFETY: We own the skb; it takes over the route's reference.
        unsafe { bindings::rxe_rs_skb_dst_set(self.0.as_ptr(), dst.0.as_ptr()) };
    }

    /// Hands the skb over (to the IP layer, which frees it).
    pub(crate) fn into_raw(self) -> *mut bindings::sk_buff {
        core::mem::ManuallyDrop::new(self).0.as_ptr()
    }
}

impl Drop for TxSkb {
    fn drop(&mut self) {
        // SAFETY: We own the skb; it is dropped once.
        unsafe { bindings::rxe_rs_kfree_skb(self.0.as_ptr()) };
    }
}
