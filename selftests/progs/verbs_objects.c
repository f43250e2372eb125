// SPDX-License-Identifier: GPL-2.0
/*
 * Object verbs against an rxe device, through the stock rdma-core provider:
 *   verbs_objects DEV cq     completion queues: sizes, mapped rings, resize,
 *                            notification, and the refusals
 *   verbs_objects DEV mr     memory regions: user memory of several sizes
 *                            and alignments, keys, and the refusals
 *   verbs_objects DEV srq    shared receive queues: sizes, query, limit,
 *                            resize, a QP on an SRQ, and the refusals
 *   verbs_objects DEV qp     queue pairs: RC, UC and UD with mapped rings,
 *                            the state machine with its attributes,
 *                            queries, and the refusals
 * Prints one line per check; exit 0 when all hold, the failure on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <infiniband/verbs.h>

static int failed;

#define CHECK(cond, ...)                                        \
	do {                                                    \
		if (cond) {                                     \
			printf("ok: " __VA_ARGS__);             \
			printf("\n");                           \
		} else {                                        \
			fprintf(stderr, "FAIL: " __VA_ARGS__);  \
			fprintf(stderr, " (errno %s)\n", strerror(errno)); \
			failed = 1;                             \
		}                                               \
	} while (0)

static struct ibv_context *open_dev(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *ctx = NULL;

	for (int i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			ctx = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	if (!ctx)
		fprintf(stderr, "cannot open %s: %s\n", name, strerror(errno));
	return ctx;
}

static void cq_sizes(struct ibv_context *ctx, int max_cqe)
{
	int sizes[] = { 1, 2, 63, 64, 1000, max_cqe };
	struct ibv_wc wc[4];

	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct ibv_cq *cq = ibv_create_cq(ctx, sizes[i], NULL, NULL, 0);

		CHECK(cq && cq->cqe >= sizes[i], "create_cq(%d) gives >= %d entries (%d)",
		      sizes[i], sizes[i], cq ? cq->cqe : -1);
		if (!cq)
			continue;
		CHECK(ibv_poll_cq(cq, 4, wc) == 0, "a fresh CQ of %d polls empty", sizes[i]);
		CHECK(ibv_destroy_cq(cq) == 0, "destroy_cq(%d)", sizes[i]);
	}
}

static void cq_resize_notify(struct ibv_context *ctx)
{
	struct ibv_comp_channel *ch = ibv_create_comp_channel(ctx);
	struct ibv_cq *cq;
	struct ibv_wc wc;

	CHECK(ch != NULL, "create_comp_channel");
	if (!ch)
		return;
	cq = ibv_create_cq(ctx, 16, NULL, ch, 0);
	CHECK(cq != NULL, "create_cq with a completion channel");
	if (!cq)
		return;
	CHECK(ibv_req_notify_cq(cq, 0) == 0, "req_notify_cq (next completion)");
	CHECK(ibv_req_notify_cq(cq, 1) == 0, "req_notify_cq (solicited only)");
	CHECK(ibv_resize_cq(cq, 1000) == 0 && cq->cqe >= 1000, "resize_cq 16 -> 1000 (%d)",
	      cq->cqe);
	CHECK(ibv_poll_cq(cq, 1, &wc) == 0, "the resized ring is mapped and empty");
	CHECK(ibv_resize_cq(cq, 4) == 0 && cq->cqe >= 4, "resize_cq 1000 -> 4 (%d)", cq->cqe);
	CHECK(ibv_poll_cq(cq, 1, &wc) == 0, "the shrunk ring is mapped and empty");
	CHECK(ibv_destroy_cq(cq) == 0, "destroy_cq after resizes");
	CHECK(ibv_destroy_comp_channel(ch) == 0, "destroy_comp_channel");
}

static void cq_refusals(struct ibv_context *ctx, int max_cqe)
{
	struct ibv_cq *cq;

	errno = 0;
	cq = ibv_create_cq(ctx, max_cqe + 1, NULL, NULL, 0);
	CHECK(!cq && errno == EINVAL, "create_cq(max_cqe + 1) refused with EINVAL");
	if (cq)
		ibv_destroy_cq(cq);
	errno = 0;
	cq = ibv_create_cq(ctx, -1, NULL, NULL, 0);
	CHECK(!cq && errno == EINVAL, "create_cq(-1) refused with EINVAL");
	if (cq)
		ibv_destroy_cq(cq);
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	if (cq) {
		errno = 0;
		CHECK(ibv_resize_cq(cq, max_cqe + 1) == EINVAL || errno == EINVAL,
		      "resize_cq(max_cqe + 1) refused with EINVAL");
		CHECK(ibv_poll_cq(cq, 1, &(struct ibv_wc){ 0 }) == 0,
		      "the CQ still works after a refused resize");
		ibv_destroy_cq(cq);
	}
}

static int cq(struct ibv_context *ctx)
{
	struct ibv_device_attr attr;
	struct ibv_cq *many[200];

	if (ibv_query_device(ctx, &attr)) {
		fprintf(stderr, "query_device: %s\n", strerror(errno));
		return 1;
	}
	cq_sizes(ctx, attr.max_cqe);
	cq_resize_notify(ctx);
	cq_refusals(ctx, attr.max_cqe);
	for (int i = 0; i < 200; i++)
		many[i] = ibv_create_cq(ctx, 64, NULL, NULL, 0);
	int made = 0;

	for (int i = 0; i < 200; i++)
		if (many[i]) {
			made++;
			ibv_destroy_cq(many[i]);
		}
	CHECK(made == 200, "200 CQs at once (%d)", made);
	return failed;
}

static void mr_sizes(struct ibv_pd *pd)
{
	size_t page = sysconf(_SC_PAGESIZE);
	size_t sizes[] = { 1, 100, page, page + 1, 3 * page - 5, 1 << 20 };
	size_t offs[] = { 0, 1, 7, page - 1 };
	char *buf = mmap(NULL, (1 << 20) + 2 * page, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	uint32_t last_lkey = 0;

	if (buf == MAP_FAILED)
		return;
	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (unsigned int j = 0; j < sizeof(offs) / sizeof(offs[0]); j++) {
			struct ibv_mr *mr = ibv_reg_mr(pd, buf + offs[j], sizes[i], access);

			CHECK(mr && mr->lkey && mr->rkey == mr->lkey && mr->lkey != last_lkey,
			      "reg_mr %zu bytes at offset %zu: lkey %#x", sizes[i], offs[j],
			      mr ? mr->lkey : 0);
			if (!mr)
				continue;
			last_lkey = mr->lkey;
			CHECK(ibv_dereg_mr(mr) == 0, "dereg_mr");
		}
	struct ibv_mr *local = ibv_reg_mr(pd, buf, page, IBV_ACCESS_LOCAL_WRITE);

	CHECK(local && local->lkey && local->rkey == 0, "a local-only MR has no rkey");
	if (local)
		ibv_dereg_mr(local);
	munmap(buf, (1 << 20) + 2 * page);
}

static void mr_refusals(struct ibv_context *ctx, struct ibv_pd *pd)
{
	size_t page = sysconf(_SC_PAGESIZE);
	char *buf = malloc(page);
	struct ibv_mr *mr;

	errno = 0;
	mr = ibv_reg_mr(pd, buf, 0, IBV_ACCESS_LOCAL_WRITE);
	CHECK(!mr && errno == EINVAL, "reg_mr of 0 bytes refused with EINVAL");
	errno = 0;
	mr = ibv_reg_mr(pd, (void *)page, page, IBV_ACCESS_LOCAL_WRITE);
	CHECK(!mr && errno == EFAULT, "reg_mr of unmapped memory refused with EFAULT");
	errno = 0;
	mr = ibv_reg_mr(pd, buf, page, IBV_ACCESS_REMOTE_WRITE);
	CHECK(!mr && errno == EINVAL, "remote write without local write refused with EINVAL");
	if (mr)
		ibv_dereg_mr(mr);
	char *ro = mmap(NULL, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	errno = 0;
	mr = ibv_reg_mr(pd, ro, page, IBV_ACCESS_LOCAL_WRITE);
	CHECK(!mr && errno == EFAULT, "writable MR over read-only memory refused with EFAULT");
	if (mr)
		ibv_dereg_mr(mr);
	mr = ibv_reg_mr(pd, ro, page, 0);
	CHECK(mr != NULL, "read-only MR over read-only memory");
	if (mr)
		ibv_dereg_mr(mr);
	munmap(ro, page);
	free(buf);
	(void)ctx;
}

static int mr(struct ibv_context *ctx)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);

	if (!pd) {
		fprintf(stderr, "alloc_pd: %s\n", strerror(errno));
		return 1;
	}
	mr_sizes(pd);
	mr_refusals(ctx, pd);
	CHECK(ibv_dealloc_pd(pd) == 0, "dealloc_pd after the MRs");
	return failed;
}

/* A RoCEv2 GID with an IPv4 address, or -1. */
static int v4_gid_index(struct ibv_context *ctx, union ibv_gid *gid)
{
	struct ibv_port_attr port;

	if (ibv_query_port(ctx, 1, &port))
		return -1;
	for (int i = 0; i < port.gid_tbl_len; i++) {
		struct ibv_gid_entry e;

		if (ibv_query_gid_ex(ctx, 1, i, &e, 0))
			continue;
		/*
		 * ::ffff:a.b.c.d, all of it: a link-local GID made from a MAC
		 * whose third byte is 0xff has 0xff in bytes 10 and 11 too.
		 */
		static const uint8_t v4_prefix[12] = { [10] = 0xff, [11] = 0xff };

		if (e.gid_type == IBV_GID_TYPE_ROCE_V2 &&
		    !memcmp(e.gid.raw, v4_prefix, sizeof(v4_prefix))) {
			*gid = e.gid;
			return i;
		}
	}
	return -1;
}

