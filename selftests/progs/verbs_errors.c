// SPDX-License-Identifier: GPL-2.0
/*
 * The data path's unhappy paths between two rxe devices, through the stock
 * rdma-core provider, in one process (RDMA devices are shared across
 * network namespaces):
 *   verbs_errors DEV_A DEV_B local      requester-side errors: an lkey that
 *                                       does not exist, an SGE beyond its MR,
 *                                       an MR of another PD, a read into a
 *                                       local MR without local write, a read
 *                                       on a UC QP
 *   verbs_errors DEV_A DEV_B remote     rkey errors: bad rkey, beyond the
 *                                       MR, MR without the remote access,
 *                                       deregistered MR (writes, reads,
 *                                       atomics)
 *   verbs_errors DEV_A DEV_B qp_access  requests the responder QP does not
 *                                       allow (access flags, no responder
 *                                       resources)
 *   verbs_errors DEV_A DEV_B length     a send longer than the receive
 *                                       buffer (RC, UC)
 *   verbs_errors DEV_A DEV_B retries    RNR retries and transport retries
 *                                       running out
 *   verbs_errors DEV_A DEV_B timer      a QP destroyed while its
 *                                       retransmit timer is hours away (the
 *                                       script then unloads the module,
 *                                       which WARNs if the QP leaked)
 *   verbs_errors DEV_A DEV_B atomic     misaligned atomics
 *   verbs_errors DEV_A DEV_B ud         a UD send beyond the MTU, a UD
 *                                       receive buffer too small (a QP's,
 *                                       an SRQ's), a UD receive with a bad
 *                                       lkey
 *   verbs_errors DEV_A DEV_B refusals   verbs refused with an errno
 * Each error case gets a fresh RC (or UC, UD) QP pair from DEV_A to DEV_B,
 * checks the work completions' statuses (those the C rxe gives; where the
 * C rxe loses its status to a flush, the IBTA's), the queue pairs' states
 * (query_qp), the async events and what reached memory, and then that a
 * new good pair still carries data. Prints one line per check; exit 0 when
 * all hold, the failures on stderr.
 */
#include "verbs_pair.h"

/* The QP states of a pair after an error: a's and b's. */
static void check_states(struct pair *p, const char *what, int want_a, int want_b)
{
	int a = qp_state(p->a.qp), b = qp_state(p->b.qp);

	CHECK(a == want_a && b == want_b,
	      "%s: query_qp: requester %s, responder %s (want %s, %s)", what, qps_name(a),
	      qps_name(b), qps_name(want_a), qps_name(want_b));
}

/*
 * The async events the pair's QPs got: none on the requester (its errors
 * are reported in its completions), b_event (0: none) on the responder.
 */
static void check_events(struct pair *p, const char *what, int b_event)
{
	unsigned long a = qp_events(&A, p->a.qp, QUIET_MS), b = qp_events(&B, p->b.qp, 0);
	unsigned long want = b_event ? 1UL << b_event : 0;

	CHECK(a == 0 && b == want,
	      "%s: async events: none on the requester, %s on the responder (got %#lx, %#lx)",
	      what, b_event ? ibv_event_type_str(b_event) : "none", a, b);
}

/*
 * Posts bad (wr_id 1) then a good send (wr_id 2) on a; the first completes
 * with want, the second flushed.
 */
static void bad_then_flushed(struct pair *p, struct ibv_send_wr *bad_wr, const char *what,
			     enum ibv_wc_status want)
{
	struct ibv_sge s = sge_of(&A, 0, 16);
	struct ibv_send_wr good = wr1(&s, 2, IBV_WR_SEND, 0, 0), *bad;
	struct ibv_wc wc[4];
	int n;

	bad_wr->wr_id = 1;
	bad_wr->next = &good;
	errno = 0;
	n = ibv_post_send(p->a.qp, bad_wr, &bad);
	CHECK(n == 0, "%s: post_send takes the WR (%d)", what, n);
	n = poll_n(p->a.cq, wc, 2, WAIT_MS);
	CHECK(n >= 1 && wc[0].wr_id == 1 && wc[0].status == want,
	      "%s: completes with %s (got %d: %s)", what, st(want), n,
	      n >= 1 ? st(wc[0].status) : "none");
	CHECK(n == 2 && wc[1].wr_id == 2 && wc[1].status == IBV_WC_WR_FLUSH_ERR,
	      "%s: the send after it is flushed (%s)", what,
	      n == 2 ? st(wc[1].status) : "none");
	CHECK(poll_quiet(p->a.cq, wc, 4) == 0, "%s: nothing more completes on the requester",
	      what);
}

/* --- requester-side (local) errors -------------------------------------- */

/*
 * The requester refuses a WQE whose SGE it cannot read (no such MR,
 * another PD's MR, out of the MR's range): a local protection error, the
 * IBTA's status for it. (The C rxe of Linux 7.3 marks the WQE with
 * IB_WC_LOC_QP_OP_ERR, but its completer then flushes the whole send
 * queue, that WQE included: it completes with IB_WC_WR_FLUSH_ERR.)
 * Nothing is sent; the responder stays as it was.
 */
static void local_sge(const char *what, struct ibv_sge s)
{
	struct pair p;
	struct ibv_send_wr w = wr1(&s, 1, IBV_WR_SEND, 0, 0);
	struct ibv_wc wc[4];

	if (pair_new(&p, &RC))
		return;
	post_recv(p.b.qp, &B, 0, 4096, 100);
	bad_then_flushed(&p, &w, what, IBV_WC_LOC_PROT_ERR);
	check_states(&p, what, IBV_QPS_ERR, IBV_QPS_RTS);
	CHECK(poll_quiet(p.b.cq, wc, 4) == 0, "%s: nothing reaches the responder", what);
	check_events(&p, what, 0);
	pair_free(&p);
	good_traffic(what);
}

static int local(void)
{
	struct ibv_pd *pd2 = ibv_alloc_pd(A.ctx);
	struct ibv_mr *other = pd2 ? ibv_reg_mr(pd2, A.buf, 4096, FULL_ACCESS) : NULL;
	struct ibv_mr *small = ibv_reg_mr(A.pd, A.buf, 4096, IBV_ACCESS_LOCAL_WRITE);
	struct ibv_mr *ro = ibv_reg_mr(A.pd, A.buf + 4096, 4096, 0);

	if (!other || !small || !ro) {
		fprintf(stderr, "FAIL: local: setup MRs: %s\n", strerror(errno));
		return 1;
	}
	/* An lkey no MR has: the index part far beyond any allocated. */
	local_sge("send with an lkey no MR has",
		  (struct ibv_sge){ .addr = (uintptr_t)A.buf, .length = 16,
				    .lkey = (A.mr->lkey & 0xff) | 0xfff00000 });
	local_sge("send with an SGE running past the end of its MR",
		  (struct ibv_sge){ .addr = (uintptr_t)A.buf + 4000, .length = 200,
				    .lkey = small->lkey });
	local_sge("send with an SGE starting before its MR",
		  (struct ibv_sge){ .addr = (uintptr_t)A.buf + 4090, .length = 16,
				    .lkey = ro->lkey });
	local_sge("send with an MR of another PD",
		  (struct ibv_sge){ .addr = (uintptr_t)A.buf, .length = 16, .lkey = other->lkey });

	/*
	 * A read whose response cannot be written: the local MR lacks local
	 * write. The C rxe's completer fails the copy: IB_WC_LOC_PROT_ERR.
	 */
	struct pair p;
	struct ibv_wc wc[4];
	const char *what = "RDMA read into an MR without local write";

	if (!pair_new(&p, &RC)) {
		struct ibv_sge s = { .addr = (uintptr_t)A.buf + 4096, .length = 64,
				     .lkey = ro->lkey };
		struct ibv_send_wr w = wr1(&s, 1, IBV_WR_RDMA_READ, (uintptr_t)B.buf, B.mr->rkey);

		memset(A.buf + 4096, 0, 64);
		fill(B.buf, 64, 5);
		bad_then_flushed(&p, &w, what, IBV_WC_LOC_PROT_ERR);
		check_states(&p, what, IBV_QPS_ERR, IBV_QPS_RTS);
		CHECK(!filled(A.buf + 4096, 64, 5), "%s: no data lands in it", what);
		CHECK(poll_quiet(p.b.cq, wc, 4) == 0, "%s: no completion on the responder", what);
		check_events(&p, what, 0);
		pair_free(&p);
		good_traffic(what);
	}

	/*
	 * An RDMA read on a UC QP: the requester has no opcode for it, a
	 * local QP operation error (the C rxe's status, lost there to the
	 * flush too).
	 */
	struct conn uc = RC;

	what = "RDMA read posted on a UC QP";
	uc.type = IBV_QPT_UC;
	if (!pair_new(&p, &uc)) {
		struct ibv_sge s = sge_of(&A, 0, 64);
		struct ibv_send_wr w = wr1(&s, 1, IBV_WR_RDMA_READ, (uintptr_t)B.buf, B.mr->rkey);

		bad_then_flushed(&p, &w, what, IBV_WC_LOC_QP_OP_ERR);
		check_states(&p, what, IBV_QPS_ERR, IBV_QPS_RTS);
		check_events(&p, what, 0);
		pair_free(&p);
		good_traffic(what);
	}
	ibv_dereg_mr(ro);
	ibv_dereg_mr(small);
	ibv_dereg_mr(other);
	ibv_dealloc_pd(pd2);
	return failed;
}

