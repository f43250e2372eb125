// SPDX-License-Identifier: GPL-2.0
/*
 * Hostile lengths and sizes, between two rxe devices in one process,
 * through the stock rdma-core provider:
 *   verbs_hostile DEV_A DEV_B wqe      send and receive WQEs rewritten in
 *                                      their mapped rings after the
 *                                      provider wrote them (the rings are
 *                                      user-writable, so any process may):
 *                                      SGE counts and lengths that
 *                                      overflow, bogus opcodes, addresses
 *                                      and keys, a producer index far
 *                                      ahead; each fails cleanly (an error
 *                                      completion, the QP in error) or,
 *                                      where the data still fits, lands
 *   verbs_hostile DEV_A DEV_B target PEER_IP6 SECS
 *                                      the responder end of a SEND that
 *                                      never ends (roce-flood sends it):
 *                                      an RC QP over IPv6 with a receive
 *                                      of more than 4 GiB of SGEs on an
 *                                      MR of 4 GiB + 1 MiB; prints its
 *                                      QPN, then expects the receive to
 *                                      complete as a remote invalid
 *                                      request once the message passes
 *                                      2 GiB, and the QP in error
 *   verbs_hostile DEV_A DEV_B bigqp    a QP with the device's max_qp_wr on
 *                                      both queues carries traffic
 *   verbs_hostile DEV_A DEV_B bigmr    an MR of 4 GiB + 1 MiB (one 1 MiB
 *                                      memfd mapped 4097 times: it pins
 *                                      1 MiB) is written, read and sent
 *                                      into past 4 GiB
 * Prints one line per check; exit 0 when all hold, the failures on
 * stderr.
 */
#define _GNU_SOURCE
#define BUF_SIZE (1024 * 1024)
#include "verbs_pair.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <poll.h>
#include <rdma/rdma_user_rxe.h>

/* The header of a ring the provider maps (struct rxe_queue_buf). */
#define RING_LOG2_ELEM 0
#define RING_MASK 4
#define RING_PROD 128
#define RING_HDR 384

/* The big MR: ALIAS bytes of memfd, mapped over and over. */
#define ALIAS (1UL << 20)
#define BIG ((4UL << 30) + ALIAS)

static volatile uint32_t *ring_word(char *ring, int off)
{
	return (volatile uint32_t *)(ring + off);
}

/*
 * The mapped ring of this process whose index mask is mask and whose
 * producer index is prod: the provider maps each QP's rings from the
 * uverbs device, and nothing tells where, so they are found from
 * /proc/self/maps and their headers. NULL if none or several.
 */
static char *find_ring(uint32_t mask, uint32_t prod)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512], *found = NULL;
	int n = 0;

	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;
		char *r;

		if (!strstr(line, "uverbs") || sscanf(line, "%lx-%lx", &lo, &hi) != 2 ||
		    hi - lo < RING_HDR)
			continue;
		r = (char *)lo;
		if (*ring_word(r, RING_MASK) == mask && *ring_word(r, RING_PROD) == prod) {
			found = r;
			n++;
		}
	}
	fclose(f);
	return n == 1 ? found : NULL;
}

static void *ring_slot(char *ring, uint32_t i)
{
	uint32_t mask = *ring_word(ring, RING_MASK);
	uint32_t log2 = *ring_word(ring, RING_LOG2_ELEM);

	return ring + RING_HDR + ((size_t)(i & mask) << log2);
}

/* A CQ and an RC QP of the given depths on d. */
static int end_sized(struct dev *d, struct end *e, int send_wr, int recv_wr)
{
	struct ibv_qp_init_attr init = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = send_wr, .max_recv_wr = recv_wr, .max_send_sge = 2,
			 .max_recv_sge = 2 },
	};

	e->d = d;
	e->cq = ibv_create_cq(d->ctx, 256, NULL, NULL, 0);
	if (!e->cq)
		return -1;
	init.send_cq = init.recv_cq = e->cq;
	e->qp = ibv_create_qp(d->pd, &init);
	return e->qp ? 0 : -1;
}

