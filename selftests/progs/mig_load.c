// SPDX-License-Identifier: GPL-2.0
/*
 * mig_load: the project's verified two-way workload for live migration.
 * Two processes (a server and a client, meeting over TCP like the
 * pingpong tools) connect NQP RC QPs and run, on every QP and in both
 * directions at once, a mix of SENDs carrying sequence numbers, RDMA
 * WRITEs with immediate into a window of slots, RDMA READs of a pattern
 * and atomics (fetch-and-add, compare-and-swap) on a counter only that QP
 * touches. Everything is checked as it completes:
 *
 *  - a SEND's payload and sequence number (each exactly the next one: no
 *    loss, duplicate or reordering), the same for each WRITE with
 *    immediate (its immediate the sequence number, its slot the pattern);
 *  - a READ's data, the pattern of the peer's region it read;
 *  - an atomic's result: the counter as many times added to as this QP's
 *    atomics before it (an atomic carried out twice shows);
 *  - the send completions' wr_ids, each the next one (nothing completed
 *    twice, or out of order);
 *  - with -W, a ledger: entry n of a region only the peer writes (RDMA
 *    WRITE n at offset 8n, never overwritten), checked whole at the end.
 *    Memory the process itself never touches, which only the kernel writes
 *    into, is what a checkpoint on top of an earlier one (criu pre-dump,
 *    then dump --track-mem) may take stale: a lost entry shows it.
 *
 * At the end the two meet over TCP again and compare totals: what one
 * sent, the other received; its counter ends at the peer's atomics.
 * Either process may be moved (rxe-ckpt move) while it runs; it does not
 * know. Prints one line of totals and the longest gap between two
 * completions (the blackout a move caused), exit 0; or FAIL and why,
 * exit 1.
 *
 * Usage: mig_load -d DEV [-x GIDX] [-q NQP] [-t SECS] [-f STOPFILE]
 *                 [-s SIZE] [-e] [-p PORT] [-i USEC] [-T TIMEOUT] [-k] [-H] [-W]
 *                 [SERVER_IP]
 * It runs SECS seconds (10), or until STOPFILE exists if that comes first.
 * -e waits for completions on a completion channel, non-blocking as event
 * loops read it; -i USEC takes a timer's SIGALRM every USEC microseconds;
 * -T sets the QPs' ack timeout (14: 67 ms). -k keeps the process once the
 * run is verified and its RDMA resources are gone, idle, its memory as it
 * was, until it is killed (the same process without its RDMA state, for
 * make bench to checkpoint). -H puts the MR on transparent huge pages
 * (2 MiB aligned, madvised); the ledger (-W, 2 MiB) then fills huge
 * pages of its own. Both sides take the same -W.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <infiniband/verbs.h>

#define MAGIC 0x6d69676cu	/* "migl" */
#define RECVS 32		/* receive WQEs per QP */
#define WINDOW 16		/* work requests in flight per QP (<= RECVS) */
#define SLOTS (2 * RECVS)	/* write-with-immediate slots per QP */
#define READ_AREA 65536		/* the pattern READs read, per QP */
#define READ_LEN 2048
#define PSN 0x1000
#define LEDGER_BYTES (2u << 20)
#define LEDGER_ENTRIES (LEDGER_BYTES / 8)

static const char *prog = "mig_load";
/* The QPs' ack timeout (4.096 us << it): -T, 14 (67 ms) by default. */
static int ack_timeout = 14;

#define die(...)                                                  \
	do {                                                      \
		fprintf(stderr, "%s: FAIL: ", prog);              \
		fprintf(stderr, __VA_ARGS__);                     \
		fprintf(stderr, "\n");                            \
		exit(1);                                          \
	} while (0)

/* The mix each QP posts in turn; with -W the ledger's WRITEs join it. */
enum op { OP_SEND, OP_WRITE, OP_READ, OP_ATOMIC, OP_KINDS, OP_LEDGER = OP_KINDS };

/* What one side tells the other of a QP. */
struct wire_qp {
	uint32_t qpn, rkey;
	uint64_t base;		/* the QP's region in the peer's MR */
};