/* --- remote errors --------------------------------------------------------- */

/*
 * A request the responder refuses: the requester's WQE completes with
 * want, the next is flushed; the responder NAKs and goes to the error
 * state (class C), its posted receive completing with recv_want (flushed,
 * unless the request consumes it); memory stays as it was. ev: the async
 * event the responder's owner gets (0: none).
 */
static void remote_case_recv(const char *what, const struct conn *c, enum ibv_wr_opcode op,
			     uint64_t raddr, uint32_t rkey, uint32_t len, enum ibv_wc_status want,
			     int ev, enum ibv_wc_status recv_want)
{
	struct pair p;
	struct ibv_wc wc[4];

	if (pair_new(&p, c))
		return;
	fill(B.buf, BUF_SIZE, 6);
	memset(A.buf, 0, 8192);
	fill(A.buf + 8192, 8192, 7);

	int write = op == IBV_WR_RDMA_WRITE || op == IBV_WR_RDMA_WRITE_WITH_IMM;
	struct ibv_sge s = sge_of(&A, write ? 8192 : 0, len);
	struct ibv_send_wr w = wr1(&s, 1, op, raddr, rkey);

	post_recv(p.b.qp, &B, 32768, 4096, 100);
	bad_then_flushed(&p, &w, what, want);
	check_states(&p, what, IBV_QPS_ERR, IBV_QPS_ERR);
	int n = poll_n(p.b.cq, wc, 1, WAIT_MS);

	CHECK(n == 1 && wc[0].wr_id == 100 && wc[0].status == recv_want,
	      "%s: the responder's posted receive completes with %s (%s)", what, st(recv_want),
	      n ? st(wc[0].status) : "none");
	CHECK(filled(B.buf, BUF_SIZE, 6) && !memcmp(A.buf, (char[8192]){ 0 }, 8192),
	      "%s: no memory changed on either side", what);
	check_events(&p, what, ev);
	pair_free(&p);
	good_traffic(what);
}

static void remote_case(const char *what, const struct conn *c, enum ibv_wr_opcode op,
			uint64_t raddr, uint32_t rkey, uint32_t len, enum ibv_wc_status want,
			int ev)
{
	remote_case_recv(what, c, op, raddr, rkey, len, want, ev, IBV_WC_WR_FLUSH_ERR);
}

/*
 * A write with immediate consumes a receive, and the responder takes it
 * before it checks the rkey: with none posted, a bad rkey earns an RNR NAK
 * first (rnr_retry 0: the requester ends with an RNR retry error), as in
 * the C rxe. The responder stays RTS, no memory changes.
 */
static void remote_imm_no_recv(uint32_t bad_rkey)
{
	const char *what = "RDMA write with immediate, bad rkey, no receive posted, rnr_retry 0";
	struct conn c = RC;
	struct pair p;
	struct ibv_wc wc[4];

	c.rnr_retry = 0;
	if (pair_new(&p, &c))
		return;
	fill(B.buf, BUF_SIZE, 6);
	fill(A.buf + 8192, 8192, 7);

	struct ibv_sge s = sge_of(&A, 8192, 64);
	struct ibv_send_wr w = wr1(&s, 1, IBV_WR_RDMA_WRITE_WITH_IMM, (uintptr_t)B.buf, bad_rkey);

	bad_then_flushed(&p, &w, what, IBV_WC_RNR_RETRY_EXC_ERR);
	check_states(&p, what, IBV_QPS_ERR, IBV_QPS_RTS);
	CHECK(poll_quiet(p.b.cq, wc, 4) == 0, "%s: no completion on the responder", what);
	CHECK(filled(B.buf, BUF_SIZE, 6), "%s: no memory changed", what);
	check_events(&p, what, 0);
	pair_free(&p);
	good_traffic(what);
}

/*
 * UC has no NAKs: a request the responder refuses (here a write with
 * immediate with a bad rkey) is dropped, and the receive WQE it would have
 * consumed stays for the next message, as in the C rxe (it is neither
 * completed nor lost).
 */
static void remote_uc_drop(uint32_t bad_rkey)
{
	const char *what = "UC write with immediate with a bad rkey";
	const struct conn c = { .type = IBV_QPT_UC, .b_access = IBV_ACCESS_REMOTE_WRITE };
	struct pair p;
	struct ibv_wc wc[4];
	int n;

	if (pair_new(&p, &c))
		return;
	fill(B.buf, BUF_SIZE, 6);
	fill(A.buf + 8192, 8192, 7);

	struct ibv_sge s = sge_of(&A, 8192, 64);
	struct ibv_send_wr w = wr1(&s, 1, IBV_WR_RDMA_WRITE_WITH_IMM, (uintptr_t)B.buf, bad_rkey);
	struct ibv_send_wr *bad;

	post_recv(p.b.qp, &B, 32768, 4096, 100);
	CHECK(ibv_post_send(p.a.qp, &w, &bad) == 0 && poll_n(p.a.cq, wc, 1, WAIT_MS) == 1 &&
		      wc[0].status == IBV_WC_SUCCESS,
	      "%s: the write completes on the requester (UC)", what);
	CHECK(poll_quiet(p.b.cq, wc, 4) == 0, "%s: nothing completes on the responder", what);
	CHECK(filled(B.buf, BUF_SIZE, 6), "%s: no memory changed", what);
	w = wr1(&s, 2, IBV_WR_SEND, 0, 0);
	CHECK(ibv_post_send(p.a.qp, &w, &bad) == 0 && poll_n(p.a.cq, wc, 1, WAIT_MS) == 1 &&
		      wc[0].status == IBV_WC_SUCCESS,
	      "%s: a send after it completes on the requester", what);
	n = poll_n(p.b.cq, wc, 1, WAIT_MS);
	CHECK(n == 1 && wc[0].wr_id == 100 && wc[0].status == IBV_WC_SUCCESS &&
		      wc[0].byte_len == 64 && filled(B.buf + 32768, 64, 7),
	      "%s: the send lands in the receive the write left (wr_id %llu, %s)", what,
	      n ? (unsigned long long)wc[0].wr_id : 0ULL, n ? st(wc[0].status) : "none");
	check_states(&p, what, IBV_QPS_RTS, IBV_QPS_RTS);
	pair_free(&p);
	good_traffic(what);
}