static struct ibv_qp *make_qp(struct ibv_pd *pd, struct ibv_cq *cq, enum ibv_qp_type type,
			      struct ibv_qp_cap cap)
{
	struct ibv_qp_init_attr init = {
		.send_cq = cq, .recv_cq = cq, .cap = cap, .qp_type = type,
	};
	struct ibv_qp *qp = ibv_create_qp(pd, &init);

	if (qp && (init.cap.max_send_wr < cap.max_send_wr || init.cap.max_recv_wr < cap.max_recv_wr ||
		   init.cap.max_send_sge < cap.max_send_sge ||
		   init.cap.max_inline_data < cap.max_inline_data)) {
		fprintf(stderr, "create_qp gave less than asked\n");
		failed = 1;
	}
	return qp;
}

static int to_init(struct ibv_qp *qp, enum ibv_qp_type type)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_INIT, .port_num = 1, .pkey_index = 0 };
	int mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT;

	if (type == IBV_QPT_UD) {
		a.qkey = 0x11111111;
		mask |= IBV_QP_QKEY;
	} else {
		a.qp_access_flags = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
		mask |= IBV_QP_ACCESS_FLAGS;
	}
	return ibv_modify_qp(qp, &a, mask);
}

static int to_rtr(struct ibv_qp *qp, enum ibv_qp_type type, int sgid, union ibv_gid *dgid)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RTR };
	int mask = IBV_QP_STATE;

	if (type != IBV_QPT_UD) {
		a.path_mtu = IBV_MTU_1024;
		a.dest_qp_num = 0x123456;
		a.rq_psn = 0xabcdef;
		a.ah_attr.is_global = 1;
		a.ah_attr.grh.dgid = *dgid;
		a.ah_attr.grh.sgid_index = sgid;
		a.ah_attr.grh.hop_limit = 64;
		a.ah_attr.port_num = 1;
		mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN;
	}
	if (type == IBV_QPT_RC) {
		a.max_dest_rd_atomic = 3;
		a.min_rnr_timer = 12;
		mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
	}
	return ibv_modify_qp(qp, &a, mask);
}