/* A pair whose a has an SQ of 8 slots (mask 7), b an RQ of 16 (mask 15). */
static int odd_pair(struct pair *p)
{
	memset(p, 0, sizeof(*p));
	if (end_sized(&A, &p->a, 7, 2) || end_sized(&B, &p->b, 2, 15) ||
	    connect_end(&A, &B, p->a.qp, p->b.qp->qp_num, &RC, FULL_ACCESS, 4, 1) ||
	    connect_end(&B, &A, p->b.qp, p->a.qp->qp_num, &RC, FULL_ACCESS, 4, 1)) {
		fprintf(stderr, "FAIL: setting up a QP pair: %s\n", strerror(errno));
		failed = 1;
		end_free(&p->a);
		end_free(&p->b);
		return -1;
	}
	return 0;
}

static int sqd_then_post(struct pair *p, struct ibv_send_wr *w)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_SQD };
	struct ibv_send_wr *bad;

	return ibv_modify_qp(p->a.qp, &a, IBV_QP_STATE) || ibv_post_send(p->a.qp, w, &bad);
}

enum send_tamper {
	NUM_SGE_HUGE, SGE_LEN_OVERFLOW, INLINE_TOO_LONG, OPCODE_BOGUS, ADDR_OUTSIDE,
	READ_TOO_LONG, PRODUCER_AHEAD,
};

static const char *const send_tamper_name[] = {
	"num_sge 0xffffffff", "two SGEs of 0xffffffff bytes (the sum wraps 32 bits)",
	"inline with dma.length 0xffffffff", "opcode 0xa5a5a5a5",
	"SGE address at the top of the address space",
	"RDMA READ of two SGEs of 2 GiB (4 GiB asked)",
	"producer index 5 ahead, slots of 0xa5 bytes",
};

/*
 * A send posted while A's QP is in SQD (so the requester has not read it),
 * rewritten in the ring as t says, then SQD -> RTS: the requester must
 * complete it in error and move the QP to ERR; nothing reaches B.
 */
static void send_case(enum send_tamper t)
{
	const char *what = send_tamper_name[t];
	struct pair p;
	struct ibv_sge s = sge_of(&A, 0, 16);
	struct ibv_send_wr w = wr1(&s, 1, IBV_WR_SEND, 0, 0);
	struct ibv_qp_attr rts = { .qp_state = IBV_QPS_RTS };
	struct ibv_wc wc[8];
	struct rxe_send_wqe *q;
	char *ring;
	int n, st_a, st_b;

	if (odd_pair(&p))
		return;
	if (post_recv(p.b.qp, &B, 0, 4096, 9) || sqd_then_post(&p, &w)) {
		CHECK(0, "%s: posting in SQD", what);
		goto out;
	}
	ring = find_ring(7, 1);
	if (!ring) {
		CHECK(0, "%s: the send queue's ring found in /proc/self/maps", what);
		goto out;
	}
	q = ring_slot(ring, 0);
	switch (t) {
	case NUM_SGE_HUGE:
		q->dma.num_sge = 0xffffffff;
		break;
	case SGE_LEN_OVERFLOW:
		q->dma.num_sge = 2;
		q->dma.sge[0].length = 0xffffffff;
		q->dma.sge[1] = q->dma.sge[0];
		q->dma.length = 0xfffffffe;
		break;
	case INLINE_TOO_LONG:
		q->wr.send_flags |= IBV_SEND_INLINE;
		q->dma.length = 0xffffffff;
		break;
	case OPCODE_BOGUS:
		q->wr.opcode = 0xa5a5a5a5;
		break;
	case ADDR_OUTSIDE:
		q->dma.sge[0].addr = 0xfffffffffffff000ULL;
		q->dma.sge[0].length = 4096;
		break;
	case READ_TOO_LONG:
		q->wr.opcode = IBV_WR_RDMA_READ;
		q->wr.wr.rdma.remote_addr = (uintptr_t)B.buf;
		q->wr.wr.rdma.rkey = B.mr->rkey;
		q->dma.num_sge = 2;
		q->dma.sge[0].length = 0x80000000;
		q->dma.sge[1] = q->dma.sge[0];
		break;
	case PRODUCER_AHEAD:
		for (uint32_t i = 1; i < 6; i++)
			memset(ring_slot(ring, i), 0xa5, 1U << *ring_word(ring, RING_LOG2_ELEM));
		__atomic_store_n((uint32_t *)ring_word(ring, RING_PROD), 6, __ATOMIC_RELEASE);
		q->wr.opcode = 0xa5a5a5a5;
		break;
	}
	CHECK(!ibv_modify_qp(p.a.qp, &rts, IBV_QP_STATE), "%s: SQD -> RTS", what);
	n = poll_n(p.a.cq, wc, 1, WAIT_MS);
	CHECK(n == 1 && wc[0].status != IBV_WC_SUCCESS && wc[0].wr_id == 1,
	      "%s: the WQE completes in error (%s)", what, n == 1 ? st(wc[0].status) : "none");
	st_a = qp_state(p.a.qp);
	CHECK(st_a == IBV_QPS_ERR, "%s: the requester goes to ERR (%s)", what, qps_name(st_a));
	n = poll_quiet(p.b.cq, wc, 8);
	st_b = qp_state(p.b.qp);
	CHECK(n == 0 && st_b == IBV_QPS_RTS, "%s: nothing reached the responder (%d, %s)", what,
	      n, qps_name(st_b));
out:
	pair_free(&p);
}