struct wire_hello {
	uint32_t magic, nqp, size, ledger_on;
	uint8_t gid[16];
	uint64_t ledger;	/* the address of this side's ledger */
};

/* Totals, per QP, compared at the end. */
struct wire_totals {
	uint64_t sends, writes, atomics;
};

/*
 * A QP's region of the MR: receive buffers, the write slots the peer
 * writes, the read pattern the peer reads, the counter the peer's atomics
 * change; then what only this side uses (send buffers, read and atomic
 * results).
 */
struct layout {
	size_t recv, slots, read_src, counter, send, read_dst, atomic_dst, size;
};

struct qp {
	int idx;
	struct ibv_qp *qp;
	char *base;
	struct wire_qp peer;
	/* Requester. */
	uint64_t posted, done;		/* work requests (wr_id = sequence) */
	uint64_t sends, writes, reads, atomics;
	uint64_t ops_of[WINDOW];	/* the op of each wr_id in flight */
	uint64_t arg_of[WINDOW];	/* its sequence number among its kind */
	/* Responder side: what came. */
	uint64_t recv_sends, recv_writes;
};

static struct layout L;
static unsigned int nqp = 1, msg_size = 4096;
static struct ibv_context *ctx;
static struct ibv_pd *pd;
static struct ibv_mr *mr;
static struct ibv_cq *cq;
static struct ibv_comp_channel *channel;
static struct qp *qps;
static char *mem;
static int is_server;
static long long max_gap_us, last_wc_us;
/* -W: this side's ledger (the peer writes it), the peer's, entries written there. */
static char *ledger;
static uint64_t peer_ledger, ledger_n;

static long long now_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000LL + t.tv_nsec / 1000;
}

/* The byte at @i of a payload made from @seed. */
static inline char pat(uint64_t seed, size_t i)
{
	uint64_t x = seed * 0x9e3779b97f4a7c15ull + i;

	return (char)(x ^ (x >> 29) ^ (x >> 13));
}

static void fill(char *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = pat(seed, i);
}

static int check(const char *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != pat(seed, i))
			return (int)i + 1;
	return 0;
}

/* Seeds: which side (0 server, 1 client) made it, which QP, which kind, which sequence. */
static uint64_t seed(int side, int q, int kind, uint64_t seq)
{
	return ((uint64_t)side << 62) ^ ((uint64_t)q << 40) ^ ((uint64_t)kind << 36) ^ seq;
}

static void layout(void)
{
	size_t off = 0;

#define TAKE(f, n) do { L.f = off; off += ((n) + 63) & ~(size_t)63; } while (0)
	TAKE(recv, (size_t)RECVS * msg_size);
	TAKE(slots, (size_t)SLOTS * msg_size);
	TAKE(read_src, READ_AREA);
	TAKE(counter, 8);
	TAKE(send, (size_t)WINDOW * msg_size);
	TAKE(read_dst, (size_t)WINDOW * READ_LEN);
	TAKE(atomic_dst, (size_t)WINDOW * 8);
#undef TAKE
	L.size = (off + 4095) & ~(size_t)4095;
}

static void post_recv(struct qp *q, int slot)
{
	struct ibv_sge s = {
		.addr = (uintptr_t)q->base + L.recv + (size_t)slot * msg_size,
		.length = msg_size, .lkey = mr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = (uint64_t)slot, .sg_list = &s, .num_sge = 1 }, *bad;

	if (ibv_post_recv(q->qp, &wr, &bad))
		die("qp %d: post_recv: %s", q->idx, strerror(errno));
}

static int my_side(void)
{
	return is_server ? 0 : 1;
}

/* Ledger entry @n as side @side writes it (never 0: an unwritten one is). */
static uint64_t ledger_entry(int side, uint64_t n)
{
	return seed(side, 0, OP_LEDGER, n) | 1ull << 63 | 1;
}