static int to_rts(struct ibv_qp *qp, enum ibv_qp_type type)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RTS, .sq_psn = 0x1234567 };
	int mask = IBV_QP_STATE | IBV_QP_SQ_PSN;

	if (type == IBV_QPT_RC) {
		a.timeout = 14;
		a.retry_cnt = 7;
		a.rnr_retry = 7;
		a.max_rd_atomic = 5;
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
	}
	return ibv_modify_qp(qp, &a, mask);
}

static void qp_lifecycle(struct ibv_pd *pd, struct ibv_cq *cq, enum ibv_qp_type type,
			 const char *name, int sgid, union ibv_gid *gid)
{
	struct ibv_qp_cap cap = { .max_send_wr = 100, .max_recv_wr = 50, .max_send_sge = 3,
				  .max_recv_sge = 2, .max_inline_data = 64 };
	struct ibv_qp *qp = make_qp(pd, cq, type, cap);
	struct ibv_qp_attr q;
	struct ibv_qp_init_attr qi;

	CHECK(qp && qp->qp_num >= 16 && qp->qp_num < (1 << 24), "%s: create_qp gives QPN %#x",
	      name, qp ? qp->qp_num : 0);
	if (!qp)
		return;
	errno = 0;
	struct ibv_qp_attr bad = { .qp_state = IBV_QPS_RTS };

	CHECK(ibv_modify_qp(qp, &bad, IBV_QP_STATE) == EINVAL || errno == EINVAL,
	      "%s: RESET -> RTS refused with EINVAL", name);
	CHECK(to_init(qp, type) == 0, "%s: RESET -> INIT", name);
	CHECK(to_rtr(qp, type, sgid, gid) == 0, "%s: INIT -> RTR", name);
	CHECK(to_rts(qp, type) == 0, "%s: RTR -> RTS", name);
	CHECK(ibv_query_qp(qp, &q, IBV_QP_STATE | IBV_QP_CAP | IBV_QP_SQ_PSN, &qi) == 0 &&
		      q.qp_state == IBV_QPS_RTS && q.sq_psn == 0x234567 &&
		      q.cap.max_send_wr >= 100 && q.cap.max_send_sge >= 3 &&
		      qi.qp_type == type,
	      "%s: query_qp says RTS, the 24-bit sq_psn and the caps", name);
	if (type != IBV_QPT_UD)
		CHECK(q.path_mtu == IBV_MTU_1024 && q.dest_qp_num == 0x123456 &&
			      q.rq_psn == 0xabcdef && q.ah_attr.is_global &&
			      !memcmp(&q.ah_attr.grh.dgid, gid, 16),
		      "%s: query_qp returns the path", name);
	else
		CHECK(q.qkey == 0x11111111, "%s: query_qp returns the qkey", name);
	struct ibv_qp_attr e = { .qp_state = IBV_QPS_ERR };

	CHECK(ibv_modify_qp(qp, &e, IBV_QP_STATE) == 0, "%s: RTS -> ERR", name);
	struct ibv_qp_attr r = { .qp_state = IBV_QPS_RESET };

	CHECK(ibv_modify_qp(qp, &r, IBV_QP_STATE) == 0, "%s: ERR -> RESET", name);
	CHECK(to_init(qp, type) == 0, "%s: RESET -> INIT again", name);
	CHECK(ibv_destroy_qp(qp) == 0, "%s: destroy_qp", name);
}