static int remote(void)
{
	int lw = IBV_ACCESS_LOCAL_WRITE;
	struct ibv_mr *part = ibv_reg_mr(B.pd, B.buf, 8192, FULL_ACCESS);
	struct ibv_mr *no_w = ibv_reg_mr(B.pd, B.buf, 8192, lw | IBV_ACCESS_REMOTE_READ |
						      IBV_ACCESS_REMOTE_ATOMIC);
	struct ibv_mr *no_r = ibv_reg_mr(B.pd, B.buf, 8192, lw | IBV_ACCESS_REMOTE_WRITE |
						      IBV_ACCESS_REMOTE_ATOMIC);
	struct ibv_mr *no_a = ibv_reg_mr(B.pd, B.buf, 8192, lw | IBV_ACCESS_REMOTE_WRITE |
						      IBV_ACCESS_REMOTE_READ);
	struct ibv_mr *gone = ibv_reg_mr(B.pd, B.buf, 8192, FULL_ACCESS);
	struct ibv_pd *pd2 = ibv_alloc_pd(B.ctx);
	struct ibv_mr *other = pd2 ? ibv_reg_mr(pd2, B.buf, 8192, FULL_ACCESS) : NULL;
	uint64_t base = (uintptr_t)B.buf;
	/* An rkey no MR has: the index part far beyond any allocated. */
	uint32_t bad_rkey = (B.mr->rkey & 0xff) | 0xfff00000;
	uint32_t gone_rkey;
	int ev = IBV_EVENT_QP_ACCESS_ERR;
	enum ibv_wc_status acc = IBV_WC_REM_ACCESS_ERR;

	if (!part || !no_w || !no_r || !no_a || !gone || !other) {
		fprintf(stderr, "FAIL: remote: setup MRs: %s\n", strerror(errno));
		return 1;
	}
	gone_rkey = gone->rkey;
	CHECK(ibv_dereg_mr(gone) == 0, "dereg_mr of the MR some requests below name");
	remote_case("RDMA write with an rkey no MR has", &RC, IBV_WR_RDMA_WRITE, base, bad_rkey,
		    64, acc, ev);
	remote_case("RDMA write running past the end of the MR", &RC, IBV_WR_RDMA_WRITE,
		    base + 8192 - 32, part->rkey, 64, acc, ev);
	remote_case("RDMA write starting before the MR", &RC, IBV_WR_RDMA_WRITE, base - 8,
		    part->rkey, 64, acc, ev);
	remote_case("RDMA write to an MR without remote write", &RC, IBV_WR_RDMA_WRITE, base,
		    no_w->rkey, 64, acc, ev);
	remote_case("RDMA write to a deregistered MR", &RC, IBV_WR_RDMA_WRITE, base, gone_rkey,
		    64, acc, ev);
	remote_case("RDMA write to an MR of another PD", &RC, IBV_WR_RDMA_WRITE, base,
		    other->rkey, 64, acc, ev);
	remote_case("RDMA write of 3 packets running past the end of the MR", &RC,
		    IBV_WR_RDMA_WRITE, base + 8192 - 2048, part->rkey, 3000, acc, ev);
	/* A write with immediate's error goes to the receive it consumes. */
	remote_case_recv("RDMA write with immediate with an rkey no MR has", &RC,
			 IBV_WR_RDMA_WRITE_WITH_IMM, base, bad_rkey, 64, acc, 0, acc);
	remote_imm_no_recv(bad_rkey);
	remote_uc_drop(bad_rkey);
	remote_case("RDMA read with an rkey no MR has", &RC, IBV_WR_RDMA_READ, base, bad_rkey, 64,
		    acc, ev);
	remote_case("RDMA read running past the end of the MR", &RC, IBV_WR_RDMA_READ,
		    base + 8192 - 32, part->rkey, 64, acc, ev);
	remote_case("RDMA read from an MR without remote read", &RC, IBV_WR_RDMA_READ, base,
		    no_r->rkey, 64, acc, ev);
	remote_case("RDMA read from a deregistered MR", &RC, IBV_WR_RDMA_READ, base, gone_rkey,
		    64, acc, ev);
	remote_case("atomic with an rkey no MR has", &RC, IBV_WR_ATOMIC_FETCH_AND_ADD, base,
		    bad_rkey, 8, acc, ev);
	remote_case("atomic on an MR without remote atomic", &RC, IBV_WR_ATOMIC_CMP_AND_SWP, base,
		    no_a->rkey, 8, acc, ev);
	remote_case("atomic past the end of the MR", &RC, IBV_WR_ATOMIC_FETCH_AND_ADD,
		    base + 8192, part->rkey, 8, acc, ev);
	ibv_dereg_mr(part);
	ibv_dereg_mr(no_w);
	ibv_dereg_mr(no_r);
	ibv_dereg_mr(no_a);
	ibv_dereg_mr(other);
	ibv_dealloc_pd(pd2);
	return failed;
}

/* --- what the responder QP does not allow ---------------------------------- */

static int qp_access(void)
{
	struct conn c = RC;
	uint64_t base = (uintptr_t)B.buf;

	/* The C rxe: an opcode the QP's access flags do not enable is an
	 * unsupported request, NAKed as invalid (class C). */
	c.b_access = IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC;
	remote_case("RDMA write to a QP without remote write", &c, IBV_WR_RDMA_WRITE, base,
		    B.mr->rkey, 64, IBV_WC_REM_INV_REQ_ERR, 0);
	c.b_access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_ATOMIC;
	remote_case("RDMA read from a QP without remote read", &c, IBV_WR_RDMA_READ, base,
		    B.mr->rkey, 64, IBV_WC_REM_INV_REQ_ERR, 0);
	c.b_access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ;
	remote_case("atomic to a QP without remote atomic", &c, IBV_WR_ATOMIC_FETCH_AND_ADD, base,
		    B.mr->rkey, 8, IBV_WC_REM_INV_REQ_ERR, 0);
	c = RC;
	c.b_rd_atomic = 0;
	remote_case("RDMA read to a QP with no responder resources", &c, IBV_WR_RDMA_READ, base,
		    B.mr->rkey, 64, IBV_WC_REM_INV_REQ_ERR, 0);
	return failed;
}

/* --- a send longer than the receive buffer -------------------------------- */

/*
 * The C rxe's responder copies the payload with copy_data(), which refuses
 * more than the WQE holds with -EINVAL: a malformed WQE (class A), so the
 * receive completes with IB_WC_LOC_QP_OP_ERR and the NAK is a remote
 * operational error (IB_WC_REM_OP_ERR at the requester). On UC, which has
 * no NAKs, the same class A error: the receive completes in error and the
 * responder QP goes to the error state, the requester completes
 * successfully and stays RTS.
 */
static void long_send(const char *what, enum ibv_qp_type type, uint32_t len, uint32_t room)
{
	struct conn c = RC;
	struct pair p;
	struct ibv_wc wc[4];
	int n;

	c.type = type;
	if (pair_new(&p, &c))
		return;
	memset(B.buf, 0, BUF_SIZE);
	fill(A.buf, len, 8);
	struct ibv_sge s = sge_of(&A, 0, len);
	struct ibv_send_wr w = wr1(&s, 1, IBV_WR_SEND, 0, 0), *bad;

	post_recv(p.b.qp, &B, 0, room, 100);
	post_recv(p.b.qp, &B, 16384, 4096, 101);
	if (type == IBV_QPT_RC) {
		bad_then_flushed(&p, &w, what, IBV_WC_REM_OP_ERR);
		check_states(&p, what, IBV_QPS_ERR, IBV_QPS_ERR);
	} else {
		/* UC has no NAKs: the requester knows nothing of it. */
		CHECK(ibv_post_send(p.a.qp, &w, &bad) == 0 &&
			      poll_n(p.a.cq, wc, 1, WAIT_MS) == 1 && wc[0].status == IBV_WC_SUCCESS,
		      "%s: the send completes on the requester (UC)", what);
	}
	n = poll_n(p.b.cq, wc, 2, WAIT_MS);
	/* On UC, the responder may still be at it when the send completes. */
	if (type == IBV_QPT_UC)
		check_states(&p, what, IBV_QPS_RTS, IBV_QPS_ERR);
	CHECK(n >= 1 && wc[0].wr_id == 100 && wc[0].status == IBV_WC_LOC_QP_OP_ERR,
	      "%s: the receive completes with %s (%s)", what, st(IBV_WC_LOC_QP_OP_ERR),
	      n ? st(wc[0].status) : "none");
	CHECK(n == 2 && wc[1].wr_id == 101 && wc[1].status == IBV_WC_WR_FLUSH_ERR,
	      "%s: the next receive is flushed (%s)", what, n == 2 ? st(wc[1].status) : "none");
	CHECK(!memcmp(B.buf + room, (char[8192]){ 0 }, 4096),
	      "%s: nothing lands beyond the receive buffer", what);
	check_events(&p, what, 0);
	pair_free(&p);
	good_traffic(what);
}