/* The ledger the peer wrote, @n entries: each there, nothing beyond. */
static void check_ledger(uint64_t n)
{
	uint64_t got;

	if (n > LEDGER_ENTRIES)
		die("the peer claims %llu ledger entries", (unsigned long long)n);
	for (uint64_t i = 0; i < LEDGER_ENTRIES; i++) {
		memcpy(&got, ledger + i * 8, 8);
		if (i < n && got != ledger_entry(!my_side(), i))
			die("ledger entry %llu of the peer's %llu is %#llx, not %#llx (a write of the "
			    "peer lost: memory restored stale?)", (unsigned long long)i,
			    (unsigned long long)n, (unsigned long long)got,
			    (unsigned long long)ledger_entry(!my_side(), i));
		if (i >= n && got)
			die("ledger entry %llu written, beyond the peer's %llu", (unsigned long long)i,
			    (unsigned long long)n);
	}
	printf("%s: ledger: the peer's %llu writes all there\n", prog, (unsigned long long)n);
}

/* Posts the next work request of @q: the kinds in turn. */
static void post_next(struct qp *q)
{
	uint64_t k = q->posted, w = k % WINDOW;
	int kind = (int)(k % (OP_KINDS + !!ledger));
	struct ibv_sge s = { .lkey = mr->lkey };
	struct ibv_send_wr wr = {
		.wr_id = k, .sg_list = &s, .num_sge = 1, .send_flags = IBV_SEND_SIGNALED,
	}, *bad;
	char *buf = q->base + L.send + w * msg_size;

	/* A full ledger is never written over: a SEND instead. */
	if (kind == OP_LEDGER && ledger_n >= LEDGER_ENTRIES)
		kind = OP_SEND;
	q->ops_of[w] = (uint64_t)kind;
	switch (kind) {
	case OP_SEND:
		q->arg_of[w] = q->sends;
		fill(buf, msg_size, seed(my_side(), q->idx, OP_SEND, q->sends));
		/* The sequence number leads, for a readable report. */
		memcpy(buf, &q->sends, 8);
		s.addr = (uintptr_t)buf;
		s.length = msg_size;
		wr.opcode = IBV_WR_SEND;
		q->sends++;
		break;
	case OP_WRITE:
		q->arg_of[w] = q->writes;
		fill(buf, msg_size, seed(my_side(), q->idx, OP_WRITE, q->writes));
		s.addr = (uintptr_t)buf;
		s.length = msg_size;
		wr.opcode = IBV_WR_RDMA_WRITE_WITH_IMM;
		wr.imm_data = htonl((uint32_t)q->writes);
		wr.wr.rdma.remote_addr = q->peer.base + L.slots + (q->writes % SLOTS) * msg_size;
		wr.wr.rdma.rkey = q->peer.rkey;
		q->writes++;
		break;
	case OP_READ: {
		uint64_t off = (q->reads * 1031) % (READ_AREA - READ_LEN);

		q->arg_of[w] = off;
		s.addr = (uintptr_t)q->base + L.read_dst + w * READ_LEN;
		s.length = READ_LEN;
		memset((void *)(uintptr_t)s.addr, 0, READ_LEN);
		wr.opcode = IBV_WR_RDMA_READ;
		wr.wr.rdma.remote_addr = q->peer.base + L.read_src + off;
		wr.wr.rdma.rkey = q->peer.rkey;
		q->reads++;
		break;
	}
	case OP_LEDGER: {
		uint64_t v = ledger_entry(my_side(), ledger_n);

		q->arg_of[w] = ledger_n;
		memcpy(buf, &v, 8);
		s.addr = (uintptr_t)buf;
		s.length = 8;
		wr.opcode = IBV_WR_RDMA_WRITE;
		wr.wr.rdma.remote_addr = peer_ledger + ledger_n * 8;
		wr.wr.rdma.rkey = q->peer.rkey;
		ledger_n++;
		break;
	}
	default:
		q->arg_of[w] = q->atomics;
		s.addr = (uintptr_t)q->base + L.atomic_dst + w * 8;
		s.length = 8;
		memset((void *)(uintptr_t)s.addr, 0xee, 8);
		/* Every fourth a compare-and-swap that must succeed. */
		if (q->atomics % 4 == 3) {
			wr.opcode = IBV_WR_ATOMIC_CMP_AND_SWP;
			wr.wr.atomic.compare_add = q->atomics;
			wr.wr.atomic.swap = q->atomics + 1;
		} else {
			wr.opcode = IBV_WR_ATOMIC_FETCH_AND_ADD;
			wr.wr.atomic.compare_add = 1;
		}
		wr.wr.atomic.remote_addr = q->peer.base + L.counter;
		wr.wr.atomic.rkey = q->peer.rkey;
		q->atomics++;
		break;
	}
	if (ibv_post_send(q->qp, &wr, &bad))
		die("qp %d: post_send of wr %llu: %s", q->idx, (unsigned long long)k,
		    strerror(errno));
	q->posted++;
}

