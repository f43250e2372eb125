// SPDX-License-Identifier: GPL-2.0
/*
 * The fixture the two-device verbs test programs share (verbs_errors.c,
 * verbs_drain.c): two rxe devices opened in one process (RDMA devices are
 * shared across network namespaces), each with a PD and a buffer
 * registered with every access, and connected QP pairs between them,
 * through the stock rdma-core provider. Header-only: each program is one
 * translation unit; what a program does not use costs nothing.
 */
#ifndef RXE_RS_VERBS_PAIR_H
#define RXE_RS_VERBS_PAIR_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
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

#ifndef BUF_SIZE
#define BUF_SIZE (64 * 1024)
#endif
#define PSN 0x100
#define FULL_ACCESS (IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
		     IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)
#define QKEY 0x11111111
/* Work requests each queue of a pair's QPs holds. */
#ifndef PAIR_WR
#define PAIR_WR 16
#endif
/* How long a completion that should come may take (TCG is slow). */
#define WAIT_MS 10000
/* How long to watch for one that should not come. */
#define QUIET_MS 300

struct dev {
	const char *name;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	union ibv_gid gid;
	int gidx;
	char *buf;
	struct ibv_mr *mr;	/* all of buf, every access */
};

struct end {
	struct dev *d;
	struct ibv_cq *cq;	/* send and receive completions */
	struct ibv_qp *qp;
};

/* Connection parameters; the responder is end b. */
struct conn {
	enum ibv_qp_type type;
	int b_access;		/* b's qp_access_flags */
	int b_rd_atomic;	/* b's max_dest_rd_atomic */
	int timeout, retry_cnt, rnr_retry;	/* a's */
};

struct pair {
	struct end a, b;
};

static struct dev A, B;

static const struct conn RC = {
	.type = IBV_QPT_RC, .b_access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
					IBV_ACCESS_REMOTE_ATOMIC,
	.b_rd_atomic = 4, .timeout = 14, .retry_cnt = 3, .rnr_retry = 3,
};

static inline const char *st(enum ibv_wc_status s)
{
	return ibv_wc_status_str(s);
}

static inline const char *qps_name(int s)
{
	static const char *const n[] = { "RESET", "INIT", "RTR", "RTS", "SQD", "SQE", "ERR" };

	return s >= 0 && s < 7 ? n[s] : "?";
}

static inline long now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static inline void fill(char *p, size_t len, int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (char)(seed + i * 7);
}

static inline int filled(const char *p, size_t len, int seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != (char)(seed + i * 7))
			return 0;
	return 1;
}

static inline struct ibv_context *open_dev(const char *name)
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

/* A RoCEv2 GID with an IPv4 address, or -1. */
static inline int v4_gid_index(struct ibv_context *ctx, union ibv_gid *gid)
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

static inline void print_gid(const union ibv_gid *g)
{
	for (int i = 0; i < 16; i += 2)
		fprintf(stderr, "%s%02x%02x", i ? ":" : "", g->raw[i], g->raw[i + 1]);
}

/* The GID table as the core has it now: what a failed RTR is checked against. */
static inline void dump_gids(struct dev *d)
{
	struct ibv_port_attr port;

	if (ibv_query_port(d->ctx, 1, &port))
		return;
	for (int i = 0; i < port.gid_tbl_len; i++) {
		struct ibv_gid_entry e;

		if (ibv_query_gid_ex(d->ctx, 1, i, &e, 0))
			continue;
		fprintf(stderr, "  %s gid %d type %u ndev %u ", d->name, i, e.gid_type,
			e.ndev_ifindex);
		print_gid(&e.gid);
		fprintf(stderr, "\n");
	}
}

static inline int dev_open(struct dev *d, const char *name)
{
	d->name = name;
	d->ctx = open_dev(name);
	if (!d->ctx)
		return -1;
	d->pd = ibv_alloc_pd(d->ctx);
	d->gidx = v4_gid_index(d->ctx, &d->gid);
	d->buf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!d->pd || d->gidx < 0 || d->buf == MAP_FAILED) {
		fprintf(stderr, "%s: setup: pd %p, IPv4 GID index %d: %s\n", name, (void *)d->pd,
			d->gidx, strerror(errno));
		return -1;
	}
	d->mr = ibv_reg_mr(d->pd, d->buf, BUF_SIZE, FULL_ACCESS);
	if (!d->mr) {
		fprintf(stderr, "%s: reg_mr: %s\n", name, strerror(errno));
		return -1;
	}
	/* Async events are read without blocking. */
	fcntl(d->ctx->async_fd, F_SETFL, fcntl(d->ctx->async_fd, F_GETFL) | O_NONBLOCK);
	return 0;
}

static inline unsigned long qp_events(struct dev *d, struct ibv_qp *qp, int ms);

/* A CQ and a QP of type on d, its receives from srq if not NULL. */
static inline int end_new_srq(struct dev *d, struct end *e, enum ibv_qp_type type,
			      struct ibv_srq *srq)
{
	struct ibv_qp_init_attr init = {
		.qp_type = type, .srq = srq,
		.cap = { .max_send_wr = PAIR_WR, .max_recv_wr = PAIR_WR, .max_send_sge = 2,
			 .max_recv_sge = 2, .max_inline_data = 64 },
	};

