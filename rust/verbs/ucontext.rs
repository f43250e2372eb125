// SPDX-License-Identifier: GPL-2.0

//! User contexts: what a process opens on the device, and the register of
//! the objects it makes there. The RDMA core keeps a context's objects in
//! its own per-file table, which drivers cannot walk; a checkpoint of the
//! context (`mig::dump`) walks this register instead.

use core::ptr::addr_of_mut;

use kernel::{
    new_mutex,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{lock::mutex::MutexGuard, Mutex},
};

use crate::{bindings, mig::stage::Stage, verbs::device::RxeDev};

/// The kinds of objects a context registers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum ObjKind {
    Pd,
    Cq,
    Srq,
    Mr,
    Ah,
    Qp,
}

/// What the driver keeps of a user context: the register of its objects,
/// by the address of their core object (`ib_pd`, `ib_cq`, ...), and the
/// checkpoint image staged for its restore, if any.
///
/// INVARIANT: an address is in `map` from the end of its object's
/// successful create until the start of its destroy, so that under the
/// lock every address in it is a live object of the context, of its kind.
#[pin_data]
pub(crate) struct Objects {
    #[pin]
    map: Mutex<RBTree<usize, ObjKind>>,
    #[pin]
    stage: Mutex<Option<KBox<Stage>>>,
}

/// A user context.
#[repr(C)]
pub(crate) struct RxeUcontext {
    /// Must be first: the core allocates the object with our size.
    ibuc: bindings::ib_ucontext,
    /// Initialized by `alloc_ucontext`, dropped by `dealloc_ucontext`.
    objects: Objects,
}

/// The register of the user context `uctx`.
///
/// # Safety
///
/// `uctx` must be a context of one of our devices between
/// `alloc_ucontext` and `dealloc_ucontext`.
pub(crate) unsafe fn objects<'a>(uctx: *mut bindings::ib_ucontext) -> &'a Objects {
    // SAFETY: `ibuc` is the first field of a `#[repr(C)]` `RxeUcontext`
    // whose `objects` is initialized (caller).
    unsafe { &(*uctx.cast::<RxeUcontext>()).objects }
}

impl Objects {
    /// The register, locked: its addresses are live objects while the guard
    /// lives (type invariant).
    pub(crate) fn lock(&self) -> MutexGuard<'_, RBTree<usize, ObjKind>> {
        self.map.lock()
    }

    /// The staged image, locked.
    pub(crate) fn stage(&self) -> MutexGuard<'_, Option<KBox<Stage>>> {
        self.stage.lock()
    }
}

/// The room a user object takes in its context's register, reserved before
/// the object is made so that recording it cannot fail; `None` inside for a
/// kernel object, which no register holds.
pub(crate) struct Slot {
    room: Option<(
        *mut bindings::ib_ucontext,
        RBTreeNodeReservation<usize, ObjKind>,
    )>,
}

impl Slot {
    /// Room for an object made with `udata` (NULL: a kernel object).
    ///
    /// # Safety
    ///
    /// `udata` is NULL or the udata of a create call on a live user context
    /// of ours, which outlives the object.
    pub(crate) unsafe fn new(udata: *mut bindings::ib_udata) -> Result<Self> {
        // SAFETY: As the caller promises.
        let uctx = unsafe { bindings::rxe_rs_udata_ucontext(udata) };
        if uctx.is_null() {
            return Ok(Slot { room: None });
        }
        Ok(Slot {
            room: Some((uctx, RBTreeNodeReservation::new(GFP_KERNEL)?)),
        })
    }

    /// The context the object is made on (NULL: a kernel object).
    pub(crate) fn uctx(&self) -> *mut bindings::ib_ucontext {
        self.room
            .as_ref()
            .map_or(core::ptr::null_mut(), |(uctx, _)| *uctx)
    }