static int length(void)
{
	long_send("200-byte send into a 100-byte receive", IBV_QPT_RC, 200, 100);
	long_send("3000-byte send into a 1500-byte receive", IBV_QPT_RC, 3000, 1500);
	long_send("send into a receive with no buffer", IBV_QPT_RC, 16, 0);
	long_send("UC: 200-byte send into a 100-byte receive", IBV_QPT_UC, 200, 100);
	long_send("UC: 3000-byte send into a 1500-byte receive", IBV_QPT_UC, 3000, 1500);
	return failed;
}

/* --- retries running out ---------------------------------------------------- */

static int retries(void)
{
	struct pair p;
	struct conn c = RC;
	struct ibv_wc wc[4];
	const char *what = "send with no receive posted, rnr_retry 0";

	/* RNR: the responder NAKs (class B, it stays as it was). */
	c.rnr_retry = 0;
	if (!pair_new(&p, &c)) {
		struct ibv_sge s = sge_of(&A, 0, 16);
		struct ibv_send_wr w = wr1(&s, 1, IBV_WR_SEND, 0, 0);

		bad_then_flushed(&p, &w, what, IBV_WC_RNR_RETRY_EXC_ERR);
		check_states(&p, what, IBV_QPS_ERR, IBV_QPS_RTS);
		CHECK(poll_quiet(p.b.cq, wc, 4) == 0, "%s: no completion on the responder", what);
		check_events(&p, what, 0);
		pair_free(&p);
		good_traffic(what);
	}

	/* Retries: the peer QP is gone, nothing answers. */
	what = "send to a destroyed peer QP, retry_cnt 2";
	c = RC;
	c.timeout = 12;
	c.retry_cnt = 2;
	if (!pair_new(&p, &c)) {
		struct ibv_sge s = sge_of(&A, 0, 16);
		struct ibv_send_wr w = wr1(&s, 1, IBV_WR_SEND, 0, 0);

		end_free(&p.b);
		bad_then_flushed(&p, &w, what, IBV_WC_RETRY_EXC_ERR);
		CHECK(qp_state(p.a.qp) == IBV_QPS_ERR, "%s: query_qp: requester ERR (%s)", what,
		      qps_name(qp_state(p.a.qp)));
		unsigned long ev = qp_events(&A, p.a.qp, QUIET_MS);

		CHECK(ev == 0, "%s: no async event on the requester (%#lx)", what, ev);
		pair_free(&p);
		good_traffic(what);
	}
	return failed;
}

/*
 * A QP destroyed with a send unacknowledged and its retransmit timer set to
 * the longest timeout (4.096 us << 31, about two and a half hours): the
 * destroy must take the timer back, or it keeps the QP (and module code)
 * alive for hours. Nothing completes on the destroyed QP; the module's
 * unload, in the script, finds whether the QP is gone.
 */
static int timer(void)
{
	struct pair p;
	struct conn c = RC;
	struct ibv_wc wc[4];
	const char *what = "QP destroyed with a send unacknowledged, timeout 31";

	c.timeout = 31;
	c.retry_cnt = 7;
	if (!pair_new(&p, &c)) {
		struct ibv_sge s = sge_of(&A, 0, 16);
		struct ibv_send_wr w = wr1(&s, 1, IBV_WR_SEND, 0, 0), *bad;
		int n;

		/* Nobody answers: the peer QP is gone. */
		end_free(&p.b);
		n = ibv_post_send(p.a.qp, &w, &bad);
		CHECK(n == 0, "%s: post_send takes the WR (%d)", what, n);
		/* Long enough for the send to go out and the timer to be set. */
		CHECK(poll_n(p.a.cq, wc, 1, 500) == 0, "%s: nothing completes meanwhile", what);
		CHECK(qp_state(p.a.qp) == IBV_QPS_RTS, "%s: the requester is still RTS (%s)",
		      what, qps_name(qp_state(p.a.qp)));
		pair_free(&p);
		good_traffic(what);
	}
	return failed;
}

/* --- atomics ------------------------------------------------------------- */

static int atomic(void)
{
	struct pair p;
	struct ibv_wc wc[4];
	struct ibv_send_wr *bad;
	const char *what = "misaligned atomic through ibv_post_send";

	if (pair_new(&p, &RC))
		return 1;
	/* The provider checks the address and the local length. */
	struct ibv_sge s = sge_of(&A, 0, 8);
	struct ibv_send_wr w = wr1(&s, 1, IBV_WR_ATOMIC_CMP_AND_SWP, (uintptr_t)B.buf + 4,
				   B.mr->rkey);

	errno = 0;
	int rc = ibv_post_send(p.a.qp, &w, &bad);

	CHECK(rc == EINVAL && bad == &w, "%s: refused with EINVAL (%d), bad_wr set", what, rc);
	s.length = 4;
	w.wr.atomic.remote_addr = (uintptr_t)B.buf;
	rc = ibv_post_send(p.a.qp, &w, &bad);
	CHECK(rc == EINVAL && bad == &w, "atomic with a 4-byte local buffer refused with EINVAL (%d)",
	      rc);
	CHECK(poll_quiet(p.a.cq, wc, 4) == 0 && qp_state(p.a.qp) == IBV_QPS_RTS,
	      "the refused atomics left nothing behind, the QP stays RTS");
	pair_free(&p);

	/*
	 * Through the extended post API the provider does not check the
	 * alignment: the responder refuses it (the C rxe: misaligned atomic,
	 * class C, NAK invalid request).
	 */
	what = "misaligned atomic through ibv_wr_atomic_cmp_swp";
	struct ibv_qp_init_attr_ex ix = {
		.qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 16, .max_recv_wr = 16, .max_send_sge = 1,
			 .max_recv_sge = 1 },
		.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS,
		.pd = A.pd,
		.send_ops_flags = IBV_QP_EX_WITH_ATOMIC_CMP_AND_SWP | IBV_QP_EX_WITH_SEND,
	};

	memset(&p, 0, sizeof(p));
	p.a.d = &A;
	if (end_new(&B, &p.b, IBV_QPT_RC) ||
	    !(p.a.cq = ibv_create_cq(A.ctx, 128, NULL, NULL, 0))) {
		CHECK(0, "%s: setup", what);
		pair_free(&p);
		return failed;
	}
	ix.send_cq = ix.recv_cq = p.a.cq;
	p.a.qp = ibv_create_qp_ex(A.ctx, &ix);
	CHECK(p.a.qp != NULL, "create_qp_ex with the atomic send op");
	if (!p.a.qp) {
		pair_free(&p);
		return failed;
	}
	if (connect_end(&A, &B, p.a.qp, p.b.qp->qp_num, &RC, 0, 4, 1) ||
	    connect_end(&B, &A, p.b.qp, p.a.qp->qp_num, &RC, RC.b_access, 4, 1)) {
		CHECK(0, "%s: connecting", what);
		pair_free(&p);
		return failed;
	}
	struct ibv_qp_ex *qx = ibv_qp_to_qp_ex(p.a.qp);

	fill(B.buf, 64, 9);
	memset(A.buf, 0, 64);
	post_recv(p.b.qp, &B, 4096, 64, 100);
	ibv_wr_start(qx);
	qx->wr_id = 1;
	qx->wr_flags = IBV_SEND_SIGNALED;
	ibv_wr_atomic_cmp_swp(qx, B.mr->rkey, (uintptr_t)B.buf + 4, 0, 0);
	ibv_wr_set_sge(qx, A.mr->lkey, (uintptr_t)A.buf, 8);
	qx->wr_id = 2;
	ibv_wr_send(qx);
	ibv_wr_set_sge(qx, A.mr->lkey, (uintptr_t)A.buf + 64, 16);
	rc = ibv_wr_complete(qx);
	CHECK(rc == 0, "%s: posted (%d)", what, rc);
	int n = poll_n(p.a.cq, wc, 2, WAIT_MS);

	CHECK(n >= 1 && wc[0].wr_id == 1 && wc[0].status == IBV_WC_REM_INV_REQ_ERR,
	      "%s: completes with %s (%s)", what, st(IBV_WC_REM_INV_REQ_ERR),
	      n ? st(wc[0].status) : "none");
	CHECK(n == 2 && wc[1].wr_id == 2 && wc[1].status == IBV_WC_WR_FLUSH_ERR,
	      "%s: the send after it is flushed (%s)", what, n == 2 ? st(wc[1].status) : "none");
	check_states(&p, what, IBV_QPS_ERR, IBV_QPS_ERR);
	n = poll_n(p.b.cq, wc, 1, WAIT_MS);
	CHECK(n == 1 && wc[0].wr_id == 100 && wc[0].status == IBV_WC_WR_FLUSH_ERR,
	      "%s: the responder's receive is flushed (%s)", what, n ? st(wc[0].status) : "none");
	CHECK(filled(B.buf, 64, 9), "%s: the target is unchanged", what);
	check_events(&p, what, 0);
	pair_free(&p);
	good_traffic(what);
	return failed;
}

