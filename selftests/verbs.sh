#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Verbs through the stock rdma-core rxe provider: user contexts, protection
# domains, completion queues (mapped rings), memory regions, queue pairs
# (rings, state machine, attributes), a verb the
# driver does not have yet, and a device removed (link del, module unload)
# under an open context.

. "$(dirname "$0")/lib.sh"

prog=/tmp/rxe-rs-verbs_basic
objs=/tmp/rxe-rs-verbs_objects

cleanup() {
	exec 3>&- 2>/dev/null
	del_pair
	modprobe -r "$RXE_MODULE" 2>/dev/null
	true
}
trap cleanup EXIT

setup() {
	make_pair
	load_rxe
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
}

case_pds() {
	setup
	"$prog" rxe_a pds 1000
	"$prog" rxe_a pds 1
}

case_cq() {
	setup
	"$objs" rxe_a cq
}

case_mr() {
	setup
	"$objs" rxe_a mr
}

case_qp() {
	setup
	ip -n "$NS_A" addr add 10.0.0.1/24 dev "$VA"
	wait_for 10 sh -c "ls /sys/class/infiniband/rxe_a/ports/1/gids >/dev/null && grep -q ffff:0a00:0001 /sys/class/infiniband/rxe_a/ports/1/gids/*" ||
		die_case "no IPv4 GID on rxe_a"
	"$objs" rxe_a qp
}

case_srq() {
	setup
	"$objs" rxe_a srq
}

case_unsupported() {
	setup
	"$prog" rxe_a unsupported
}

# Starts `hold` on rxe_a; its stdin is fd 3 of the caller.
start_holder() {
	rm -f /tmp/rxe-rs-hold.in /tmp/rxe-rs-hold.out
	mkfifo /tmp/rxe-rs-hold.in
	"$prog" rxe_a hold </tmp/rxe-rs-hold.in >/tmp/rxe-rs-hold.out 2>&1 &
	holder=$!
	exec 3>/tmp/rxe-rs-hold.in
	wait_for 10 grep -q ready /tmp/rxe-rs-hold.out || die_case "holder not ready: $(cat /tmp/rxe-rs-hold.out)"
}

finish_holder() {
	echo go >&3
	exec 3>&-
	wait "$holder" || die_case "holder failed: $(cat /tmp/rxe-rs-hold.out)"
	cat /tmp/rxe-rs-hold.out
	grep -q "after: works" /tmp/rxe-rs-hold.out && die_case "the context outlived its device"
	true
}

case_link_del_with_open_context() {
	setup
	start_holder
	timeout 20 ip netns exec "$NS_A" rdma link del rxe_a || die_case "link del blocked or failed"
	rdma link show rxe_a/1 >/dev/null 2>&1 && die_case "device still there"
	finish_holder
}

case_unload_with_open_context() {
	setup
	start_holder
	timeout 20 modprobe -r "$RXE_MODULE" || die_case "unload blocked or failed"
	finish_holder
}

# Without a compiler or the verbs headers the cases cannot run (scripts/setup
# installs them: their absence fails); a test program that does not compile
# is a failure of its own.
if ! command -v gcc >/dev/null || [ ! -e /usr/include/infiniband/verbs.h ]; then
	t_fail "needs gcc and libibverbs-dev (scripts/setup installs them)"
	t_done
	exit
fi
if ! gcc -O2 -Wall -Werror -o "$prog" "$SELFTESTS_DIR/progs/verbs_basic.c" -libverbs 2>/tmp/rxe-rs-cc.log ||
	! gcc -O2 -Wall -Werror -o "$objs" "$SELFTESTS_DIR/progs/verbs_objects.c" -libverbs 2>>/tmp/rxe-rs-cc.log; then
	t_fail "verbs: test programs build: $(grep -m1 error /tmp/rxe-rs-cc.log)"
	t_done
	exit 1
fi
t_case "user context and 1000 protection domains" case_pds
t_case "completion queues: sizes, mapped rings, resize, notify, refusals" case_cq
t_case "memory regions: sizes, offsets, keys, refusals" case_mr
t_case "queue pairs: RC/UC/UD, state machine, attributes, query, refusals" case_qp
t_case "shared receive queues: sizes, limit, resize, QPs on them, refusals" case_srq
t_case "a verb the driver lacks is refused with EOPNOTSUPP" case_unsupported
t_case "rdma link del with a user context open" case_link_del_with_open_context
t_case "module unload with a user context open" case_unload_with_open_context
t_done