	e->d = d;
	e->cq = ibv_create_cq(d->ctx, 2 * PAIR_WR + 96, NULL, NULL, 0);
	if (!e->cq)
		return -1;
	init.send_cq = e->cq;
	init.recv_cq = e->cq;
	e->qp = ibv_create_qp(d->pd, &init);
	return e->qp ? 0 : -1;
}

static inline int end_new(struct dev *d, struct end *e, enum ibv_qp_type type)
{
	return end_new_srq(d, e, type, NULL);
}

static inline void end_free(struct end *e)
{
	if (e->qp) {
		qp_events(e->d, NULL, 0);
		ibv_destroy_qp(e->qp);
	}
	if (e->cq)
		ibv_destroy_cq(e->cq);
	e->qp = NULL;
	e->cq = NULL;
}

/*
 * Moves @qp to @to with @a and @mask; on failure says which move, with the
 * error ibv_modify_qp returned (it need not set errno), and sets errno.
 */
static inline int modify_to(struct ibv_qp *qp, struct ibv_qp_attr *a, int mask, const char *to)
{
	int rc = ibv_modify_qp(qp, a, mask);

	if (rc) {
		fprintf(stderr, "modify_qp of QP %#x to %s: %s\n", qp->qp_num, to, strerror(rc));
		errno = rc;
		return -1;
	}
	return 0;
}

/* RESET -> INIT -> RTR (-> RTS) towards the peer QPN on the peer device. */
static inline int connect_end(struct dev *self, struct dev *peer, struct ibv_qp *qp,
			      uint32_t peer_qpn, const struct conn *c, int access, int rd_atomic,
			      int rts)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_INIT, .port_num = 1 };
	int mask = IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT;

	if (c->type == IBV_QPT_UD) {
		a.qkey = QKEY;
		mask |= IBV_QP_QKEY;
	} else {
		a.qp_access_flags = access;
		mask |= IBV_QP_ACCESS_FLAGS;
	}
	if (modify_to(qp, &a, mask, "INIT"))
		return -1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	mask = IBV_QP_STATE;
	if (c->type != IBV_QPT_UD) {
		a.path_mtu = IBV_MTU_1024;
		a.dest_qp_num = peer_qpn;
		a.rq_psn = PSN;
		a.ah_attr.is_global = 1;
		a.ah_attr.grh.dgid = peer->gid;
		a.ah_attr.grh.sgid_index = self->gidx;
		a.ah_attr.grh.hop_limit = 64;
		a.ah_attr.port_num = 1;
		mask |= IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN;
	}
	if (c->type == IBV_QPT_RC) {
		a.max_dest_rd_atomic = rd_atomic;
		a.min_rnr_timer = 1;
		mask |= IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER;
	}
	if (modify_to(qp, &a, mask, "RTR")) {
		if (c->type != IBV_QPT_UD) {
			int e = errno;

			fprintf(stderr, "  sgid index %d, dgid ", self->gidx);
			print_gid(&peer->gid);
			fprintf(stderr, "\n");
			dump_gids(self);
			dump_gids(peer);
			errno = e;
		}
		return -1;
	}
	if (!rts)
		return 0;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = PSN;
	mask = IBV_QP_STATE | IBV_QP_SQ_PSN;
	if (c->type == IBV_QPT_RC) {
		a.timeout = c->timeout;
		a.retry_cnt = c->retry_cnt;
		a.rnr_retry = c->rnr_retry;
		a.max_rd_atomic = 4;
		mask |= IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
			IBV_QP_MAX_QP_RD_ATOMIC;
	}
	return modify_to(qp, &a, mask, "RTS");
}

/* A connected pair from A (requester, end a) to B (responder, end b). */
static inline int pair_new(struct pair *p, const struct conn *c)
{
	memset(p, 0, sizeof(*p));
	if (end_new(&A, &p->a, c->type) || end_new(&B, &p->b, c->type) ||
	    connect_end(&A, &B, p->a.qp, p->b.qp->qp_num, c, IBV_ACCESS_REMOTE_WRITE |
			IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC, 4, 1) ||
	    connect_end(&B, &A, p->b.qp, p->a.qp->qp_num, c, c->b_access, c->b_rd_atomic, 1)) {
		fprintf(stderr, "FAIL: setting up a QP pair: %s\n", strerror(errno));
		failed = 1;
		end_free(&p->a);
		end_free(&p->b);
		return -1;
	}
	return 0;
}

static inline void pair_free(struct pair *p)
{
	end_free(&p->a);
	end_free(&p->b);
}

static inline int qp_state(struct ibv_qp *qp)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr i;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &i))
		return -1;
	return a.qp_state;
}