/* --- UD ------------------------------------------------------------------- */

/*
 * A UD datagram too big for the receive an SRQ gives it (class E): the
 * receive is taken before its size is known, so, as the C rxe, it
 * completes with a remote invalid request error; the QP stays RTS and the
 * next receive takes the next datagram that fits. From `from` (a UD QP on
 * A) through `ah` (towards B).
 */
static void ud_srq_too_big(struct ibv_qp *from, struct ibv_cq *from_cq, struct ibv_ah *ah)
{
	const char *what = "UD send larger than an SRQ's receive buffer";
	const struct conn c = { .type = IBV_QPT_UD };
	struct ibv_srq_init_attr si = { .attr = { .max_wr = 16, .max_sge = 1 } };
	struct ibv_srq *srq = ibv_create_srq(B.pd, &si);
	struct ibv_cq *cq = ibv_create_cq(B.ctx, 16, NULL, NULL, 0);
	struct ibv_qp *qp = NULL;
	struct ibv_wc wc[4];
	int n;

	if (srq && cq) {
		struct ibv_qp_init_attr init = {
			.qp_type = IBV_QPT_UD, .send_cq = cq, .recv_cq = cq, .srq = srq,
			.cap = { .max_send_wr = 4, .max_send_sge = 1 },
		};

		qp = ibv_create_qp(B.pd, &init);
	}
	CHECK(qp && !connect_end(&B, &A, qp, from->qp_num, &c, 0, 0, 1),
	      "%s: SRQ and its UD QP set up", what);
	if (!qp)
		goto out;

	struct ibv_sge rs = { .addr = (uintptr_t)B.buf + 16384, .length = 40 + 100,
			      .lkey = B.mr->lkey };
	struct ibv_recv_wr rw = { .wr_id = 400, .sg_list = &rs, .num_sge = 1 }, *rbad;
	struct ibv_sge s = sge_of(&A, 0, 200);
	struct ibv_send_wr w = wr1(&s, 5, IBV_WR_SEND, 0, 0), *bad;

	memset(B.buf + 16384, 0, 8192);
	CHECK(ibv_post_srq_recv(srq, &rw, &rbad) == 0, "%s: receive 400 posted", what);
	rs.addr += 4096;
	rw.wr_id = 401;
	CHECK(ibv_post_srq_recv(srq, &rw, &rbad) == 0, "%s: receive 401 posted", what);
	w.wr.ud.ah = ah;
	w.wr.ud.remote_qpn = qp->qp_num;
	w.wr.ud.remote_qkey = QKEY;
	CHECK(ibv_post_send(from, &w, &bad) == 0 && poll_n(from_cq, wc, 1, WAIT_MS) == 1 &&
		      wc[0].status == IBV_WC_SUCCESS,
	      "%s: the send completes", what);
	n = poll_n(cq, wc, 1, WAIT_MS);
	CHECK(n == 1 && wc[0].wr_id == 400 && wc[0].status == IBV_WC_REM_INV_REQ_ERR,
	      "%s: the receive completes with %s (%s)", what, st(IBV_WC_REM_INV_REQ_ERR),
	      n ? st(wc[0].status) : "none");
	CHECK(!memcmp(B.buf + 16384 + 140, (char[64]){ 0 }, 64),
	      "%s: nothing lands beyond the receive buffer", what);
	CHECK(qp_state(qp) == IBV_QPS_RTS, "%s: the QP stays RTS (%s)", what,
	      qps_name(qp_state(qp)));
	s.length = 100;
	w.wr_id = 6;
	CHECK(ibv_post_send(from, &w, &bad) == 0 && poll_n(from_cq, wc, 1, WAIT_MS) == 1 &&
		      poll_n(cq, wc + 1, 1, WAIT_MS) == 1 && wc[1].wr_id == 401 &&
		      wc[1].status == IBV_WC_SUCCESS && wc[1].byte_len == 140 &&
		      filled(B.buf + 16384 + 4096 + 40, 100, 10),
	      "%s: the next receive takes the next datagram that fits", what);
out:
	if (qp)
		ibv_destroy_qp(qp);
	if (cq)
		ibv_destroy_cq(cq);
	if (srq)
		ibv_destroy_srq(srq);
}

