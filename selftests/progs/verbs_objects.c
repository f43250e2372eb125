// SPDX-License-Identifier: GPL-2.0
/*
 * Object verbs against an rxe device, through the stock rdma-core provider:
 *   verbs_objects DEV cq     completion queues: sizes, mapped rings, resize,
 *                            notification, and the refusals
 *   verbs_objects DEV mr     memory regions: user memory of several sizes
 *                            and alignments, keys, and the refusals
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

int main(int argc, char **argv)
{
	struct ibv_context *ctx;
	int ret = 2;

	if (argc < 3) {
		fprintf(stderr, "usage: verbs_objects DEV cq|mr\n");
		return 2;
	}
	ctx = open_dev(argv[1]);
	if (!ctx)
		return 1;
	if (!strcmp(argv[2], "cq"))
		ret = cq(ctx);
	else if (!strcmp(argv[2], "mr"))
		ret = mr(ctx);
	ibv_close_device(ctx);
	return ret;
}