/* A send completion: the next one, its result checked. */
static void send_done(struct qp *q, struct ibv_wc *wc)
{
	uint64_t w = wc->wr_id % WINDOW, arg = q->arg_of[w];

	if (wc->wr_id != q->done)
		die("qp %d: send completion for wr %llu, expected %llu (lost, twice or out of order)",
		    q->idx, (unsigned long long)wc->wr_id, (unsigned long long)q->done);
	q->done++;
	if (q->ops_of[w] == OP_READ) {
		const char *got = q->base + L.read_dst + w * READ_LEN;

		for (size_t i = 0; i < READ_LEN; i++)
			if (got[i] != pat(seed(!my_side(), q->idx, OP_READ, 0), arg + i))
				die("qp %d: READ at %llu: byte %zu differs", q->idx,
				    (unsigned long long)arg, i);
	} else if (q->ops_of[w] == OP_ATOMIC) {
		uint64_t old;

		memcpy(&old, q->base + L.atomic_dst + w * 8, 8);
		if (old != arg)
			die("qp %d: atomic %llu found the counter at %llu (an atomic lost or done twice)",
			    q->idx, (unsigned long long)arg, (unsigned long long)old);
	}
}

/* A receive completion: a SEND or a WRITE with immediate, the next one. */
static void recv_done(struct qp *q, struct ibv_wc *wc)
{
	int slot = (int)wc->wr_id, bad;

	if (wc->opcode == IBV_WC_RECV_RDMA_WITH_IMM) {
		uint32_t seq = ntohl(wc->imm_data);
		uint64_t want = q->recv_writes;
		const char *p = q->base + L.slots + (want % SLOTS) * msg_size;

		if (seq != (uint32_t)want)
			die("qp %d: WRITE with immediate %u, expected %llu", q->idx, seq,
			    (unsigned long long)want);
		bad = check(p, msg_size, seed(!my_side(), q->idx, OP_WRITE, want));
		if (bad)
			die("qp %d: WRITE %llu: byte %d of its slot differs", q->idx,
			    (unsigned long long)want, bad - 1);
		q->recv_writes++;
	} else if (wc->opcode == IBV_WC_RECV) {
		const char *p = q->base + L.recv + (size_t)slot * msg_size;
		uint64_t want = q->recv_sends, seq;

		memcpy(&seq, p, 8);
		if (wc->byte_len != msg_size || seq != want)
			die("qp %d: SEND %llu of %u bytes, expected %llu of %u", q->idx,
			    (unsigned long long)seq, wc->byte_len, (unsigned long long)want,
			    msg_size);
		/* The pattern under the sequence number. */
		for (size_t i = 8; i < msg_size; i++)
			if (p[i] != pat(seed(!my_side(), q->idx, OP_SEND, want), i))
				die("qp %d: SEND %llu: byte %zu differs", q->idx,
				    (unsigned long long)want, i);
		q->recv_sends++;
	} else {
		die("qp %d: receive completion with opcode %d", q->idx, wc->opcode);
	}
	post_recv(q, slot);
}

static struct qp *qp_of(uint32_t qpn)
{
	for (unsigned int i = 0; i < nqp; i++)
		if (qps[i].qp->qp_num == qpn)
			return &qps[i];
	die("completion for unknown QP %#x", qpn);
}