static int ud(void)
{
	struct conn c = { .type = IBV_QPT_UD };
	struct pair p;
	struct ibv_wc wc[4];
	struct ibv_send_wr *bad;
	struct ibv_port_attr port;

	if (ibv_query_port(A.ctx, 1, &port) || pair_new(&p, &c))
		return 1;
	struct ibv_ah_attr aa = {
		.is_global = 1, .port_num = 1,
		.grh = { .dgid = B.gid, .sgid_index = A.gidx, .hop_limit = 64 },
	};
	struct ibv_ah *ah = ibv_create_ah(A.pd, &aa);
	int mtu = 128 << port.active_mtu;

	CHECK(ah != NULL, "create_ah towards rxe_b");
	if (!ah) {
		pair_free(&p);
		return failed;
	}
	memset(B.buf, 0, BUF_SIZE);
	fill(A.buf, 8192, 10);
	post_recv(p.b.qp, &B, 0, 8192, 100);

	/* C10-93.1.1: beyond the MTU, nothing is sent and no error reported. */
	const char *what = "UD send longer than the path MTU";
	struct ibv_sge s = sge_of(&A, 0, mtu + 1);
	struct ibv_send_wr w = wr1(&s, 1, IBV_WR_SEND, 0, 0);

	w.wr.ud.ah = ah;
	w.wr.ud.remote_qpn = p.b.qp->qp_num;
	w.wr.ud.remote_qkey = QKEY;
	CHECK(ibv_post_send(p.a.qp, &w, &bad) == 0, "%s: posted", what);
	int n = poll_n(p.a.cq, wc, 1, WAIT_MS);

	CHECK(n == 1 && wc[0].status == IBV_WC_SUCCESS,
	      "%s (%d): completes successfully (%s)", what, mtu + 1, n ? st(wc[0].status) : "none");
	CHECK(poll_quiet(p.b.cq, wc, 4) == 0, "%s: nothing is received", what);
	CHECK(qp_state(p.a.qp) == IBV_QPS_RTS, "%s: the QP stays RTS", what);

	/* A receive too small for the datagram (with its 40-byte GRH): dropped. */
	struct pair q;

	if (pair_new(&q, &c)) {
		ibv_destroy_ah(ah);
		pair_free(&p);
		return failed;
	}
	what = "UD send larger than the receive buffer";
	post_recv(q.b.qp, &B, 16384, 40 + 100, 200);
	w.wr.ud.remote_qpn = q.b.qp->qp_num;
	s.length = 200;
	w.wr_id = 2;
	CHECK(ibv_post_send(q.a.qp, &w, &bad) == 0, "%s: posted", what);
	n = poll_n(q.a.cq, wc, 1, WAIT_MS);
	CHECK(n == 1 && wc[0].status == IBV_WC_SUCCESS, "%s: the send completes (%s)", what,
	      n ? st(wc[0].status) : "none");
	CHECK(poll_quiet(q.b.cq, wc, 4) == 0, "%s: dropped, no receive completes", what);
	s.length = 100;
	w.wr_id = 3;
	CHECK(ibv_post_send(q.a.qp, &w, &bad) == 0 && poll_n(q.a.cq, wc, 1, WAIT_MS) == 1 &&
		      poll_n(q.b.cq, wc + 1, 1, WAIT_MS) == 1 && wc[1].wr_id == 200 &&
		      wc[1].status == IBV_WC_SUCCESS && wc[1].byte_len == 140 &&
		      filled(B.buf + 16384 + 40, 100, 10),
	      "%s: the receive WQE stays for the next datagram that fits", what);
	CHECK(qp_state(q.a.qp) == IBV_QPS_RTS && qp_state(q.b.qp) == IBV_QPS_RTS,
	      "%s: both QPs stay RTS", what);
	check_events(&q, what, 0);
	ud_srq_too_big(q.a.qp, q.a.cq, ah);
	pair_free(&q);

	/*
	 * A receive whose lkey names no MR: the datagram cannot be placed, a
	 * malformed WQE (class A). The C rxe completes the receive with a
	 * local QP operation error and moves the QP to the error state; the
	 * WQE must not vanish without a completion.
	 */
	if (pair_new(&q, &c)) {
		ibv_destroy_ah(ah);
		pair_free(&p);
		return failed;
	}
	what = "UD receive with a bad lkey";
	struct ibv_sge rs = { .addr = (uintptr_t)B.buf, .length = 4096, .lkey = B.mr->lkey ^ 0xff };
	struct ibv_recv_wr rw = { .wr_id = 300, .sg_list = &rs, .num_sge = 1 }, *rbad;

	CHECK(ibv_post_recv(q.b.qp, &rw, &rbad) == 0, "%s: posted", what);
	w.wr.ud.remote_qpn = q.b.qp->qp_num;
	w.wr_id = 4;
	CHECK(ibv_post_send(q.a.qp, &w, &bad) == 0, "%s: the send posted", what);
	n = poll_n(q.a.cq, wc, 1, WAIT_MS);
	CHECK(n == 1 && wc[0].status == IBV_WC_SUCCESS, "%s: the send completes (%s)", what,
	      n ? st(wc[0].status) : "none");
	n = poll_n(q.b.cq, wc, 1, WAIT_MS);
	CHECK(n == 1 && wc[0].wr_id == 300 && wc[0].status == IBV_WC_LOC_QP_OP_ERR,
	      "%s: the receive completes with %s (%s)", what, st(IBV_WC_LOC_QP_OP_ERR),
	      n ? st(wc[0].status) : "none");
	CHECK(qp_state(q.b.qp) == IBV_QPS_ERR && qp_state(q.a.qp) == IBV_QPS_RTS,
	      "%s: the receiver's QP goes to the error state, the sender's stays RTS", what);
	ibv_destroy_ah(ah);
	pair_free(&q);
	pair_free(&p);
	good_traffic("the UD errors");
	return failed;
}

/* --- verbs refused with an errno ------------------------------------------- */

static void refuse_posts(void)
{
	struct pair p;
	struct ibv_wc wc[40];
	struct ibv_send_wr *bad;
	struct ibv_recv_wr *rbad;
	struct ibv_qp_attr qa;
	struct ibv_qp_init_attr qi;
	int rc;

	if (pair_new(&p, &RC))
		return;
	ibv_query_qp(p.a.qp, &qa, IBV_QP_CAP, &qi);

	struct ibv_sge sg[3] = { sge_of(&A, 0, 8), sge_of(&A, 8, 8), sge_of(&A, 16, 8) };
	struct ibv_send_wr w = wr1(sg, 1, IBV_WR_RDMA_WRITE, (uintptr_t)B.buf, B.mr->rkey);

	w.num_sge = qa.cap.max_send_sge + 1;
	rc = ibv_post_send(p.a.qp, &w, &bad);
	CHECK(rc == EINVAL && bad == &w, "post_send with %d SGEs (max %u) refused with EINVAL (%d)",
	      w.num_sge, qa.cap.max_send_sge, rc);
	char big[1024];
	struct ibv_sge in = { .addr = (uintptr_t)big, .length = qa.cap.max_inline_data + 1 };

	memset(big, 1, sizeof(big));
	w.sg_list = &in;
	w.num_sge = 1;
	w.send_flags |= IBV_SEND_INLINE;
	rc = ibv_post_send(p.a.qp, &w, &bad);
	CHECK(rc == EINVAL && bad == &w, "inline post_send of %u bytes (max %u) refused with EINVAL (%d)",
	      in.length, qa.cap.max_inline_data, rc);

	/* More WRs than the send queue holds: those that fit go. */
	int cap = qa.cap.max_send_wr;
	struct ibv_send_wr ws[cap + 1];

	for (int i = 0; i <= cap; i++) {
		ws[i] = wr1(sg, 10 + i, IBV_WR_RDMA_WRITE, (uintptr_t)B.buf + 8 * i, B.mr->rkey);
		ws[i].next = i < cap ? &ws[i + 1] : NULL;
	}
	rc = ibv_post_send(p.a.qp, ws, &bad);
	CHECK(rc == ENOMEM && bad == &ws[cap],
	      "post_send of %d WRs into a send queue of %d refused with ENOMEM at the last (%d)",
	      cap + 1, cap, rc);
	int n = poll_n(p.a.cq, wc, cap, WAIT_MS), good = 0;

	for (int i = 0; i < n; i++)
		good += wc[i].status == IBV_WC_SUCCESS && wc[i].wr_id == (uint64_t)(10 + i);
	CHECK(good == cap, "the %d WRs that fit complete in order (%d of %d)", cap, good, n);

	/* Receives. */
	ibv_query_qp(p.b.qp, &qa, IBV_QP_CAP, &qi);
	struct ibv_recv_wr r = { .wr_id = 1, .sg_list = sg, .num_sge = qa.cap.max_recv_sge + 1 };

	rc = ibv_post_recv(p.b.qp, &r, &rbad);
	CHECK(rc == EINVAL && rbad == &r,
	      "post_recv with %d SGEs (max %u) refused with EINVAL (%d)", r.num_sge,
	      qa.cap.max_recv_sge, rc);
	int rcap = qa.cap.max_recv_wr;
	struct ibv_recv_wr rs[rcap + 1];

	for (int i = 0; i <= rcap; i++) {
		rs[i] = (struct ibv_recv_wr){ .wr_id = i, .sg_list = sg, .num_sge = 1,
					      .next = i < rcap ? &rs[i + 1] : NULL };
	}
	rc = ibv_post_recv(p.b.qp, rs, &rbad);
	CHECK(rc == ENOMEM && rbad == &rs[rcap],
	      "post_recv of %d WRs into a receive queue of %d refused with ENOMEM at the last (%d)",
	      rcap + 1, rcap, rc);
	pair_free(&p);

	/* A QP not yet ready to send: its doorbell is refused. */
	struct end e = { 0 };

	if (!end_new(&A, &e, IBV_QPT_RC)) {
		struct ibv_qp_attr a = { .qp_state = IBV_QPS_INIT, .port_num = 1 };

		ibv_modify_qp(e.qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				      IBV_QP_ACCESS_FLAGS);
		w = wr1(sg, 1, IBV_WR_SEND, 0, 0);
		rc = ibv_post_send(e.qp, &w, &bad);
		CHECK(rc == EINVAL, "post_send on a QP in INIT refused with EINVAL (%d)", rc);
		end_free(&e);
	}
}

