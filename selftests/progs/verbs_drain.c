// SPDX-License-Identifier: GPL-2.0
/*
 * The send queue drain (SQD) between two rxe devices, through the stock
 * rdma-core provider, in one process:
 *   verbs_drain DEV_A DEV_B drain     RC sends in flight when A's QP goes
 *                                     to SQD: the messages begun finish,
 *                                     no new one starts, SQ_DRAINED comes
 *                                     through ibv_get_async_event, sends
 *                                     posted in SQD wait, and SQD -> RTS
 *                                     sends the rest; every payload
 *                                     checked, in order
 *   verbs_drain DEV_A DEV_B quiet     the same drain without
 *                                     en_sqd_async_notify: it ends
 *                                     (query_qp's sq_draining) with no
 *                                     event
 *   verbs_drain DEV_A DEV_B receive   a QP in SQD still receives and
 *                                     answers its peer's sends, writes
 *                                     and reads
 *   verbs_drain DEV_A DEV_B refusals  SQD from RTR, and SQD's own
 *                                     refusals
 * The drain case runs over a lossy link too (the script adds netem): the
 * messages begun are retransmitted in SQD. Prints one line per check;
 * exit 0 when all hold, the failures on stderr.
 */
#define BUF_SIZE (1024 * 1024)
#define PAIR_WR 128
#include "verbs_pair.h"

/* Messages of 16 packets at the pair's path MTU (1024). */
#define MSG (16 * 1024)
/* Sends posted before the drain, and while draining. */
#define N_BEFORE 48
#define N_DURING 8
#define SLOTS (BUF_SIZE / MSG)

/* Drains never end slowly unless something is wrong; loss adds retries. */
#define DRAIN_MS 30000

/* RC with every retry a lossy link may need. */
static const struct conn RC_LOSSY = {
	.type = IBV_QPT_RC, .b_access = IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ |
					IBV_ACCESS_REMOTE_ATOMIC,
	.b_rd_atomic = 4, .timeout = 14, .retry_cnt = 7, .rnr_retry = 7,
};

/* Waits up to ms for async event type on qp; whether it came. */
static int wait_event(struct dev *d, struct ibv_qp *qp, enum ibv_event_type type, int ms)
{
	long end = now_ms() + ms;

	do {
		if (qp_events(d, qp, 50) & (1UL << type))
			return 1;
	} while (now_ms() < end);
	return 0;
}

/* query_qp's state and sq_draining, or -1. */
static int drain_state(struct ibv_qp *qp, int *draining)
{
	struct ibv_qp_attr a;
	struct ibv_qp_init_attr i;

	if (ibv_query_qp(qp, &a, IBV_QP_STATE, &i))
		return -1;
	*draining = a.sq_draining;
	return a.qp_state;
}

static int to_sqd(struct ibv_qp *qp, int notify)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_SQD, .en_sqd_async_notify = notify };

	return ibv_modify_qp(qp, &a, IBV_QP_STATE | (notify ? IBV_QP_EN_SQD_ASYNC_NOTIFY : 0));
}

static int to_rts(struct ibv_qp *qp)
{
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_RTS };

	return ibv_modify_qp(qp, &a, IBV_QP_STATE);
}

/* Posts sends first..last-1 of MSG bytes from A's slot i (message i). */
static int post_sends(struct pair *p, int first, int last)
{
	struct ibv_send_wr w[N_BEFORE + N_DURING], *bad;
	struct ibv_sge s[N_BEFORE + N_DURING];
	int n = last - first;

	for (int k = 0; k < n; k++) {
		int i = first + k;

		fill(A.buf + (size_t)(i % SLOTS) * MSG, MSG, i);
		s[k] = sge_of(&A, (size_t)(i % SLOTS) * MSG, MSG);
		w[k] = wr1(&s[k], i, IBV_WR_SEND, 0, 0);
		w[k].next = k + 1 < n ? &w[k + 1] : NULL;
	}
	return n ? ibv_post_send(p->a.qp, w, &bad) : 0;
}

/*
 * Takes the completions that come on cq within ms, at most max; checks
 * they are successes of wr_ids *next, *next + 1, ... and, for receives,
 * that message wr_id arrived whole in B's slot. Returns how many came, or
 * -1 if one was wrong.
 */