enum recv_tamper {
	R_NUM_SGE_HUGE, R_LEN_WRAP, R_OUTSIDE_MR, R_BAD_LKEY, R_NO_SGE, R_PRODUCER_AHEAD,
};

static const char *const recv_tamper_name[] = {
	"receive num_sge 0xffffffff and an SGE of 0xffffffff bytes in the MR",
	"receive of two SGEs of 2 GiB (the sum wraps 32 bits)",
	"receive SGE running off the end of its MR",
	"receive SGE with an lkey that names no MR",
	"receive with no SGE",
	"receive producer index far ahead, slots of 0xa5 bytes",
};

/*
 * A receive posted on B, rewritten in the ring as t says, then A sends
 * 100 bytes into it (twice for R_PRODUCER_AHEAD). Where the data still fits
 * the receive's MR it lands; where it cannot, the receive completes in
 * error (a malformed WQE, class A), the send with a remote operational
 * error, and both QPs go to ERR.
 */
static void recv_case(enum recv_tamper t)
{
	const char *what = recv_tamper_name[t];
	int lands = t == R_NUM_SGE_HUGE || t == R_LEN_WRAP;
	struct pair p;
	struct ibv_sge s = sge_of(&A, 8192, 100);
	struct ibv_send_wr w = wr1(&s, 1, IBV_WR_SEND, 0, 0), *bad;
	struct ibv_wc wc[8];
	struct rxe_recv_wqe *q;
	char *ring;
	int n, st_a, st_b;

	if (odd_pair(&p))
		return;
	memset(B.buf, 0, 8192);
	fill(A.buf + 8192, 100, 5);
	if (post_recv(p.b.qp, &B, 0, 4096, 9)) {
		CHECK(0, "%s: post_recv", what);
		goto out;
	}
	ring = find_ring(15, 1);
	if (!ring) {
		CHECK(0, "%s: the receive queue's ring found in /proc/self/maps", what);
		goto out;
	}
	q = ring_slot(ring, 0);
	switch (t) {
	case R_NUM_SGE_HUGE:
		q->dma.num_sge = 0xffffffff;
		q->dma.sge[0].length = 0xffffffff;
		break;
	case R_LEN_WRAP:
		q->dma.num_sge = 2;
		q->dma.sge[0].length = 0x80000000;
		q->dma.sge[1] = q->dma.sge[0];
		q->dma.length = 0;
		break;
	case R_OUTSIDE_MR:
		q->dma.sge[0].addr = (uintptr_t)B.buf + BUF_SIZE - 10;
		break;
	case R_BAD_LKEY:
		q->dma.sge[0].lkey = 0xdeadbe00;
		break;
	case R_NO_SGE:
		q->dma.num_sge = 0;
		q->dma.length = 0;
		break;
	case R_PRODUCER_AHEAD:
		for (uint32_t i = 1; i < 15; i++)
			memset(ring_slot(ring, i), 0xa5, 1U << *ring_word(ring, RING_LOG2_ELEM));
		__atomic_store_n((uint32_t *)ring_word(ring, RING_PROD), 0xffffffff,
				 __ATOMIC_RELEASE);
		break;
	}
	if (ibv_post_send(p.a.qp, &w, &bad)) {
		CHECK(0, "%s: post_send", what);
		goto out;
	}
	if (t == R_PRODUCER_AHEAD) {
		/* The first receive is the real one; the next is 0xa5 bytes. */
		n = poll_n(p.b.cq, wc, 1, WAIT_MS);
		CHECK(n == 1 && wc[0].status == IBV_WC_SUCCESS && wc[0].byte_len == 100 &&
		      filled(B.buf, 100, 5), "%s: the first message lands in the real receive",
		      what);
		n = poll_n(p.a.cq, wc, 1, WAIT_MS);
		CHECK(n == 1 && wc[0].status == IBV_WC_SUCCESS, "%s: its send completes", what);
		w.wr_id = 2;
		if (ibv_post_send(p.a.qp, &w, &bad)) {
			CHECK(0, "%s: second post_send", what);
			goto out;
		}
	}
	n = poll_n(p.b.cq, wc, 1, WAIT_MS);
	if (lands) {
		CHECK(n == 1 && wc[0].status == IBV_WC_SUCCESS && wc[0].byte_len == 100 &&
		      filled(B.buf, 100, 5), "%s: the message lands, data checked", what);
		n = poll_n(p.a.cq, wc, 1, WAIT_MS);
		CHECK(n == 1 && wc[0].status == IBV_WC_SUCCESS, "%s: the send completes", what);
		goto out;
	}
	CHECK(n == 1 && wc[0].status != IBV_WC_SUCCESS,
	      "%s: the receive completes in error (%s)", what, n == 1 ? st(wc[0].status) : "none");
	n = poll_n(p.a.cq, wc, 1, WAIT_MS);
	CHECK(n == 1 && wc[0].status == IBV_WC_REM_OP_ERR,
	      "%s: the send completes with a remote operational error (%s)", what,
	      n == 1 ? st(wc[0].status) : "none");
	st_a = qp_state(p.a.qp);
	st_b = qp_state(p.b.qp);
	CHECK(st_a == IBV_QPS_ERR && st_b == IBV_QPS_ERR, "%s: both QPs in ERR (%s, %s)", what,
	      qps_name(st_a), qps_name(st_b));
out:
	pair_free(&p);
}