/* Polls until n completions came or ms passed; returns how many came. */
static inline int poll_n(struct ibv_cq *cq, struct ibv_wc *wc, int n, int ms)
{
	long end = now_ms() + ms;
	int got = 0;

	while (got < n) {
		int r = ibv_poll_cq(cq, n - got, wc + got);

		if (r < 0)
			return got;
		got += r;
		if (got < n) {
			if (now_ms() > end)
				break;
			usleep(1000);
		}
	}
	return got;
}

/* The completions that come within QUIET_MS (into wc[0..max)). */
static inline int poll_quiet(struct ibv_cq *cq, struct ibv_wc *wc, int max)
{
	return poll_n(cq, wc, max, QUIET_MS);
}

static inline int post_recv(struct ibv_qp *qp, struct dev *d, size_t off, uint32_t len,
			    uint64_t wr_id)
{
	struct ibv_sge s = { .addr = (uintptr_t)d->buf + off, .length = len, .lkey = d->mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = wr_id, .sg_list = &s, .num_sge = 1 }, *bad;

	return ibv_post_recv(qp, &wr, &bad);
}

/* One send WR of opcode op with one SGE; raddr/rkey for RDMA and atomics. */
static inline struct ibv_send_wr wr1(struct ibv_sge *s, uint64_t wr_id,
				     enum ibv_wr_opcode op, uint64_t raddr, uint32_t rkey)
{
	struct ibv_send_wr w = {
		.wr_id = wr_id, .sg_list = s, .num_sge = 1, .opcode = op,
		.send_flags = IBV_SEND_SIGNALED,
	};

	if (op == IBV_WR_ATOMIC_CMP_AND_SWP || op == IBV_WR_ATOMIC_FETCH_AND_ADD) {
		w.wr.atomic.remote_addr = raddr;
		w.wr.atomic.rkey = rkey;
		w.wr.atomic.compare_add = 1;
		w.wr.atomic.swap = 2;
	} else {
		w.wr.rdma.remote_addr = raddr;
		w.wr.rdma.rkey = rkey;
	}
	return w;
}

static inline struct ibv_sge sge_of(struct dev *d, size_t off, uint32_t len)
{
	return (struct ibv_sge){ .addr = (uintptr_t)d->buf + off, .length = len,
				 .lkey = d->mr->lkey };
}

/*
 * The async events on d's context within ms: a bit per event type seen
 * for qp (any QP if NULL); all acknowledged (destroy_qp waits for that).
 */
static inline unsigned long qp_events(struct dev *d, struct ibv_qp *qp, int ms)
{
	unsigned long seen = 0;
	long end = now_ms() + ms;
	struct ibv_async_event ev;

	for (;;) {
		if (ibv_get_async_event(d->ctx, &ev)) {
			if (errno != EAGAIN || now_ms() >= end)
				break;
			usleep(2000);
			continue;
		}
		if ((!qp || ev.element.qp == qp) && ev.event_type < 64)
			seen |= 1UL << ev.event_type;
		ibv_ack_async_event(&ev);
	}
	return seen;
}

/* A fresh pair carries a send, a write and a read; the data arrives. */
static inline void good_traffic(const char *after)
{
	struct pair p;
	struct ibv_wc wc[8];
	int ok = 0;

	if (pair_new(&p, &RC))
		return;
	memset(B.buf, 0, BUF_SIZE);
	fill(A.buf, 3000, 1);
	fill(A.buf + 8192, 5000, 2);
	fill(B.buf + 16384, 5000, 3);
	memset(A.buf + 24576, 0, 5000);
	struct ibv_sge s1 = sge_of(&A, 0, 3000), s2 = sge_of(&A, 8192, 5000),
		       s3 = sge_of(&A, 24576, 5000);
	struct ibv_send_wr w1 = wr1(&s1, 1, IBV_WR_SEND, 0, 0),
			   w2 = wr1(&s2, 2, IBV_WR_RDMA_WRITE, (uintptr_t)B.buf + 8192, B.mr->rkey),
			   w3 = wr1(&s3, 3, IBV_WR_RDMA_READ, (uintptr_t)B.buf + 16384, B.mr->rkey),
			   *bad;

	w1.next = &w2;
	w2.next = &w3;
	if (!post_recv(p.b.qp, &B, 0, 4096, 9) && !ibv_post_send(p.a.qp, &w1, &bad) &&
	    poll_n(p.a.cq, wc, 3, WAIT_MS) == 3 && wc[0].status == IBV_WC_SUCCESS &&
	    wc[1].status == IBV_WC_SUCCESS && wc[2].status == IBV_WC_SUCCESS &&
	    poll_n(p.b.cq, wc + 3, 1, WAIT_MS) == 1 && wc[3].status == IBV_WC_SUCCESS &&
	    wc[3].byte_len == 3000 && filled(B.buf, 3000, 1) && filled(B.buf + 8192, 5000, 2) &&
	    filled(A.buf + 24576, 5000, 3))
		ok = 1;
	CHECK(ok, "after %s: a new QP pair carries a send, a write and a read, data checked",
	      after);
	pair_free(&p);
}

#endif /* RXE_RS_VERBS_PAIR_H */