static int take_in_order(struct ibv_cq *cq, int *next, int max, int ms, int recv)
{
	struct ibv_wc wc[N_BEFORE + N_DURING];
	int n = poll_n(cq, wc, max, ms);

	for (int k = 0; k < n; k++) {
		int i = *next + k;

		if (wc[k].status != IBV_WC_SUCCESS || wc[k].wr_id != (uint64_t)i ||
		    (recv && (wc[k].byte_len != MSG ||
			      !filled(B.buf + (size_t)(i % SLOTS) * MSG, MSG, i)))) {
			fprintf(stderr, "completion %d: wr_id %llu, %s, %u bytes (want %d, %d)\n",
				k, (unsigned long long)wc[k].wr_id, st(wc[k].status),
				wc[k].byte_len, i, recv ? MSG : 0);
			return -1;
		}
	}
	*next += n;
	return n;
}

/*
 * Sends in flight, then SQD: the messages begun complete, and only they;
 * the drain's end is reported (notify) or only seen in query_qp; sends
 * posted meanwhile wait; SQD -> RTS sends everything else, in order.
 */
static int drain(int notify)
{
	const char *how = notify ? "with en_sqd_async_notify" : "without notification";
	struct pair p;
	int sent = 0, rcvd = 0, n, state, draining = 1, ok;
	long t0, end;

	if (pair_new(&p, &RC_LOSSY))
		return 1;
	memset(B.buf, 0, BUF_SIZE);
	for (int i = 0; i < N_BEFORE + N_DURING; i++)
		if (post_recv(p.b.qp, &B, (size_t)(i % SLOTS) * MSG, MSG, i))
			CHECK(0, "post receive %d", i);
	CHECK(!post_sends(&p, 0, N_BEFORE), "%s: %d sends of %d KiB posted", how, N_BEFORE,
	      MSG / 1024);
	CHECK(!to_sqd(p.a.qp, notify), "%s: modify_qp RTS -> SQD with sends in flight", how);
	t0 = now_ms();

	if (notify) {
		CHECK(wait_event(&A, p.a.qp, IBV_EVENT_SQ_DRAINED, DRAIN_MS),
		      "%s: IBV_EVENT_SQ_DRAINED through ibv_get_async_event (%ld ms)", how,
		      now_ms() - t0);
	} else {
		end = now_ms() + DRAIN_MS;
		while ((state = drain_state(p.a.qp, &draining)) == IBV_QPS_SQD && draining &&
		       now_ms() < end)
			usleep(10000);
		CHECK(!draining, "%s: the drain ends (query_qp: sq_draining 0, %ld ms)", how,
		      now_ms() - t0);
		CHECK(!(qp_events(&A, p.a.qp, QUIET_MS) & (1UL << IBV_EVENT_SQ_DRAINED)),
		      "%s: no SQ_DRAINED event when none was asked for", how);
	}
	state = drain_state(p.a.qp, &draining);
	CHECK(state == IBV_QPS_SQD && !draining, "%s: query_qp after the drain: %s, sq_draining %d",
	      how, qps_name(state), draining);

	/* Everything begun has completed, on both sides, and nothing else. */
	n = take_in_order(p.a.cq, &sent, N_BEFORE, QUIET_MS, 0);
	CHECK(n > 0 && n < N_BEFORE,
	      "%s: the messages begun before SQD completed: %d of %d, in order", how, n, N_BEFORE);
	n = take_in_order(p.b.cq, &rcvd, N_BEFORE, WAIT_MS, 1);
	CHECK(n >= 0 && rcvd == sent, "%s: the peer received exactly those, data checked (%d)",
	      how, rcvd);
	n = take_in_order(p.a.cq, &sent, N_BEFORE, QUIET_MS, 0);
	CHECK(n == 0, "%s: no new message starts in SQD (%d more completed)", how, n);

	/* Posting in SQD is allowed; the sends wait for RTS. */
	CHECK(!post_sends(&p, N_BEFORE, N_BEFORE + N_DURING), "%s: %d sends posted in SQD", how,
	      N_DURING);
	n = take_in_order(p.a.cq, &sent, N_BEFORE, QUIET_MS, 0);
	CHECK(n == 0, "%s: they wait (%d completed)", how, n);

	CHECK(!to_rts(p.a.qp), "%s: modify_qp SQD -> RTS", how);
	while (sent < N_BEFORE + N_DURING &&
	       (n = take_in_order(p.a.cq, &sent, N_BEFORE + N_DURING - sent, DRAIN_MS, 0)) > 0)
		;
	ok = sent == N_BEFORE + N_DURING;
	CHECK(ok, "%s: after RTS every send completes, in order (%d of %d)", how, sent,
	      N_BEFORE + N_DURING);
	while (rcvd < N_BEFORE + N_DURING &&
	       (n = take_in_order(p.b.cq, &rcvd, N_BEFORE + N_DURING - rcvd, WAIT_MS, 1)) > 0)
		;
	CHECK(rcvd == N_BEFORE + N_DURING,
	      "%s: the peer received every message once, in order, data checked (%d)", how, rcvd);
	CHECK(!qp_events(&A, p.a.qp, 0) && !qp_events(&B, p.b.qp, 0),
	      "%s: no other async event", how);
	pair_free(&p);
	return failed;
}

