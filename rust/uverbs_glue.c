// SPDX-License-Identifier: GPL-2.0
/*
 * The tables of rxe-rs's own uverbs methods (rust/uverbs_glue.h). The
 * uverbs core describes methods with C macros; the handlers here only
 * move the arguments in and out, and the Rust handlers do the work.
 */
#include <rdma/ib_verbs.h>
#include <rdma/uverbs_ioctl.h>
#include <rdma/uverbs_std_types.h>
#include <rdma/ib_user_ioctl_cmds.h>
#include <rdma/ib_cache.h>
#include <linux/file.h>
#include <net/ipv6.h>

#define UVERBS_MODULE_NAME rxe_rs_ib
#include <rdma/uverbs_named_ioctl.h>

#include "uverbs_glue.h"

/* Copies in the input structure (shorter: zero-filled; longer: its extra
 * bytes must be zero, the core checks) and finds the caller's context. */
static struct ib_ucontext *rxe_rs_method_in(struct uverbs_attr_bundle *attrs, void *in,
					    size_t len)
{
	struct ib_ucontext *uctx = ib_uverbs_get_ucontext(attrs);
	int ret;

	if (IS_ERR(uctx))
		return uctx;
	ret = _uverbs_copy_from_or_zero(in, attrs, RXE_RS_ATTR_IN, len);
	if (ret)
		return ERR_PTR(ret);
	return uctx;
}

static int UVERBS_HANDLER(RXE_RS_METHOD_QUERY)(struct uverbs_attr_bundle *attrs)
{
	struct rxe_rs_mig_in in;
	struct rxe_rs_query_out out = {};
	struct ib_ucontext *uctx = rxe_rs_method_in(attrs, &in, sizeof(in));
	int ret;

	if (IS_ERR(uctx))
		return PTR_ERR(uctx);
	ret = rxe_rs_uverbs_query(uctx, &in, &out);
	if (ret)
		return ret;
	return uverbs_copy_to_struct_or_zero(attrs, RXE_RS_ATTR_OUT, &out, sizeof(out));
}

/* PAUSE and RESUME: a mig_in in, a mig_out out, `op` in between. */
static int rxe_rs_mig_method(struct uverbs_attr_bundle *attrs,
			     int (*op)(struct ib_ucontext *, const struct rxe_rs_mig_in *,
				       struct rxe_rs_mig_out *))
{
	struct rxe_rs_mig_in in;
	struct rxe_rs_mig_out out = {};
	struct ib_ucontext *uctx = rxe_rs_method_in(attrs, &in, sizeof(in));
	int ret;

	if (IS_ERR(uctx))
		return PTR_ERR(uctx);
	ret = op(uctx, &in, &out);
	if (ret)
		return ret;
	return uverbs_copy_to_struct_or_zero(attrs, RXE_RS_ATTR_OUT, &out, sizeof(out));
}

static int UVERBS_HANDLER(RXE_RS_METHOD_PAUSE)(struct uverbs_attr_bundle *attrs)
{
	return rxe_rs_mig_method(attrs, rxe_rs_uverbs_pause);
}

static int UVERBS_HANDLER(RXE_RS_METHOD_RESUME)(struct uverbs_attr_bundle *attrs)
{
	return rxe_rs_mig_method(attrs, rxe_rs_uverbs_resume);
}

static int UVERBS_HANDLER(RXE_RS_METHOD_SET_NEXT)(struct uverbs_attr_bundle *attrs)
{
	struct rxe_rs_set_next_in in;
	struct ib_ucontext *uctx = rxe_rs_method_in(attrs, &in, sizeof(in));

	if (IS_ERR(uctx))
		return PTR_ERR(uctx);
	return rxe_rs_uverbs_set_next(uctx, &in);
}

static int UVERBS_HANDLER(RXE_RS_METHOD_DUMP)(struct uverbs_attr_bundle *attrs)
{
	struct rxe_rs_dump_in in;
	struct rxe_rs_dump_out out = {};
	struct ib_ucontext *uctx = rxe_rs_method_in(attrs, &in, sizeof(in));
	int ret;

	if (IS_ERR(uctx))
		return PTR_ERR(uctx);
	ret = rxe_rs_uverbs_dump(uctx, &in, &out);
	if (ret)
		return ret;
	return uverbs_copy_to_struct_or_zero(attrs, RXE_RS_ATTR_OUT, &out, sizeof(out));
}