static void qp_refusals(struct ibv_context *ctx, struct ibv_pd *pd, struct ibv_cq *cq,
			int sgid, union ibv_gid *gid)
{
	struct ibv_device_attr da;
	struct ibv_qp_cap ok = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1,
				 .max_recv_sge = 1 };
	struct ibv_qp_cap caps[4];
	const char *what[] = { "max_send_wr", "max_send_sge", "max_recv_sge", "max_inline_data" };

	ibv_query_device(ctx, &da);
	for (int i = 0; i < 4; i++)
		caps[i] = ok;
	caps[0].max_send_wr = da.max_qp_wr + 1;
	caps[1].max_send_sge = da.max_sge + 1;
	caps[2].max_recv_sge = da.max_sge + 1;
	caps[3].max_inline_data = 513;
	for (int i = 0; i < 4; i++) {
		struct ibv_qp_init_attr init = {
			.send_cq = cq, .recv_cq = cq, .cap = caps[i], .qp_type = IBV_QPT_RC,
		};
		struct ibv_qp *qp;

		errno = 0;
		qp = ibv_create_qp(pd, &init);
		CHECK(!qp && errno == EINVAL, "create_qp with %s over the limit refused with EINVAL",
		      what[i]);
		if (qp)
			ibv_destroy_qp(qp);
	}
	struct ibv_qp *qp = make_qp(pd, cq, IBV_QPT_RC, ok);

	if (!qp)
		return;
	to_init(qp, IBV_QPT_RC);
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RTR, .path_mtu = 6, .dest_qp_num = 1,
				 .max_dest_rd_atomic = 1, .min_rnr_timer = 1 };

	a.ah_attr.is_global = 1;
	a.ah_attr.grh.dgid = *gid;
	a.ah_attr.grh.sgid_index = sgid;
	a.ah_attr.port_num = 1;
	int mask = IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
		   IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;

	errno = 0;
	CHECK(ibv_modify_qp(qp, &a, mask) != 0, "RTR with path MTU 6 refused");
	a.path_mtu = IBV_MTU_1024;
	a.max_dest_rd_atomic = 255;
	CHECK(ibv_modify_qp(qp, &a, mask) != 0, "RTR with 255 responder resources refused");
	a.max_dest_rd_atomic = 1;
	a.ah_attr.is_global = 0;
	CHECK(ibv_modify_qp(qp, &a, mask) != 0, "RTR without a GRH refused");
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.sgid_index = 200;
	CHECK(ibv_modify_qp(qp, &a, mask) != 0, "RTR with a bad GID index refused");
	a.ah_attr.grh.sgid_index = sgid;
	CHECK(ibv_modify_qp(qp, &a, mask) == 0, "RTR with good attributes after the refusals");
	struct ibv_qp_attr t = { .qp_state = IBV_QPS_RTS, .timeout = 32, .retry_cnt = 7,
				 .rnr_retry = 7, .max_rd_atomic = 1 };

	CHECK(ibv_modify_qp(qp, &t, IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT |
					   IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
					   IBV_QP_MAX_QP_RD_ATOMIC) != 0,
	      "RTS with timeout 32 refused");
	struct ibv_qp_attr q;
	struct ibv_qp_init_attr qi;

	CHECK(ibv_query_qp(qp, &q, IBV_QP_STATE, &qi) == 0 && q.qp_state == IBV_QPS_RTR,
	      "the QP stays in RTR after a refused modify");
	ibv_destroy_qp(qp);
}