static int wqe(void)
{
	for (int t = NUM_SGE_HUGE; t <= PRODUCER_AHEAD; t++)
		send_case(t);
	for (int t = R_NUM_SGE_HUGE; t <= R_PRODUCER_AHEAD; t++)
		recv_case(t);
	good_traffic("the hostile WQEs");
	return failed;
}

/*
 * BIG bytes of address space, every ALIAS bytes of it the same memfd:
 * what an MR above 4 GiB needs, without 4 GiB of memory. NULL on failure
 * (said).
 */
static char *alias_region(int *fd)
{
	char *base;

	*fd = memfd_create("rxe-rs-big-mr", 0);
	if (*fd < 0 || ftruncate(*fd, ALIAS)) {
		perror("memfd");
		return NULL;
	}
	base = mmap(NULL, BIG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED) {
		perror("mmap of the address range");
		return NULL;
	}
	for (unsigned long off = 0; off < BIG; off += ALIAS)
		if (mmap(base + off, ALIAS, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, *fd, 0) ==
		    MAP_FAILED) {
			perror("mmap of the memfd");
			return NULL;
		}
	return base;
}

static struct ibv_mr *big_mr(struct dev *d, char *base, int access)
{
	long t0 = now_ms();
	struct ibv_mr *mr = ibv_reg_mr(d->pd, base, BIG, access);

	CHECK(mr != NULL, "reg_mr of %lu MiB (4 GiB + 1 MiB) over a 1 MiB memfd (%ld ms)",
	      BIG >> 20, now_ms() - t0);
	return mr;
}