/* Waits up to @ms for completions when there are none (a channel, or a short sleep). */
static void wait_cq(int ms)
{
	struct pollfd p;
	struct ibv_cq *ev_cq;
	void *ev_ctx;

	if (!channel) {
		usleep(50);
		return;
	}
	p.fd = channel->fd;
	p.events = POLLIN;
	if (poll(&p, 1, ms) <= 0)
		return;
	/* Non-blocking: a wake-up with no event is EAGAIN, not a hang. */
	if (ibv_get_cq_event(channel, &ev_cq, &ev_ctx)) {
		if (errno == EAGAIN)
			return;
		die("ibv_get_cq_event: %s", strerror(errno));
	}
	ibv_ack_cq_events(ev_cq, 1);
	if (ibv_req_notify_cq(cq, 0))
		die("ibv_req_notify_cq: %s", strerror(errno));
}

/* Takes every completion there is; returns how many. */
static int poll_all(void)
{
	struct ibv_wc wc[32];
	int n, total = 0;

	while ((n = ibv_poll_cq(cq, 32, wc)) > 0) {
		for (int i = 0; i < n; i++) {
			struct qp *q = qp_of(wc[i].qp_num);
			long long t = now_us();

			if (wc[i].status != IBV_WC_SUCCESS)
				die("qp %d: completion of wr %llu: %s", q->idx,
				    (unsigned long long)wc[i].wr_id, ibv_wc_status_str(wc[i].status));
			if (last_wc_us && t - last_wc_us > max_gap_us)
				max_gap_us = t - last_wc_us;
			last_wc_us = t;
			if (wc[i].opcode & IBV_WC_RECV)
				recv_done(q, &wc[i]);
			else
				send_done(q, &wc[i]);
		}
		total += n;
	}
	if (n < 0)
		die("ibv_poll_cq failed");
	return total;
}

static void xfer(int s, void *buf, size_t len, int out)
{
	char *p = buf;

	while (len) {
		ssize_t r = out ? write(s, p, len) : read(s, p, len);

		if (r <= 0)
			die("TCP %s: %s", out ? "write" : "read", r ? strerror(errno) : "closed");
		p += r;
		len -= (size_t)r;
	}
}

/*
 * xfer() for the end of the run, while the peer may still have work
 * requests in flight: our completions are taken (and receive WQEs posted
 * again) while we wait, or the peer could wait for good on receive WQEs we
 * do not give back (RNR), and we on its totals.
 */
static int poll_all(void);

static void xfer_polling(int s, void *buf, size_t len, int out)
{
	struct pollfd p = { .fd = s, .events = out ? POLLOUT : POLLIN };

	for (;;) {
		int r = poll(&p, 1, 1);

		if (r < 0 && errno != EINTR)
			die("poll on TCP: %s", strerror(errno));
		if (r > 0)
			break;
		poll_all();
	}
	xfer(s, buf, len, out);
}

/*
 * -i USEC: a timer's SIGALRM every USEC during the run, so that signals
 * come while a move runs calls in the stopped process: they must all be
 * delivered (the count keeps growing), and the calls not be lost.
 */
static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void start_timer(long usec)
{
	struct sigaction sa = { .sa_handler = on_alarm, .sa_flags = SA_RESTART };
	struct itimerval it = {
		.it_interval = { .tv_sec = usec / 1000000, .tv_usec = usec % 1000000 },
		.it_value = { .tv_sec = usec / 1000000, .tv_usec = usec % 1000000 },
	};

	if (sigaction(SIGALRM, &sa, NULL) || setitimer(ITIMER_REAL, &it, NULL))
		die("timer: %s", strerror(errno));
}

static void stop_timer(void)
{
	struct itimerval off = { 0 };

	setitimer(ITIMER_REAL, &off, NULL);
}