/* A QP in SQD goes on receiving: its peer's sends, writes and reads. */
static int receive(void)
{
	struct pair p;
	struct ibv_wc wc[4];
	int state, draining = -1;

	if (pair_new(&p, &RC))
		return 1;
	CHECK(!to_sqd(p.b.qp, 1), "B's QP (the responder) to SQD");
	CHECK(wait_event(&B, p.b.qp, IBV_EVENT_SQ_DRAINED, DRAIN_MS),
	      "an empty send queue drains at once: SQ_DRAINED");
	state = drain_state(p.b.qp, &draining);
	CHECK(state == IBV_QPS_SQD && !draining, "query_qp: %s, sq_draining %d", qps_name(state),
	      draining);
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
	CHECK(!post_recv(p.b.qp, &B, 0, 4096, 9) && !ibv_post_send(p.a.qp, &w1, &bad),
	      "posted a send, a write and a read to the QP in SQD");
	CHECK(poll_n(p.a.cq, wc, 3, WAIT_MS) == 3 && wc[0].status == IBV_WC_SUCCESS &&
	      wc[1].status == IBV_WC_SUCCESS && wc[2].status == IBV_WC_SUCCESS,
	      "they complete on the requester");
	CHECK(poll_n(p.b.cq, wc + 3, 1, WAIT_MS) == 1 && wc[3].status == IBV_WC_SUCCESS &&
	      wc[3].byte_len == 3000 && filled(B.buf, 3000, 1) && filled(B.buf + 8192, 5000, 2) &&
	      filled(A.buf + 24576, 5000, 3),
	      "the QP in SQD received the send and the write, answered the read, data checked");
	CHECK(!to_rts(p.b.qp) && qp_state(p.b.qp) == IBV_QPS_RTS, "back to RTS");
	pair_free(&p);
	return failed;
}

/* SQD only from RTS (or SQD); RTR and INIT refuse it. */
static int refusals(void)
{
	struct end e;
	struct ibv_qp_attr a = { .qp_state = IBV_QPS_INIT, .port_num = 1,
				 .qp_access_flags = IBV_ACCESS_REMOTE_WRITE };
	int rc;

	if (end_new(&A, &e, IBV_QPT_RC))
		return 1;
	rc = to_sqd(e.qp, 1);
	CHECK(rc == EINVAL, "RESET -> SQD refused with EINVAL (%s)", strerror(rc));
	CHECK(!ibv_modify_qp(e.qp, &a,
			     IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS),
	      "to INIT");
	rc = to_sqd(e.qp, 1);
	CHECK(rc == EINVAL, "INIT -> SQD refused with EINVAL (%s)", strerror(rc));
	end_free(&e);

	struct pair p;

	if (pair_new(&p, &RC))
		return 1;
	/* b's QP back to RESET, then up to RTR only. */
	struct ibv_qp_attr r = { .qp_state = IBV_QPS_RESET };

	CHECK(!ibv_modify_qp(p.b.qp, &r, IBV_QP_STATE) &&
	      !connect_end(&B, &A, p.b.qp, p.a.qp->qp_num, &RC, RC.b_access, 4, 0),
	      "a QP in RTR");
	rc = to_sqd(p.b.qp, 1);
	CHECK(rc == EINVAL && qp_state(p.b.qp) == IBV_QPS_RTR,
	      "RTR -> SQD refused with EINVAL, the QP stays in RTR (%s)", strerror(rc));
	CHECK(!to_sqd(p.a.qp, 1) && !to_sqd(p.a.qp, 0) && qp_state(p.a.qp) == IBV_QPS_SQD,
	      "SQD -> SQD (changing other attributes) is allowed");
	CHECK(!(qp_events(&A, p.a.qp, QUIET_MS) & ~(1UL << IBV_EVENT_SQ_DRAINED)),
	      "no async event but SQ_DRAINED");
	pair_free(&p);
	return failed;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s DEV_A DEV_B drain|quiet|receive|refusals\n", argv[0]);
		return 2;
	}
	if (dev_open(&A, argv[1]) || dev_open(&B, argv[2]))
		return 1;
	if (!strcmp(argv[3], "drain"))
		return drain(1);
	if (!strcmp(argv[3], "quiet"))
		return drain(0);
	if (!strcmp(argv[3], "receive"))
		return receive();
	if (!strcmp(argv[3], "refusals"))
		return refusals();
	fprintf(stderr, "unknown case %s\n", argv[3]);
	return 2;
}