/* The RoCE v2 GID of d whose IPv6 address is ip6; its index, or -1. */
static int v6_gid_index(struct dev *d, const char *ip6)
{
	struct ibv_port_attr port;
	union ibv_gid want;

	if (inet_pton(AF_INET6, ip6, want.raw) != 1 || ibv_query_port(d->ctx, 1, &port))
		return -1;
	for (int i = 0; i < port.gid_tbl_len; i++) {
		struct ibv_gid_entry e;

		if (!ibv_query_gid_ex(d->ctx, 1, i, &e, 0) && e.gid_type == IBV_GID_TYPE_ROCE_V2 &&
		    !memcmp(e.gid.raw, want.raw, 16))
			return i;
	}
	return -1;
}

/*
 * The responder end of roce-flood's endless SEND: B's QP, over IPv6,
 * path MTU 4096, peer peer_ip6 with QPN 0x123, receive PSN 0.
 */
static int target(const char *peer_ip6, const char *self_ip6, int secs)
{
	struct end e;
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_INIT, .port_num = 1,
				 .qp_access_flags = IBV_ACCESS_REMOTE_WRITE };
	struct ibv_wc wc;
	int fd, gidx = v6_gid_index(&B, self_ip6), n;
	char *base = alias_region(&fd);
	struct ibv_mr *mr;

	if (!base || gidx < 0) {
		CHECK(0, "set-up: the region, the IPv6 GID %s (index %d)", self_ip6, gidx);
		return 1;
	}
	mr = big_mr(&B, base, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	if (!mr || end_sized(&B, &e, 2, 2))
		return 1;
	if (modify_to(e.qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_ACCESS_FLAGS, "INIT"))
		return 1;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_4096;
	a.dest_qp_num = 0x123;
	a.rq_psn = 0;
	a.max_dest_rd_atomic = 1;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.grh.sgid_index = gidx;
	a.ah_attr.grh.hop_limit = 64;
	a.ah_attr.port_num = 1;
	if (inet_pton(AF_INET6, peer_ip6, a.ah_attr.grh.dgid.raw) != 1 ||
	    modify_to(e.qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
			  IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER, "RTR"))
		return 1;
	/* Two SGEs of 4 GiB - 1 each: 8 GiB of room, which wraps 32 bits. */
	struct ibv_sge s[2] = {
		{ .addr = (uintptr_t)base, .length = 0xffffffff, .lkey = mr->lkey },
		{ .addr = (uintptr_t)base + ALIAS, .length = 0xffffffff, .lkey = mr->lkey },
	};
	struct ibv_recv_wr r = { .wr_id = 77, .sg_list = s, .num_sge = 2 }, *bad;

	CHECK(!ibv_post_recv(e.qp, &r, &bad), "a receive of two SGEs of 4 GiB - 1 posted");
	printf("qpn %#x\n", e.qp->qp_num);
	fflush(stdout);
	/*
	 * The refusal comes while the flood goes on; once it is over (stdin
	 * closes), a grace of 10 s, and no more.
	 */
	struct pollfd in = { .fd = 0, .events = POLLIN };
	long end = now_ms() + secs * 1000L, eof_at = 0;
	char c;

	do {
		n = poll_n(e.cq, &wc, 1, 100);
		if (!eof_at && poll(&in, 1, 0) > 0 && read(0, &c, 1) <= 0)
			eof_at = now_ms();
	} while (!n && now_ms() < end && (!eof_at || now_ms() - eof_at < 10000));
	CHECK(n == 1 && wc.wr_id == 77 && wc.status == IBV_WC_REM_INV_REQ_ERR,
	      "the SEND past 2 GiB is refused: the receive completes with %s (want %s)",
	      n == 1 ? st(wc.status) : "nothing", st(IBV_WC_REM_INV_REQ_ERR));
	n = qp_state(e.qp);
	CHECK(n == IBV_QPS_ERR, "the QP goes to ERR (%s)", qps_name(n));
	/* What was placed before the refusal is the flood's pattern. */
	int ok = 1;

	for (unsigned long j = 0; j < ALIAS; j += 4093)
		if ((unsigned char)base[j] != (unsigned char)((j % 4096) * 7))
			ok = 0;
	CHECK(ok, "the 2 GiB placed before it went where the SGEs said (the memfd holds the pattern)");
	/*
	 * The QP stays until the flood has ended (the caller closes stdin):
	 * what comes after the refusal is dropped by the QP in error, and
	 * counted, not sent to no QP at all.
	 */
	while (!eof_at && read(0, &c, 1) > 0)
		;
	end_free(&e);
	ibv_dereg_mr(mr);
	return failed;
}

