/* SPDX-License-Identifier: GPL-2.0 */
/*
 * rxe-rs's own uverbs methods (live migration): their ids and argument
 * structures, the ABI that rxe-ckpt speaks. The same numbers and layouts
 * are in rust/proto/src/uapi.rs, for userspace; the module checks at build
 * time that the two agree (rust/mig/methods.rs).
 *
 * All methods hang off the device object (UVERBS_OBJECT_DEVICE) and act on
 * the calling file's user context. Each takes one input structure
 * (RXE_RS_ATTR_IN, mandatory, 16 bytes or more, so always passed by
 * pointer) and answers in one output structure (RXE_RS_ATTR_OUT).
 */
#ifndef RXE_RS_UVERBS_GLUE_H
#define RXE_RS_UVERBS_GLUE_H

#include <linux/types.h>

struct ib_device;
struct ib_ucontext;

enum rxe_rs_method {
	RXE_RS_METHOD_QUERY = 0x1000,
	RXE_RS_METHOD_PAUSE = 0x1001,
	RXE_RS_METHOD_RESUME = 0x1002,
	RXE_RS_METHOD_SET_NEXT = 0x1003,
	RXE_RS_METHOD_DUMP = 0x1004,
	RXE_RS_METHOD_STAGE = 0x1005,
};

enum rxe_rs_attr {
	RXE_RS_ATTR_IN = 0x1000,
	RXE_RS_ATTR_OUT = 0x1001,
};

/* The version of this ABI; QUERY says it. */
#define RXE_RS_UAPI_VERSION 1

/* Input of QUERY, PAUSE and RESUME: flags (none defined yet). */
struct rxe_rs_mig_in {
	__u32 flags;
	__u32 reserved[3];
};

/* QUERY's answer: what the device can host. */
struct rxe_rs_query_out {
	__u32 uapi_version;
	__u32 image_version;
	__u32 next_qpn;
	__u32 next_mrn;
	__u32 flags;
	__u32 reserved[3];
};

/* PAUSE's and RESUME's answer. */
struct rxe_rs_mig_out {
	/* QPs of the context stopped (PAUSE) or resumed (RESUME). */
	__u32 qps;
	__u32 reserved[3];
};

/* SET_NEXT's input: the numbers the next QP and MR take. */
#define RXE_RS_SET_NEXT_QPN 1
#define RXE_RS_SET_NEXT_MRN 2
struct rxe_rs_set_next_in {
	__u32 flags;
	__u32 qpn;
	__u32 mrn;
	__u32 reserved;
};

/*
 * DUMP's input: where to write the checkpoint image of the context (the
 * format is rust/proto/src/image.rs). buf 0 asks only for its size. Every
 * QP that can be stopped must be (PAUSE) first: EBUSY otherwise. ENOSPC
 * if len is short of the image. fds points to nfds rxe_rs_fd_pairs: the
 * process's event files, as the caller's copies of them and the numbers
 * the process has them at, which the image records (the core forgets an
 * event file's fd number once it is installed, and fds move). EBADF if a
 * CQ's completion channel is not among them.
 */
#define RXE_RS_DUMP_FDS_MAX 1024
struct rxe_rs_dump_in {
	__u32 flags;
	__u32 nfds;
	__aligned_u64 buf;
	__aligned_u64 len;
	__aligned_u64 fds;
};

struct rxe_rs_fd_pair {
	__u32 proc_fd;
	__u32 own_fd;
};

/* DUMP's answer: the image's bytes (written, or needed) and records. */
struct rxe_rs_dump_out {
	__aligned_u64 len;
	__u32 records;
	__u32 objects;
	__u32 reserved[4];
};

/*
 * RESTORE_STAGE's input: a checkpoint image for the calling context, to be
 * restored into it (or, with RXE_RS_STAGE_CHECK, only checked against the
 * device). Restored paths take their source address from GID sgid4
 * (IPv4) or sgid6 (IPv6) of port 1. EINVAL for a bad image; EBUSY if the
 * context has objects or a stage already; EADDRINUSE if something in it
 * conflicts with the device (the answer says what).
 */
#define RXE_RS_STAGE_CHECK 1
struct rxe_rs_stage_in {
	__u32 flags;
	__u32 sgid4;
	__u32 sgid6;
	__u32 reserved;
	__aligned_u64 buf;
	__aligned_u64 len;
};