static int qp(struct ibv_context *ctx)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_cq *cq = ibv_create_cq(ctx, 256, NULL, NULL, 0);
	union ibv_gid gid;
	int sgid = v4_gid_index(ctx, &gid);

	if (!pd || !cq || sgid < 0) {
		fprintf(stderr, "setup: pd %p cq %p gid index %d: %s\n", (void *)pd, (void *)cq,
			sgid, strerror(errno));
		return 1;
	}
	qp_lifecycle(pd, cq, IBV_QPT_RC, "RC", sgid, &gid);
	qp_lifecycle(pd, cq, IBV_QPT_UC, "UC", sgid, &gid);
	qp_lifecycle(pd, cq, IBV_QPT_UD, "UD", sgid, &gid);
	qp_refusals(ctx, pd, cq, sgid, &gid);
	errno = 0;
	CHECK(ibv_destroy_cq(cq) == 0, "destroy_cq once its QPs are gone");
	CHECK(ibv_dealloc_pd(pd) == 0, "dealloc_pd once its QPs are gone");
	return failed;
}

static int srq(struct ibv_context *ctx)
{
	struct ibv_device_attr da;
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_cq *cq = ibv_create_cq(ctx, 64, NULL, NULL, 0);
	struct ibv_srq_init_attr init = { .attr = { .max_wr = 100, .max_sge = 2, .srq_limit = 0 } };
	struct ibv_srq_attr a;
	struct ibv_srq *s;

	if (!pd || !cq || ibv_query_device(ctx, &da)) {
		fprintf(stderr, "setup: %s\n", strerror(errno));
		return 1;
	}
	s = ibv_create_srq(pd, &init);
	CHECK(s && init.attr.max_wr >= 100, "create_srq(100 WRs, 2 SGEs) gives %u", init.attr.max_wr);
	if (!s)
		return 1;
	CHECK(ibv_query_srq(s, &a) == 0 && a.max_wr >= 100 && a.max_sge == 2 && a.srq_limit == 0,
	      "query_srq: max_wr %u, max_sge %u, limit %u", a.max_wr, a.max_sge, a.srq_limit);
	a.srq_limit = 10;
	CHECK(ibv_modify_srq(s, &a, IBV_SRQ_LIMIT) == 0, "modify_srq arms a limit of 10");
	CHECK(ibv_query_srq(s, &a) == 0 && a.srq_limit == 10, "query_srq says limit 10");
	a.max_wr = 500;
	CHECK(ibv_modify_srq(s, &a, IBV_SRQ_MAX_WR) == 0, "modify_srq resizes to 500");
	CHECK(ibv_query_srq(s, &a) == 0 && a.max_wr >= 500, "query_srq says %u WRs", a.max_wr);
	struct ibv_recv_wr rwr = { .wr_id = 7 }, *bad;

	CHECK(ibv_post_srq_recv(s, &rwr, &bad) == 0, "post_srq_recv into the resized ring");
	a.srq_limit = 100000;
	errno = 0;
	CHECK(ibv_modify_srq(s, &a, IBV_SRQ_LIMIT) != 0, "a limit above the size is refused");
	struct ibv_qp_init_attr qi = {
		.send_cq = cq, .recv_cq = cq, .srq = s, .qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 4, .max_send_sge = 1 },
	};
	struct ibv_qp *qp = ibv_create_qp(pd, &qi);

	CHECK(qp != NULL, "create_qp on the SRQ");
	errno = 0;
	CHECK(ibv_destroy_srq(s) != 0, "destroy_srq refused while a QP uses it");
	if (qp)
		CHECK(ibv_destroy_qp(qp) == 0, "destroy_qp on the SRQ");
	CHECK(ibv_destroy_srq(s) == 0, "destroy_srq");
	struct ibv_srq_init_attr big = { .attr = { .max_wr = da.max_srq_wr + 1, .max_sge = 1 } };

	errno = 0;
	s = ibv_create_srq(pd, &big);
	CHECK(!s && errno == EINVAL, "create_srq over max_srq_wr refused with EINVAL");
	struct ibv_srq_init_attr sge = { .attr = { .max_wr = 4, .max_sge = da.max_srq_sge + 1 } };

	errno = 0;
	s = ibv_create_srq(pd, &sge);
	CHECK(!s && errno == EINVAL, "create_srq over max_srq_sge refused with EINVAL");
	ibv_destroy_cq(cq);
	ibv_dealloc_pd(pd);
	return failed;
}

int main(int argc, char **argv)
{
	struct ibv_context *ctx;
	int ret = 2;

	if (argc < 3) {
		fprintf(stderr, "usage: verbs_objects DEV cq|mr|qp|srq\n");
		return 2;
	}
	ctx = open_dev(argv[1]);
	if (!ctx)
		return 1;
	if (!strcmp(argv[2], "cq"))
		ret = cq(ctx);
	else if (!strcmp(argv[2], "mr"))
		ret = mr(ctx);
	else if (!strcmp(argv[2], "qp"))
		ret = qp(ctx);
	else if (!strcmp(argv[2], "srq"))
		ret = srq(ctx);
	ibv_close_device(ctx);
	return ret;
}