    /// Records the object at `obj`, now made.
    ///
    /// # Safety
    ///
    /// `obj` is the core object of a live object of kind `kind` of the
    /// context, which will call [`forget`] at the start of its destroy.
    pub(crate) unsafe fn fill(self, obj: *const core::ffi::c_void, kind: ObjKind) {
        if let Some((uctx, room)) = self.room {
            // SAFETY: A live context of ours (`new`'s caller).
            let objects = unsafe { objects(uctx) };
            // INVARIANT: `obj` is live and stays until `forget` (caller).
            let old = objects.lock().insert(room.into_node(obj as usize, kind));
            // A new object's address is in no other entry: nothing to drop.
            drop(old);
        }
    }
}

/// Takes the object at `obj`, made with `udata`, out of its context's
/// register: it is being destroyed.
///
/// # Safety
///
/// `udata` is NULL (a kernel object) or the udata of the destroy call, on
/// the live context the object was made on.
pub(crate) unsafe fn forget(udata: *mut bindings::ib_udata, obj: *const core::ffi::c_void) {
    // SAFETY: As the caller promises.
    unsafe { forget_in(bindings::rxe_rs_udata_ucontext(udata), obj) }
}

/// [`forget`], for an object whose destroy call has no udata: `uctx` is
/// what [`Slot::uctx`] said when it was made.
///
/// # Safety
///
/// `uctx` is NULL (a kernel object) or the live context the object was
/// made on.
pub(crate) unsafe fn forget_in(uctx: *mut bindings::ib_ucontext, obj: *const core::ffi::c_void) {
    if !uctx.is_null() {
        // SAFETY: A live context of ours (caller).
        let node = unsafe { objects(uctx) }.lock().remove_node(&(obj as usize));
        drop(node);
    }
}

/// The `alloc_ucontext` callback.
///
/// # Safety
///
/// Called by the RDMA core with a zeroed context of our size on one of our
/// devices.
pub(crate) unsafe extern "C" fn alloc_ucontext(
    ibuc: *mut bindings::ib_ucontext,
    _udata: *mut bindings::ib_udata,
) -> kernel::ffi::c_int {
    // SAFETY: The core passes a context of our device.
    let dev = unsafe { RxeDev::from_ibdev((*ibuc).device) };
    if let Err(e) = dev.state().ucontexts.take() {
        return e.to_errno();
    }
    let init = pin_init!(Objects {
        map <- new_mutex!(RBTree::new(), "rxe_rs_ucontext_objects"),
        stage <- new_mutex!(None, "rxe_rs_ucontext_stage"),
    });
    let uc = ibuc.cast::<RxeUcontext>();
    // SAFETY: `objects` is uninitialized memory in the core's allocation,
    // which stays in place until `dealloc_ucontext` drops it.
    match unsafe { init.__init(addr_of_mut!((*uc).objects)) } {
        Ok(()) => 0,
        Err(never) => match never {},
    }
}

/// The `dealloc_ucontext` callback.
///
/// # Safety
///
/// Called by the RDMA core once for a context `alloc_ucontext` made, after
/// every object of it is destroyed.
pub(crate) unsafe extern "C" fn dealloc_ucontext(ibuc: *mut bindings::ib_ucontext) {
    let uc = ibuc.cast::<RxeUcontext>();
    // SAFETY: Initialized by `alloc_ucontext`; nothing uses it any more
    // (every object is gone, and so is every method call on the context).
    unsafe { core::ptr::drop_in_place(addr_of_mut!((*uc).objects)) };
    // SAFETY: Our context's device.
    unsafe { RxeDev::from_ibdev((*ibuc).device) }
        .state()
        .ucontexts
        .give();
}

/// A user context's device is moving to another network namespace (or
/// going away) while the context is open. The rings user space mapped hold
/// their pages by page references, so they stay memory-safe until unmapped;
/// the driver no longer reads or writes them once the objects are gone.
///
/// # Safety
///
/// Called by the RDMA core with a live context of one of our devices.
pub(crate) unsafe extern "C" fn disassociate_ucontext(_ibuc: *mut bindings::ib_ucontext) {}

/// The size the core allocates for a context.
pub(crate) const SIZE: usize = size_of::<RxeUcontext>();