/* A QP with max_qp_wr on both queues carries traffic both ways. */
static int bigqp(void)
{
	struct ibv_device_attr attr;
	struct ibv_qp_init_attr init = { .qp_type = IBV_QPT_RC };
	struct pair p;
	struct ibv_wc wc[64];
	long t0;
	int n;

	if (ibv_query_device(A.ctx, &attr))
		return 1;
	memset(&p, 0, sizeof(p));
	p.a.d = &A;
	p.a.cq = ibv_create_cq(A.ctx, 256, NULL, NULL, 0);
	init.send_cq = init.recv_cq = p.a.cq;
	init.cap.max_send_wr = attr.max_qp_wr;
	init.cap.max_recv_wr = attr.max_qp_wr;
	init.cap.max_send_sge = 1;
	init.cap.max_recv_sge = 1;
	t0 = now_ms();
	p.a.qp = p.a.cq ? ibv_create_qp(A.pd, &init) : NULL;
	CHECK(p.a.qp != NULL, "an RC QP with max_send_wr = max_recv_wr = max_qp_wr (%d) (%ld ms)",
	      attr.max_qp_wr, now_ms() - t0);
	if (!p.a.qp)
		return failed;
	if (end_new(&B, &p.b, IBV_QPT_RC) ||
	    connect_end(&A, &B, p.a.qp, p.b.qp->qp_num, &RC, FULL_ACCESS, 4, 1) ||
	    connect_end(&B, &A, p.b.qp, p.a.qp->qp_num, &RC, FULL_ACCESS, 4, 1)) {
		CHECK(0, "connecting it");
		goto out;
	}
	/* A -> B: 12 sends of 4 KiB, data checked (B's queue holds 16). */
	for (int i = 0; i < 12; i++) {
		fill(A.buf + i * 4096, 4096, 100 + i);
		post_recv(p.b.qp, &B, i * 4096, 4096, i);
	}
	for (int i = 0; i < 12; i++) {
		struct ibv_sge s = sge_of(&A, i * 4096, 4096);
		struct ibv_send_wr w = wr1(&s, i, IBV_WR_SEND, 0, 0), *bad;

		ibv_post_send(p.a.qp, &w, &bad);
	}
	n = poll_n(p.b.cq, wc, 12, WAIT_MS);
	int ok = n == 12;

	for (int i = 0; ok && i < 12; i++)
		ok = wc[i].status == IBV_WC_SUCCESS && filled(B.buf + i * 4096, 4096, 100 + i);
	CHECK(ok && poll_n(p.a.cq, wc, 12, WAIT_MS) == 12, "12 sends from it, data checked");
	/* B -> A: into its receive queue, 12 receives. */
	memset(A.buf, 0, BUF_SIZE);
	for (int i = 0; i < 12; i++) {
		fill(B.buf + i * 4096, 4096, 200 + i);
		post_recv(p.a.qp, &A, i * 4096, 4096, i);
	}
	for (int i = 0; i < 12; i++) {
		struct ibv_sge s = sge_of(&B, i * 4096, 4096);
		struct ibv_send_wr w = wr1(&s, i, IBV_WR_SEND, 0, 0), *bad;

		ibv_post_send(p.b.qp, &w, &bad);
	}
	n = poll_n(p.a.cq, wc, 12, WAIT_MS);
	ok = n == 12;
	for (int i = 0; ok && i < 12; i++)
		ok = wc[i].status == IBV_WC_SUCCESS && filled(A.buf + i * 4096, 4096, 200 + i);
	CHECK(ok && poll_n(p.b.cq, wc, 12, WAIT_MS) == 12, "12 sends into it, data checked");
out:
	pair_free(&p);
	return failed;
}