/* RESTORE_STAGE answers even when it refuses for conflicts: the caller
 * learns what they are. */
static int UVERBS_HANDLER(RXE_RS_METHOD_STAGE)(struct uverbs_attr_bundle *attrs)
{
	struct rxe_rs_stage_in in;
	struct rxe_rs_stage_out out = {};
	struct ib_ucontext *uctx = rxe_rs_method_in(attrs, &in, sizeof(in));
	int ret, ret2;

	if (IS_ERR(uctx))
		return PTR_ERR(uctx);
	ret = rxe_rs_uverbs_stage(uctx, &in, &out);
	if (ret && ret != -EADDRINUSE)
		return ret;
	ret2 = uverbs_copy_to_struct_or_zero(attrs, RXE_RS_ATTR_OUT, &out, sizeof(out));
	return ret ? ret : ret2;
}

DECLARE_UVERBS_NAMED_METHOD(
	RXE_RS_METHOD_QUERY,
	UVERBS_ATTR_PTR_IN(RXE_RS_ATTR_IN, UVERBS_ATTR_STRUCT(struct rxe_rs_mig_in, reserved),
			   UA_MANDATORY),
	UVERBS_ATTR_PTR_OUT(RXE_RS_ATTR_OUT,
			    UVERBS_ATTR_STRUCT(struct rxe_rs_query_out, reserved),
			    UA_MANDATORY));

DECLARE_UVERBS_NAMED_METHOD(
	RXE_RS_METHOD_PAUSE,
	UVERBS_ATTR_PTR_IN(RXE_RS_ATTR_IN, UVERBS_ATTR_STRUCT(struct rxe_rs_mig_in, reserved),
			   UA_MANDATORY),
	UVERBS_ATTR_PTR_OUT(RXE_RS_ATTR_OUT, UVERBS_ATTR_STRUCT(struct rxe_rs_mig_out, reserved),
			    UA_MANDATORY));

DECLARE_UVERBS_NAMED_METHOD(
	RXE_RS_METHOD_RESUME,
	UVERBS_ATTR_PTR_IN(RXE_RS_ATTR_IN, UVERBS_ATTR_STRUCT(struct rxe_rs_mig_in, reserved),
			   UA_MANDATORY),
	UVERBS_ATTR_PTR_OUT(RXE_RS_ATTR_OUT, UVERBS_ATTR_STRUCT(struct rxe_rs_mig_out, reserved),
			    UA_MANDATORY));

DECLARE_UVERBS_NAMED_METHOD(
	RXE_RS_METHOD_SET_NEXT,
	UVERBS_ATTR_PTR_IN(RXE_RS_ATTR_IN,
			   UVERBS_ATTR_STRUCT(struct rxe_rs_set_next_in, reserved),
			   UA_MANDATORY));

DECLARE_UVERBS_NAMED_METHOD(
	RXE_RS_METHOD_DUMP,
	UVERBS_ATTR_PTR_IN(RXE_RS_ATTR_IN, UVERBS_ATTR_STRUCT(struct rxe_rs_dump_in, fds),
			   UA_MANDATORY),
	UVERBS_ATTR_PTR_OUT(RXE_RS_ATTR_OUT, UVERBS_ATTR_STRUCT(struct rxe_rs_dump_out, reserved),
			    UA_MANDATORY));

DECLARE_UVERBS_NAMED_METHOD(
	RXE_RS_METHOD_STAGE,
	UVERBS_ATTR_PTR_IN(RXE_RS_ATTR_IN, UVERBS_ATTR_STRUCT(struct rxe_rs_stage_in, len),
			   UA_MANDATORY),
	UVERBS_ATTR_PTR_OUT(RXE_RS_ATTR_OUT, UVERBS_ATTR_STRUCT(struct rxe_rs_stage_out, first),
			    UA_MANDATORY));