static void refuse_srq(void)
{
	struct ibv_srq_init_attr si = { .attr = { .max_wr = 4, .max_sge = 1 } };
	struct ibv_srq *srq = ibv_create_srq(B.pd, &si);
	struct ibv_sge sg[2] = { sge_of(&B, 0, 8), sge_of(&B, 8, 8) };
	struct ibv_recv_wr *bad;
	int rc;

	if (!srq) {
		CHECK(0, "create_srq");
		return;
	}
	struct ibv_recv_wr r = { .wr_id = 1, .sg_list = sg, .num_sge = 2 };

	rc = ibv_post_srq_recv(srq, &r, &bad);
	CHECK(rc == EINVAL && bad == &r,
	      "post_srq_recv with 2 SGEs (max 1) refused with EINVAL (%d)", rc);
	int cap = si.attr.max_wr;
	struct ibv_recv_wr rs[cap + 1];

	for (int i = 0; i <= cap; i++)
		rs[i] = (struct ibv_recv_wr){ .wr_id = i, .sg_list = sg, .num_sge = 1,
					      .next = i < cap ? &rs[i + 1] : NULL };
	rc = ibv_post_srq_recv(srq, rs, &bad);
	CHECK(rc == ENOMEM && bad == &rs[cap],
	      "post_srq_recv of %d WRs into an SRQ of %d refused with ENOMEM at the last (%d)",
	      cap + 1, cap, rc);
	ibv_destroy_srq(srq);
}

static void refuse_objects(void)
{
	struct ibv_pd *pd = ibv_alloc_pd(A.ctx);
	struct ibv_cq *cq = ibv_create_cq(A.ctx, 16, NULL, NULL, 0);
	struct ibv_mr *mr = pd ? ibv_reg_mr(pd, A.buf, 4096, IBV_ACCESS_LOCAL_WRITE) : NULL;
	struct ibv_qp_init_attr init = {
		.send_cq = cq, .recv_cq = cq, .qp_type = IBV_QPT_RC,
		.cap = { .max_send_wr = 4, .max_recv_wr = 4, .max_send_sge = 1, .max_recv_sge = 1 },
	};
	struct ibv_qp *qp = pd && cq ? ibv_create_qp(pd, &init) : NULL;
	int rc;

	if (!mr || !qp) {
		CHECK(0, "refusals: setup");
		return;
	}
	rc = ibv_destroy_cq(cq);
	CHECK(rc == EBUSY, "destroy_cq of a CQ a QP uses refused with EBUSY (%d)", rc);
	rc = ibv_dealloc_pd(pd);
	CHECK(rc == EBUSY, "dealloc_pd with a QP and an MR on it refused with EBUSY (%d)", rc);

	/* modify_qp without the attributes a transition needs. */
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_INIT, .port_num = 1 };

	errno = 0;
	rc = ibv_modify_qp(qp, &a, IBV_QP_STATE);
	CHECK(rc == EINVAL, "RESET -> INIT without port, pkey and access refused with EINVAL (%d)",
	      rc);
	a.port_num = 2;
	rc = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				   IBV_QP_ACCESS_FLAGS);
	CHECK(rc == EINVAL, "RESET -> INIT on port 2 refused with EINVAL (%d)", rc);
	a.port_num = 1;
	rc = ibv_modify_qp(qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				   IBV_QP_ACCESS_FLAGS);
	CHECK(rc == 0, "RESET -> INIT with them");
	struct ibv_qp_attr r = { .qp_state = IBV_QPS_RTR, .path_mtu = IBV_MTU_1024,
				 .dest_qp_num = 1, .max_dest_rd_atomic = 1, .min_rnr_timer = 1 };

	r.ah_attr.is_global = 1;
	r.ah_attr.grh.dgid = B.gid;
	r.ah_attr.grh.sgid_index = A.gidx;
	r.ah_attr.port_num = 1;
	rc = ibv_modify_qp(qp, &r, IBV_QP_STATE);
	CHECK(rc == EINVAL, "INIT -> RTR with the state alone refused with EINVAL (%d)", rc);
	rc = ibv_modify_qp(qp, &r, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				   IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC);
	CHECK(rc == EINVAL, "INIT -> RTR without min_rnr_timer refused with EINVAL (%d)", rc);
	rc = ibv_modify_qp(qp, &r, IBV_QP_STATE | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				   IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
	CHECK(rc == EINVAL, "INIT -> RTR without an address vector refused with EINVAL (%d)", rc);
	CHECK(qp_state(qp) == IBV_QPS_INIT, "the QP stays in INIT (%s)", qps_name(qp_state(qp)));
	rc = ibv_modify_qp(qp, &r, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
				   IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
				   IBV_QP_MIN_RNR_TIMER);
	CHECK(rc == 0, "INIT -> RTR with them");
	struct ibv_qp_attr t = { .qp_state = IBV_QPS_RTS, .timeout = 14, .retry_cnt = 7,
				 .rnr_retry = 7, .max_rd_atomic = 1 };

	rc = ibv_modify_qp(qp, &t, IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				   IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC);
	CHECK(rc == EINVAL, "RTR -> RTS without sq_psn refused with EINVAL (%d)", rc);
	CHECK(qp_state(qp) == IBV_QPS_RTR, "the QP stays in RTR (%s)", qps_name(qp_state(qp)));

	/* Address handles. */
	struct ibv_port_attr port;
	struct ibv_ah_attr aa = {
		.is_global = 1, .port_num = 1,
		.grh = { .dgid = B.gid, .sgid_index = A.gidx, .hop_limit = 64 },
	};
	struct ibv_ah *ah;

	/*
	 * The last index an AH can name (sgid_index is 8 bits), an empty
	 * one: the provider looks the GID up first, and the core has no data
	 * for it.
	 */
	struct ibv_gid_entry ge;

	aa.grh.sgid_index = 255;
	CHECK(ibv_query_port(A.ctx, 1, &port) == 0 && port.gid_tbl_len > 255 &&
		      ibv_query_gid_ex(A.ctx, 1, 255, &ge, 0) != 0,
	      "GID index 255 of %d is empty", port.gid_tbl_len);
	errno = 0;
	ah = ibv_create_ah(pd, &aa);
	CHECK(!ah && errno == ENODATA, "create_ah with the empty GID index 255 refused with ENODATA");
	if (ah)
		ibv_destroy_ah(ah);
	aa.grh.sgid_index = A.gidx;
	aa.is_global = 0;
	errno = 0;
	ah = ibv_create_ah(pd, &aa);
	CHECK(!ah && errno == EINVAL, "create_ah without a GRH refused with EINVAL");
	if (ah)
		ibv_destroy_ah(ah);
	aa.is_global = 1;
	aa.port_num = 2;
	errno = 0;
	ah = ibv_create_ah(pd, &aa);
	CHECK(!ah && errno == EINVAL, "create_ah on port 2 refused with EINVAL");
	if (ah)
		ibv_destroy_ah(ah);

	CHECK(ibv_destroy_qp(qp) == 0, "destroy_qp");
	CHECK(ibv_destroy_cq(cq) == 0, "destroy_cq once the QP is gone");
	rc = ibv_dealloc_pd(pd);
	CHECK(rc == EBUSY, "dealloc_pd with an MR on it refused with EBUSY (%d)", rc);
	CHECK(ibv_dereg_mr(mr) == 0 && ibv_dealloc_pd(pd) == 0, "dealloc_pd once the MR is gone");
}

static int refusals(void)
{
	refuse_posts();
	refuse_srq();
	refuse_objects();
	good_traffic("the refusals");
	return failed;
}

/*
 * Sends crafted packets to qpn: the command in $INJECT (errors.sh runs
 * roce_pkt.py in A's namespace, from A's address: from the QP's peer) with
 * the packet KINDS roce_pkt.py takes.
 */
