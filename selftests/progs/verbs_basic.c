// SPDX-License-Identifier: GPL-2.0
/*
 * Device-level verbs against an rxe device, through the stock rdma-core
 * provider:
 *   verbs_basic DEV pds N       allocate N protection domains, free them
 *   verbs_basic DEV unsupported  a memory window must be refused with
 *                                EOPNOTSUPP
 *   verbs_basic DEV hold         open a context and a PD, print "ready",
 *                                wait for a line on stdin, then report
 *                                whether the context still works
 * Exit 0 when the expectation holds; the reason on stderr otherwise.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <infiniband/verbs.h>

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

static int pds(struct ibv_context *ctx, int n)
{
	struct ibv_pd **pd = calloc(n, sizeof(*pd));

	if (!pd)
		return 1;
	for (int i = 0; i < n; i++) {
		pd[i] = ibv_alloc_pd(ctx);
		if (!pd[i]) {
			fprintf(stderr, "ibv_alloc_pd #%d: %s\n", i, strerror(errno));
			return 1;
		}
	}
	for (int i = 0; i < n; i++)
		if (ibv_dealloc_pd(pd[i])) {
			fprintf(stderr, "ibv_dealloc_pd #%d failed\n", i);
			return 1;
		}
	free(pd);
	printf("%d PDs allocated and freed\n", n);
	return 0;
}

static int unsupported(struct ibv_context *ctx)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx);
	struct ibv_mw *mw;
	int ret = 1;

	if (!pd) {
		fprintf(stderr, "setup: %s\n", strerror(errno));
		return 1;
	}
	mw = ibv_alloc_mw(pd, IBV_MW_TYPE_1);
	if (mw)
		fprintf(stderr, "ibv_alloc_mw succeeded on a device without MWs\n");
	else if (errno != EOPNOTSUPP)
		fprintf(stderr, "ibv_alloc_mw: %s, expected EOPNOTSUPP\n", strerror(errno));
	else {
		printf("ibv_alloc_mw refused: %s\n", strerror(errno));
		ret = 0;
	}
	ibv_dealloc_pd(pd);
	return ret;
}

static int hold(struct ibv_context *ctx)
{
	struct ibv_pd *pd = ibv_alloc_pd(ctx), *pd2;
	char line[16];

	if (!pd) {
		fprintf(stderr, "ibv_alloc_pd: %s\n", strerror(errno));
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	pd2 = ibv_alloc_pd(ctx);
	printf("after: %s\n", pd2 ? "works" : strerror(errno));
	return 0;
}

int main(int argc, char **argv)
{
	struct ibv_context *ctx;
	int ret;

	if (argc < 3) {
		fprintf(stderr, "usage: verbs_basic DEV pds N|unsupported|hold\n");
		return 2;
	}
	ctx = open_dev(argv[1]);
	if (!ctx)
		return 1;
	if (!strcmp(argv[2], "pds") && argc > 3)
		ret = pds(ctx, atoi(argv[3]));
	else if (!strcmp(argv[2], "unsupported"))
		ret = unsupported(ctx);
	else if (!strcmp(argv[2], "hold"))
		ret = hold(ctx);
	else
		ret = 2;
	ibv_close_device(ctx);
	return ret;
}