ADD_UVERBS_METHODS(rxe_rs_device_methods, UVERBS_OBJECT_DEVICE,
		   &UVERBS_METHOD(RXE_RS_METHOD_QUERY), &UVERBS_METHOD(RXE_RS_METHOD_PAUSE),
		   &UVERBS_METHOD(RXE_RS_METHOD_RESUME), &UVERBS_METHOD(RXE_RS_METHOD_SET_NEXT),
		   &UVERBS_METHOD(RXE_RS_METHOD_DUMP), &UVERBS_METHOD(RXE_RS_METHOD_STAGE));

static const struct uapi_definition rxe_rs_uapi_defs[] = {
	UAPI_DEF_CHAIN_OBJ_TREE(UVERBS_OBJECT_DEVICE, &rxe_rs_device_methods),
	{},
};

void rxe_rs_set_driver_def(struct ib_device *ibdev)
{
	ibdev->driver_def = rxe_rs_uapi_defs;
}

/*
 * The core's user objects past their ib_uobject are private to it
 * (drivers/infiniband/core/uverbs.h). These mirror the parts a restore
 * needs; when the kernel tree at hand has that header, the build checks
 * that they agree with it.
 */
struct rxe_rs_uevent_object {
	struct ib_uobject uobject;
	void *event_file;
	struct list_head event_list;
	u32 events_reported;
};

struct rxe_rs_ucq_object {
	struct rxe_rs_uevent_object uevent;
	struct list_head comp_list;
	u32 comp_events_reported;
};

/* An event file: its uobject (the file's private_data), then its event
 * queue, which begins with a spinlock. */
struct rxe_rs_event_file {
	struct ib_uobject uobj;
	spinlock_t queue_lock;
};

/* Whether the caller's fd own_fd is the event file whose uobject is uobj.
 * Compares pointers only: any file may be behind own_fd. */
static bool rxe_rs_fd_is(u32 own_fd, const struct ib_uobject *uobj)
{
	struct file *f;
	bool same;

	if (!uobj)
		return false;
	f = fget(own_fd);
	if (!f)
		return false;
	same = f->private_data == uobj;
	fput(f);
	return same;
}

bool rxe_rs_fd_is_cq_channel(u32 own_fd, const struct ib_cq *cq)
{
	struct rxe_rs_event_file *f;

	if (!cq->cq_context)
		return false;
	f = container_of((spinlock_t *)cq->cq_context, struct rxe_rs_event_file, queue_lock);
	return rxe_rs_fd_is(own_fd, &f->uobj);
}

bool rxe_rs_fd_is_async_file(u32 own_fd, const struct ib_ucontext *uctx)
{
	const struct ib_uobject *f = (const void *)READ_ONCE(uctx->ufile->default_async_file);

	return rxe_rs_fd_is(own_fd, f);
}

static void rxe_rs_uevent_state(const struct rxe_rs_uevent_object *u,
				struct rxe_rs_uobj_state *st)
{
	st->handle = u ? (u32)u->uobject.id : U32_MAX;
	st->user_handle = u ? u->uobject.user_handle : 0;
	st->async_events = u ? READ_ONCE(u->events_reported) : 0;
	st->comp_events = 0;
	st->has_channel = 0;
}

void rxe_rs_cq_state(const struct ib_cq *cq, struct rxe_rs_uobj_state *st)
{
	const struct rxe_rs_ucq_object *u = (const void *)cq->uobject;

	rxe_rs_uevent_state(u ? &u->uevent : NULL, st);
	if (u) {
		st->comp_events = READ_ONCE(u->comp_events_reported);
		st->has_channel = !!cq->cq_context;
	}
}

void rxe_rs_srq_state(const struct ib_srq *srq, struct rxe_rs_uobj_state *st)
{
	rxe_rs_uevent_state((const void *)srq->uobject, st);
}

void rxe_rs_qp_state(const struct ib_qp *qp, struct rxe_rs_uobj_state *st)
{
	rxe_rs_uevent_state((const void *)qp->uobject, st);
}

void rxe_rs_cq_set_events(struct ib_cq *cq, u32 async_events, u32 comp_events)
{
	struct rxe_rs_ucq_object *u = (void *)cq->uobject;

	if (u) {
		WRITE_ONCE(u->uevent.events_reported, async_events);
		WRITE_ONCE(u->comp_events_reported, comp_events);
	}
}

