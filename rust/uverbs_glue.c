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
	UVERBS_ATTR_PTR_IN(RXE_RS_ATTR_IN, UVERBS_ATTR_STRUCT(struct rxe_rs_dump_in, reserved2),
			   UA_MANDATORY),
	UVERBS_ATTR_PTR_OUT(RXE_RS_ATTR_OUT, UVERBS_ATTR_STRUCT(struct rxe_rs_dump_out, reserved),
			    UA_MANDATORY));

ADD_UVERBS_METHODS(rxe_rs_device_methods, UVERBS_OBJECT_DEVICE,
		   &UVERBS_METHOD(RXE_RS_METHOD_QUERY), &UVERBS_METHOD(RXE_RS_METHOD_PAUSE),
		   &UVERBS_METHOD(RXE_RS_METHOD_RESUME), &UVERBS_METHOD(RXE_RS_METHOD_SET_NEXT),
		   &UVERBS_METHOD(RXE_RS_METHOD_DUMP));

static const struct uapi_definition rxe_rs_uapi_defs[] = {
	UAPI_DEF_CHAIN_OBJ_TREE(UVERBS_OBJECT_DEVICE, &rxe_rs_device_methods),
	{},
};

void rxe_rs_set_driver_def(struct ib_device *ibdev)
{
	ibdev->driver_def = rxe_rs_uapi_defs;
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