/* An MR of 4 GiB + 1 MiB on B, reached past 4 GiB by writes, reads and a send. */
static int bigmr(void)
{
	struct pair p;
	struct ibv_wc wc[4];
	int fd;
	char *base = alias_region(&fd);
	struct ibv_mr *mr;
	const unsigned long hi = 4UL << 30;

	if (!base)
		return 1;
	mr = big_mr(&B, base, FULL_ACCESS);
	if (!mr || pair_new(&p, &RC))
		return 1;
	/* A write to 4 GiB + 256 KiB lands at 256 KiB of the memfd. */
	fill(A.buf, 65536, 11);
	struct ibv_sge s = sge_of(&A, 0, 65536);
	struct ibv_send_wr w = wr1(&s, 1, IBV_WR_RDMA_WRITE,
				   (uintptr_t)base + hi + (256 << 10), mr->rkey), *bad;

	CHECK(!ibv_post_send(p.a.qp, &w, &bad) && poll_n(p.a.cq, wc, 1, WAIT_MS) == 1 &&
	      wc[0].status == IBV_WC_SUCCESS && filled(base + (256 << 10), 65536, 11),
	      "an RDMA write of 64 KiB at 4 GiB + 256 KiB lands, data checked");
	/* A read from 4 GiB + 512 KiB returns what the memfd holds there. */
	fill(base + (512 << 10), 65536, 12);
	memset(A.buf + 65536, 0, 65536);
	s = sge_of(&A, 65536, 65536);
	w = wr1(&s, 2, IBV_WR_RDMA_READ, (uintptr_t)base + hi + (512 << 10), mr->rkey);
	CHECK(!ibv_post_send(p.a.qp, &w, &bad) && poll_n(p.a.cq, wc, 1, WAIT_MS) == 1 &&
	      wc[0].status == IBV_WC_SUCCESS && filled(A.buf + 65536, 65536, 12),
	      "an RDMA read of 64 KiB at 4 GiB + 512 KiB returns it, data checked");
	/* A send into a receive whose SGE lies past 4 GiB. */
	struct ibv_sge rs = { .addr = (uintptr_t)base + hi + (768 << 10), .length = 8192,
			      .lkey = mr->lkey };
	struct ibv_recv_wr r = { .wr_id = 3, .sg_list = &rs, .num_sge = 1 }, *rbad;

	fill(A.buf, 5000, 13);
	s = sge_of(&A, 0, 5000);
	w = wr1(&s, 3, IBV_WR_SEND, 0, 0);
	CHECK(!ibv_post_recv(p.b.qp, &r, &rbad) && !ibv_post_send(p.a.qp, &w, &bad) &&
	      poll_n(p.b.cq, wc, 1, WAIT_MS) == 1 && wc[0].status == IBV_WC_SUCCESS &&
	      wc[0].byte_len == 5000 && filled(base + (768 << 10), 5000, 13),
	      "a send into a receive at 4 GiB + 768 KiB lands, data checked");
	/* Past the end: refused. */
	w = wr1(&s, 4, IBV_WR_RDMA_WRITE, (uintptr_t)base + BIG - 100, mr->rkey);
	poll_quiet(p.a.cq, wc, 4);
	CHECK(!ibv_post_send(p.a.qp, &w, &bad) && poll_n(p.a.cq, wc, 1, WAIT_MS) == 1 &&
	      wc[0].status == IBV_WC_REM_ACCESS_ERR,
	      "a write running past the MR's end is a remote access error");
	pair_free(&p);
	CHECK(!ibv_dereg_mr(mr), "dereg_mr");
	return failed;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s DEV_A DEV_B wqe|bigqp|bigmr|target PEER_IP6 SELF_IP6 SECS\n",
			argv[0]);
		return 2;
	}
	if (dev_open(&A, argv[1]) || dev_open(&B, argv[2]))
		return 1;
	if (!strcmp(argv[3], "wqe"))
		return wqe();
	if (!strcmp(argv[3], "bigqp"))
		return bigqp();
	if (!strcmp(argv[3], "bigmr"))
		return bigmr();
	if (!strcmp(argv[3], "target") && argc == 7)
		return target(argv[4], argv[5], atoi(argv[6]));
	fprintf(stderr, "unknown case %s\n", argv[3]);
	return 2;
}