void rxe_rs_srq_set_events(struct ib_srq *srq, u32 async_events)
{
	struct rxe_rs_uevent_object *u = (void *)srq->uobject;

	if (u)
		WRITE_ONCE(u->events_reported, async_events);
}

void rxe_rs_qp_set_events(struct ib_qp *qp, u32 async_events)
{
	struct rxe_rs_uevent_object *u = (void *)qp->uobject;

	if (u)
		WRITE_ONCE(u->events_reported, async_events);
}

/*
 * Handles. The core's per-kind user objects (ib_ucq_object, ib_usrq_object,
 * ib_uqp_object) begin with their ib_uobject, through ib_uevent_object: the
 * core's own container_of()s on them rely on it.
 */
static u32 rxe_rs_uobj_handle(const struct ib_uobject *uobj)
{
	return uobj ? (u32)uobj->id : U32_MAX;
}

u32 rxe_rs_pd_handle(const struct ib_pd *pd)
{
	return rxe_rs_uobj_handle(pd->uobject);
}

u32 rxe_rs_cq_handle(const struct ib_cq *cq)
{
	return rxe_rs_uobj_handle((const struct ib_uobject *)cq->uobject);
}

u32 rxe_rs_srq_handle(const struct ib_srq *srq)
{
	return rxe_rs_uobj_handle((const struct ib_uobject *)srq->uobject);
}

u32 rxe_rs_mr_handle(const struct ib_mr *mr)
{
	return rxe_rs_uobj_handle(mr->uobject);
}

u32 rxe_rs_ah_handle(const struct ib_ah *ah)
{
	return rxe_rs_uobj_handle(ah->uobject);
}

u32 rxe_rs_qp_handle(const struct ib_qp *qp)
{
	return rxe_rs_uobj_handle((const struct ib_uobject *)qp->uobject);
}

int rxe_rs_gid_family(struct ib_device *ibdev, u32 index, u8 *raw)
{
	const struct ib_gid_attr *attr = rdma_get_gid_attr(ibdev, 1, index);
	int ret;

	if (IS_ERR(attr))
		return PTR_ERR(attr);
	if (attr->gid_type != IB_GID_TYPE_ROCE_UDP_ENCAP) {
		ret = -EINVAL;
	} else {
		ret = ipv6_addr_v4mapped((const struct in6_addr *)attr->gid.raw) ? 4 : 6;
		if (raw)
			memcpy(raw, attr->gid.raw, sizeof(attr->gid.raw));
	}
	rdma_put_gid_attr(attr);
	return ret;
}

/* The mirrors above, checked against the core's own layouts. */
#ifdef RXE_RS_CORE_UVERBS_H
/* The core's header names its own methods' module: last, after ours. */
#undef UVERBS_MODULE_NAME
#include RXE_RS_CORE_UVERBS_H
static_assert(offsetof(struct ib_uevent_object, uobject) == 0);
static_assert(offsetof(struct ib_uevent_object, event_file) ==
	      offsetof(struct rxe_rs_uevent_object, event_file));
static_assert(offsetof(struct ib_uevent_object, events_reported) ==
	      offsetof(struct rxe_rs_uevent_object, events_reported));
static_assert(offsetof(struct ib_ucq_object, uevent) == 0);
static_assert(offsetof(struct ib_ucq_object, comp_events_reported) ==
	      offsetof(struct rxe_rs_ucq_object, comp_events_reported));
static_assert(offsetof(struct ib_uqp_object, uevent) == 0);
static_assert(offsetof(struct ib_usrq_object, uevent) == 0);
static_assert(offsetof(struct ib_uverbs_completion_event_file, uobj) == 0);
static_assert(offsetof(struct ib_uverbs_completion_event_file, ev_queue) ==
	      offsetof(struct rxe_rs_event_file, queue_lock));
static_assert(offsetof(struct ib_uverbs_async_event_file, uobj) == 0);
static_assert(offsetof(struct ib_uverbs_event_queue, lock) == 0);
#endif