/* What stands between an image and the device. */
#define RXE_RS_CONFLICT_FORMAT 1 /* another page size or CQ slot */
#define RXE_RS_CONFLICT_QPN 2 /* a QPN taken, no peer to announce a new one to */
#define RXE_RS_CONFLICT_MRN 4 /* an MR's key index taken */
#define RXE_RS_CONFLICT_AHN 8 /* an AH number taken */
#define RXE_RS_CONFLICT_MTU 16 /* a path MTU above the port's */
#define RXE_RS_CONFLICT_ADDR 32 /* no source GID of a path's family given */
struct rxe_rs_stage_out {
	__u32 objects;
	__u32 conflicts;
	__u32 new_qpns;
	__u32 qpns_taken;
	__u32 mrns_taken;
	__u32 ahns_taken;
	__u32 mtu_over;
	__u32 first;
};

/* Sets the device's method tables; before it is registered. */
void rxe_rs_set_driver_def(struct ib_device *ibdev);

/* The handlers, in Rust (rust/mig/methods.rs). */
int rxe_rs_uverbs_query(struct ib_ucontext *uctx, const struct rxe_rs_mig_in *in,
			struct rxe_rs_query_out *out);
int rxe_rs_uverbs_pause(struct ib_ucontext *uctx, const struct rxe_rs_mig_in *in,
			struct rxe_rs_mig_out *out);
int rxe_rs_uverbs_resume(struct ib_ucontext *uctx, const struct rxe_rs_mig_in *in,
			 struct rxe_rs_mig_out *out);
int rxe_rs_uverbs_set_next(struct ib_ucontext *uctx, const struct rxe_rs_set_next_in *in);
int rxe_rs_uverbs_dump(struct ib_ucontext *uctx, const struct rxe_rs_dump_in *in,
		       struct rxe_rs_dump_out *out);
int rxe_rs_uverbs_stage(struct ib_ucontext *uctx, const struct rxe_rs_stage_in *in,
			struct rxe_rs_stage_out *out);

/*
 * What the uverbs core keeps of a user object that a restore must give
 * back: its uverbs handle, the process's own value for it (user_handle),
 * the events the process has read (libibverbs waits at destroy until the
 * kernel's counts match its own), and whether a CQ has a completion
 * channel (which rxe_rs_fd_is_cq_channel() finds among the caller's fds).
 */
struct rxe_rs_uobj_state {
	__u32 handle;
	__u32 async_events;
	__u32 comp_events;
	__u32 has_channel;
	__u64 user_handle;
};
void rxe_rs_cq_state(const struct ib_cq *cq, struct rxe_rs_uobj_state *st);
void rxe_rs_srq_state(const struct ib_srq *srq, struct rxe_rs_uobj_state *st);
void rxe_rs_qp_state(const struct ib_qp *qp, struct rxe_rs_uobj_state *st);
/* Gives a user object being created the event counts of the one restored. */
void rxe_rs_cq_set_events(struct ib_cq *cq, __u32 async_events, __u32 comp_events);
void rxe_rs_srq_set_events(struct ib_srq *srq, __u32 async_events);
void rxe_rs_qp_set_events(struct ib_qp *qp, __u32 async_events);
/* Whether the caller's fd own_fd is cq's completion channel, or uctx's
 * async event file. */
bool rxe_rs_fd_is_cq_channel(u32 own_fd, const struct ib_cq *cq);
bool rxe_rs_fd_is_async_file(u32 own_fd, const struct ib_ucontext *uctx);

/* The IP family (4 or 6) of RoCE v2 GID index of port 1, and its 16 bytes
 * into raw (if not NULL); a negative errno if it is not one. */
int rxe_rs_gid_family(struct ib_device *ibdev, __u32 index, __u8 *raw);

/* The uverbs handles of user objects (U32_MAX for a kernel object). */
struct ib_pd;
struct ib_cq;
struct ib_srq;
struct ib_mr;
struct ib_ah;
struct ib_qp;
__u32 rxe_rs_pd_handle(const struct ib_pd *pd);
__u32 rxe_rs_cq_handle(const struct ib_cq *cq);
__u32 rxe_rs_srq_handle(const struct ib_srq *srq);
__u32 rxe_rs_mr_handle(const struct ib_mr *mr);
__u32 rxe_rs_ah_handle(const struct ib_ah *ah);
__u32 rxe_rs_qp_handle(const struct ib_qp *qp);

#endif