static int inject(uint32_t qpn, const char *kinds)
{
	const char *cmd = getenv("INJECT");
	char line[1024];

	if (!cmd) {
		fprintf(stderr, "INJECT is not set: no way to send crafted packets\n");
		return -1;
	}
	snprintf(line, sizeof(line), "%s --qpn %u %s", cmd, qpn, kinds);
	return system(line) == 0 ? 0 : -1;
}

/*
 * RC: crafted requests out of the opcode sequence (a message that does
 * not end, or one that does not begin) or of bad lengths are invalid
 * requests (class C): the receive they took or found in progress
 * completes with recv_status, the responder QP goes to the error state
 * and raises no event; the requester, which sent nothing, is not
 * disturbed by the NAK.
 */
static void seq_rc(const char *what, const char *kinds, enum ibv_wc_status recv_status)
{
	struct pair p;
	struct ibv_wc wc[4];
	int n;

	if (pair_new(&p, &RC))
		return;
	memset(B.buf + 32768, 0, 4096);
	post_recv(p.b.qp, &B, 32768, 4096, 100);
	CHECK(!inject(p.b.qp->qp_num, kinds), "%s: %s sent", what, kinds);
	n = poll_n(p.b.cq, wc, 1, WAIT_MS);
	CHECK(n == 1 && wc[0].wr_id == 100 && wc[0].status == recv_status,
	      "%s: the receive completes with %s (%s)", what, st(recv_status),
	      n ? st(wc[0].status) : "none");
	check_states(&p, what, IBV_QPS_RTS, IBV_QPS_ERR);
	check_events(&p, what, 0);
	pair_free(&p);
}

/*
 * UC: a crafted SEND FIRST (kinds, just before A's first PSN) that A's
 * own messages then break off, or that is of a bad length. The broken
 * message's receive, if from the QP's ring, takes the next message (class
 * D); if an SRQ gave it, it completes with a remote invalid request error
 * (class E). A's two messages then land whole in the receives that
 * follow, and the QP stays RTS.
 */
static void seq_uc(const char *what, int with_srq, const char *kinds)
{
	const struct conn c = { .type = IBV_QPT_UC, .b_access = IBV_ACCESS_REMOTE_WRITE };
	struct ibv_srq_init_attr si = { .attr = { .max_wr = 16, .max_sge = 1 } };
	struct ibv_srq *srq = with_srq ? ibv_create_srq(B.pd, &si) : NULL;
	struct pair p = { 0 };
	struct ibv_wc wc[4];
	int n, first = 100;

	if ((with_srq && !srq) || end_new(&A, &p.a, c.type) ||
	    end_new_srq(&B, &p.b, c.type, srq) ||
	    connect_end(&A, &B, p.a.qp, p.b.qp->qp_num, &c, 0, 0, 1) ||
	    connect_end(&B, &A, p.b.qp, p.a.qp->qp_num, &c, c.b_access, 0, 1)) {
		CHECK(0, "%s: UC pair set up", what);
		goto out;
	}
	memset(B.buf + 32768, 0, 3 * 4096);
	for (int i = 0; i < 3; i++) {
		struct ibv_sge rs = sge_of(&B, 32768 + i * 4096, 4096);
		struct ibv_recv_wr rw = { .wr_id = 100 + i, .sg_list = &rs, .num_sge = 1 }, *rbad;

		CHECK(!(srq ? ibv_post_srq_recv(srq, &rw, &rbad) : ibv_post_recv(p.b.qp, &rw, &rbad)),
		      "%s: receive %d posted", what, 100 + i);
	}
	CHECK(!inject(p.b.qp->qp_num, kinds), "%s: %s sent", what, kinds);
	fill(A.buf, 64, 11);
	fill(A.buf + 4096, 64, 12);
	for (int i = 0; i < 2; i++) {
		struct ibv_sge s = sge_of(&A, i * 4096, 64);
		struct ibv_send_wr w = wr1(&s, 1 + i, IBV_WR_SEND, 0, 0), *bad;

		CHECK(ibv_post_send(p.a.qp, &w, &bad) == 0 && poll_n(p.a.cq, wc, 1, WAIT_MS) == 1 &&
			      wc[0].status == IBV_WC_SUCCESS,
		      "%s: A's message %d completes on the requester", what, 1 + i);
	}
	if (srq) {
		n = poll_n(p.b.cq, wc, 1, WAIT_MS);
		CHECK(n == 1 && wc[0].wr_id == 100 && wc[0].status == IBV_WC_REM_INV_REQ_ERR,
		      "%s: the SRQ receive of the broken message completes with %s (%s)", what,
		      st(IBV_WC_REM_INV_REQ_ERR), n ? st(wc[0].status) : "none");
		first = 101;
	}
	n = poll_n(p.b.cq, wc, 2, WAIT_MS);
	for (int i = 0; i < 2; i++)
		CHECK(n > i && wc[i].wr_id == (uint64_t)(first + i) &&
			      wc[i].status == IBV_WC_SUCCESS && wc[i].byte_len == 64 &&
			      filled(B.buf + 32768 + (first - 100 + i) * 4096, 64, 11 + i),
		      "%s: A's message %d lands whole in receive %d (%s)", what, 1 + i, first + i,
		      n > i ? st(wc[i].status) : "none");
	CHECK(poll_quiet(p.b.cq, wc, 4) == 0, "%s: nothing else completes", what);
	check_states(&p, what, IBV_QPS_RTS, IBV_QPS_RTS);
out:
	pair_free(&p);
	if (srq)
		ibv_destroy_srq(srq);
}

static int sequence(void)
{
	static const struct {
		const char *what, *kind;
		enum ibv_wc_status recv;
	} rc[] = {
		{ "RC SEND LAST with no message begun", "send-last:8", IBV_WC_WR_FLUSH_ERR },
		{ "RC SEND ONLY longer than the path MTU", "send-only:1200", IBV_WC_REM_INV_REQ_ERR },
		{ "RC SEND FIRST shorter than the path MTU", "send-first:512", IBV_WC_REM_INV_REQ_ERR },
		{ "RC WRITE asking for more than 2 GiB, with a bad rkey", "write-bad-len",
		  IBV_WC_WR_FLUSH_ERR },
	};
	char kinds[128];

	snprintf(kinds, sizeof(kinds), "send-first:1024@%d send-only:8@%d", PSN, PSN + 1);
	seq_rc("RC SEND FIRST, then a SEND ONLY", kinds, IBV_WC_REM_INV_REQ_ERR);
	for (unsigned int i = 0; i < sizeof(rc) / sizeof(rc[0]); i++) {
		snprintf(kinds, sizeof(kinds), "%s@%d", rc[i].kind, PSN);
		seq_rc(rc[i].what, kinds, rc[i].recv);
	}
	good_traffic("RC requests out of sequence or of bad lengths");
	/* Just before A's first PSN: A's first message comes next in sequence. */
	snprintf(kinds, sizeof(kinds), "uc-send-first:1024@%d", PSN - 1);
	seq_uc("UC message broken off (own receive queue)", 0, kinds);
	seq_uc("UC message broken off (SRQ)", 1, kinds);
	snprintf(kinds, sizeof(kinds), "uc-send-first:512@%d", PSN - 1);
	seq_uc("UC SEND FIRST shorter than the path MTU (own receive queue)", 0, kinds);
	seq_uc("UC SEND FIRST shorter than the path MTU (SRQ)", 1, kinds);
	good_traffic("broken UC messages");
	return failed;
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(void);
	} cases[] = {
		{ "local", local },	    { "remote", remote }, { "qp_access", qp_access },
		{ "length", length },	    { "retries", retries }, { "timer", timer },
		{ "atomic", atomic },
		{ "ud", ud },		    { "refusals", refusals },
		{ "sequence", sequence },
	};

	if (argc < 4) {
		fprintf(stderr, "usage: verbs_errors DEV_A DEV_B CASE\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (dev_open(&A, argv[1]) || dev_open(&B, argv[2]))
		return 1;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!strcmp(argv[3], cases[i].name))
			return cases[i].fn();
	fprintf(stderr, "unknown case %s\n", argv[3]);
	return 2;
}