static int tcp_meet(const char *server, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (s < 0)
		die("socket: %s", strerror(errno));
	if (server) {
		if (inet_pton(AF_INET, server, &a.sin_addr) != 1)
			die("bad server address %s", server);
		for (int i = 0; connect(s, (void *)&a, sizeof(a)); i++) {
			if (i > 100)
				die("connect %s: %s", server, strerror(errno));
			usleep(100000);
		}
		return s;
	}
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (void *)&a, sizeof(a)) || listen(s, 1))
		die("listen on %d: %s", port, strerror(errno));
	printf("%s: listening on %d\n", prog, port);
	fflush(stdout);
	int c = accept(s, NULL, NULL);

	if (c < 0)
		die("accept: %s", strerror(errno));
	close(s);
	return c;
}

static int find_gid(int want)
{
	struct ibv_port_attr port;
	static const uint8_t v4[12] = { [10] = 0xff, [11] = 0xff };

	if (want >= 0)
		return want;
	if (ibv_query_port(ctx, 1, &port))
		die("query_port: %s", strerror(errno));
	for (int i = 0; i < port.gid_tbl_len; i++) {
		struct ibv_gid_entry e;

		if (!ibv_query_gid_ex(ctx, 1, i, &e, 0) && e.gid_type == IBV_GID_TYPE_ROCE_V2 &&
		    !memcmp(e.gid.raw, v4, sizeof(v4)))
			return i;
	}
	die("no RoCEv2 IPv4 GID");
}

static void connect_qp(struct qp *q, int gidx, const uint8_t *dgid)
{
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT, .port_num = 1,
		.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				   IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC,
	};

	if (ibv_modify_qp(q->qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
			  IBV_QP_ACCESS_FLAGS))
		die("qp %d: to INIT", q->idx);
	for (int i = 0; i < RECVS; i++)
		post_recv(q, i);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = q->peer.qpn;
	a.rq_psn = PSN;
	a.max_dest_rd_atomic = 4;
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	memcpy(a.ah_attr.grh.dgid.raw, dgid, 16);
	a.ah_attr.grh.sgid_index = (uint8_t)gidx;
	a.ah_attr.grh.hop_limit = 64;
	a.ah_attr.port_num = 1;
	if (ibv_modify_qp(q->qp, &a, IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
			  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC |
			  IBV_QP_MIN_RNR_TIMER))
		die("qp %d: to RTR", q->idx);
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.sq_psn = PSN;
	a.timeout = (uint8_t)ack_timeout;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 4;
	if (ibv_modify_qp(q->qp, &a, IBV_QP_STATE | IBV_QP_SQ_PSN | IBV_QP_TIMEOUT |
			  IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_MAX_QP_RD_ATOMIC))
		die("qp %d: to RTS", q->idx);
}

static struct ibv_context *open_dev(const char *name)
{
	struct ibv_device **list = ibv_get_device_list(NULL);
	struct ibv_context *c = NULL;

	for (int i = 0; list && list[i]; i++)
		if (!strcmp(ibv_get_device_name(list[i]), name))
			c = ibv_open_device(list[i]);
	if (list)
		ibv_free_device_list(list);
	if (!c)
		die("cannot open %s", name);
	return c;
}

int main(int argc, char **argv)
{
	const char *dev = NULL, *server = NULL, *stopfile = NULL;
	int gidx = -1, port = 18516, secs = 10, events = 0, keep = 0, huge = 0, use_ledger = 0, o, s;
	long timer_us = 0;
	struct wire_hello me = { .magic = MAGIC }, peer;
	union ibv_gid gid;

	while ((o = getopt(argc, argv, "d:x:q:t:f:s:ep:i:T:kHW")) != -1) {
		switch (o) {
		case 'd': dev = optarg; break;
		case 'x': gidx = atoi(optarg); break;
		case 'q': nqp = (unsigned int)atoi(optarg); break;
		case 't': secs = atoi(optarg); break;
		case 'f': stopfile = optarg; break;
		case 's': msg_size = (unsigned int)atoi(optarg); break;
		case 'e': events = 1; break;
		case 'p': port = atoi(optarg); break;
		case 'i': timer_us = atol(optarg); break;
		case 'T': ack_timeout = atoi(optarg); break;
		case 'k': keep = 1; break;
		case 'H': huge = 1; break;
		case 'W': use_ledger = 1; break;
		default:
			fprintf(stderr, "usage: %s -d DEV [-x GIDX] [-q NQP] [-t SECS] [-f STOPFILE] [-s SIZE] [-e] [-p PORT] [-i USEC] [-T TIMEOUT] [-k] [-H] [-W] [SERVER_IP]\n", prog);
			return 2;
		}
	}
	if (optind < argc)
		server = argv[optind];
	is_server = !server;
	if (!dev || nqp < 1 || nqp > 1024 || msg_size < 16 || msg_size > 65536 || secs < 1 ||
	    timer_us < 0 || ack_timeout < 1 || ack_timeout > 31)
		die("bad arguments (see the usage in the source)");
	layout();

	ctx = open_dev(dev);
	gidx = find_gid(gidx);
	if (ibv_query_gid(ctx, 1, gidx, &gid))
		die("query_gid %d", gidx);
	pd = ibv_alloc_pd(ctx);
	/* The QPs' regions, then the ledger on pages (huge ones with -H) of its own. */
	size_t align = huge ? 2u << 20 : 4096, len = (L.size * nqp + align - 1) / align * align;
	size_t total = len + (use_ledger ? LEDGER_BYTES : 0);

	mem = aligned_alloc(align, total);
	if (huge && mem && madvise(mem, total, MADV_HUGEPAGE))
		die("madvise(MADV_HUGEPAGE): %s", strerror(errno));
	if (!pd || !mem)
		die("pd or memory");
	memset(mem, 0, total);
	if (use_ledger)
		ledger = mem + len;
	mr = ibv_reg_mr(pd, mem, total, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC);
	if (!mr)
		die("reg_mr: %s", strerror(errno));
	if (events) {
		channel = ibv_create_comp_channel(ctx);
		if (!channel)
			die("create_comp_channel: %s", strerror(errno));
		/* Non-blocking, as event loops read it (a move must keep that). */
		if (fcntl(channel->fd, F_SETFL, fcntl(channel->fd, F_GETFL) | O_NONBLOCK))
			die("fcntl: %s", strerror(errno));
	}
	cq = ibv_create_cq(ctx, (int)(nqp * (WINDOW + RECVS)), NULL, channel, 0);
	if (!cq)
		die("create_cq: %s", strerror(errno));
	if (channel && ibv_req_notify_cq(cq, 0))
		die("req_notify_cq");
	qps = calloc(nqp, sizeof(*qps));
	for (unsigned int i = 0; i < nqp; i++) {
		struct ibv_qp_init_attr init = {
			.send_cq = cq, .recv_cq = cq, .qp_type = IBV_QPT_RC,
			.cap = { .max_send_wr = WINDOW, .max_recv_wr = RECVS,
				 .max_send_sge = 1, .max_recv_sge = 1 },
		};

		qps[i].idx = (int)i;
		qps[i].base = mem + i * L.size;
		for (size_t b = 0; b < READ_AREA; b++)
			qps[i].base[L.read_src + b] = pat(seed(my_side(), (int)i, OP_READ, 0), b);
		qps[i].qp = ibv_create_qp(pd, &init);
		if (!qps[i].qp)
			die("create_qp %u: %s", i, strerror(errno));
	}

	s = tcp_meet(server, port);
	me.nqp = nqp;
	me.size = msg_size;
	me.ledger_on = (uint32_t)use_ledger;
	me.ledger = (uintptr_t)ledger;
	memcpy(me.gid, gid.raw, 16);
	xfer(s, &me, sizeof(me), 1);
	xfer(s, &peer, sizeof(peer), 0);
	if (peer.magic != MAGIC || peer.nqp != nqp || peer.size != msg_size ||
	    peer.ledger_on != me.ledger_on)
		die("the peer runs another configuration");
	peer_ledger = peer.ledger;
	for (unsigned int i = 0; i < nqp; i++) {
		struct wire_qp w = {
			.qpn = qps[i].qp->qp_num, .rkey = mr->rkey,
			.base = (uintptr_t)qps[i].base,
		};

		xfer(s, &w, sizeof(w), 1);
		xfer(s, &qps[i].peer, sizeof(qps[i].peer), 0);
		connect_qp(&qps[i], gidx, peer.gid);
	}
	/* Both ready before either sends. */
	xfer(s, &o, 1, 1);
	xfer(s, &o, 1, 0);
	printf("%s: %s, %u QPs (first %#x), %u-byte messages, %d s\n", prog,
	       is_server ? "server" : "client", nqp, qps[0].qp->qp_num, msg_size, secs);
	fflush(stdout);

	long long end = now_us() + secs * 1000000LL, next_look = 0;
	int more = 1;

	last_wc_us = now_us();
	if (timer_us)
		start_timer(timer_us);
	for (;;) {
		int busy = 0;
		long long t = now_us();

		if (more && t >= end)
			more = 0;
		if (more && stopfile && t >= next_look) {
			next_look = t + 100000;
			if (access(stopfile, F_OK) == 0)
				more = 0;
		}

		for (unsigned int i = 0; i < nqp; i++) {
			struct qp *q = &qps[i];

			while (more && q->posted - q->done < WINDOW)
				post_next(q);
			busy |= q->posted != q->done;
		}
		if (!poll_all()) {
			if (!more && !busy)
				break;
			wait_cq(100);
		}
	}

	/* Everything we sent is acknowledged: compare totals. */
	uint64_t ops = 0, reads = 0;

	if (timer_us) {
		stop_timer();
		printf("%s: %ld timer signals taken\n", prog, (long)alarms);
	}

	for (unsigned int i = 0; i < nqp; i++) {
		struct wire_totals t = {
			.sends = qps[i].sends, .writes = qps[i].writes, .atomics = qps[i].atomics,
		}, pt;
		long long give_up = now_us() + 60 * 1000000LL;

		xfer_polling(s, &t, sizeof(t), 1);
		xfer_polling(s, &pt, sizeof(pt), 0);
		/* What the peer sent last may still be on its way to our CQ. */
		while (qps[i].recv_sends < pt.sends || qps[i].recv_writes < pt.writes) {
			if (!poll_all()) {
				if (now_us() > give_up)
					break;
				wait_cq(100);
			}
		}
		uint64_t counter;

		memcpy(&counter, qps[i].base + L.counter, 8);
		if (qps[i].recv_sends != pt.sends || qps[i].recv_writes != pt.writes ||
		    counter != pt.atomics)
			die("qp %u: the peer sent %llu SENDs, %llu WRITEs, %llu atomics; here %llu, %llu, counter %llu",
			    i, (unsigned long long)pt.sends, (unsigned long long)pt.writes,
			    (unsigned long long)pt.atomics, (unsigned long long)qps[i].recv_sends,
			    (unsigned long long)qps[i].recv_writes, (unsigned long long)counter);
		ops += qps[i].done;
		reads += qps[i].reads;
	}
	if (ledger) {
		uint64_t n;

		xfer_polling(s, &ledger_n, sizeof(ledger_n), 1);
		xfer_polling(s, &n, sizeof(n), 0);
		check_ledger(n);
	}
	xfer(s, &o, 1, 1);
	xfer(s, &o, 1, 0);
	printf("%s: verified: %llu operations (%llu reads) on %u QPs; every SEND, WRITE and atomic "
	       "of the peer arrived once, in order; longest gap between completions %lld ms\n",
	       prog, (unsigned long long)ops, (unsigned long long)reads, nqp, max_gap_us / 1000);
	for (unsigned int i = 0; i < nqp; i++)
		if (ibv_destroy_qp(qps[i].qp))
			die("destroy_qp %u: %s", i, strerror(errno));
	if (ibv_destroy_cq(cq) || ibv_dereg_mr(mr) || ibv_dealloc_pd(pd) ||
	    (channel && ibv_destroy_comp_channel(channel)) || ibv_close_device(ctx))
		die("teardown: %s", strerror(errno));
	close(s);
	if (keep) {
		printf("%s: no RDMA resources left; idle until killed\n", prog);
		fflush(stdout);
		for (;;)
			pause();
	}
	return 0;
}
