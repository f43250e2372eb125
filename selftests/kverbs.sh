#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Kernel verbs: fast registration (alloc_mr, map_mr_sg, IB_WR_REG_MR), local
# and remote invalidation, and their errors, between two devices in two
# namespaces. The test module selftests/kmod/rxe_kverbs_test.ko (built by
# `make` with the driver) does the verbs in its init and logs one line per
# case; this script turns those into TAP lines, then checks that the
# modules unload and that the kernel log stayed clean. It runs twice: with
# two rxe-rs devices, and with the C rdma_rxe as the peer that writes,
# reads and sends to the rxe-rs device's MRs.

. "$(dirname "$0")/lib.sh"

name=rxe_kverbs_test
ko=$SELFTESTS_DIR/kmod/$name.ko
src=$SELFTESTS_DIR/kmod/$name.c

cleanup() {
	rmmod "$name" 2>/dev/null
	del_pair
	modprobe -r "$RXE_MODULE" 2>/dev/null
	modprobe -r rdma_rxe 2>/dev/null
	true
}
trap cleanup EXIT

# The module must be there, built from the current source for this kernel.
if [ ! -f "$ko" ]; then
	t_fail "test module built ($ko missing: run make)"
	t_done
	exit 1
fi
if [ "$ko" -ot "$src" ]; then
	t_fail "test module up to date ($ko is older than its source: run make)"
	t_done
	exit 1
fi
if [ "$(modinfo -F vermagic "$ko" | awk '{ print $1 }')" != "$(uname -r)" ]; then
	t_fail "test module built for this kernel ($(modinfo -F vermagic "$ko")): run make"
	t_done
	exit 1
fi

# gid_wait DEV HEXTAIL: waits for a GID of DEV ending in HEXTAIL.
gid_wait() {
	wait_for 10 sh -c "grep -qs '$2\$' /sys/class/infiniband/$1/ports/1/gids/*"
}

# devices TYPE_A TYPE_B: rxe_a of link type TYPE_A in NS_A, rxe_b of TYPE_B
# in NS_B, with their IPv4 GIDs.
devices() {
	make_pair &&
		rdma_in "$NS_A" link add rxe_a type "$1" netdev "$VA" &&
		rdma_in "$NS_B" link add rxe_b type "$2" netdev "$VB" &&
		gid_wait rxe_a ffff:c0a8:4d01 && gid_wait rxe_b ffff:c0a8:4d02
}

# unload MODULE: unloads MODULE, retrying while deferred work holds it for
# up to 30 s: the C rdma_rxe's per-namespace sockets keep it busy until the
# namespaces just deleted are cleaned up, which a debug kernel takes
# seconds to do.
unload() {
	local _
	for _ in $(seq 1 300); do
		grep -q "^$1 " /proc/modules || return 0
		modprobe -r "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# run_module LABEL: runs the test module on rxe_a and rxe_b; one TAP line
# per case it reports, each named with LABEL.
run_module() {
	local label=$1 since loaded log verdict case
	since=$(dmesg | wc -l)
	# The cases run in the module's init; it fails if one of them did.
	insmod "$ko" dev_a=rxe_a dev_b=rxe_b >"$T_LOG" 2>&1
	loaded=$?
	log=$(dmesg | tail -n +"$((since + 1))")
	while IFS=$'\t' read -r verdict case; do
		if [ "$verdict" = ok ]; then
			t_ok "$label: $case"
		else
			t_fail "$label: $case"
		fi
	done < <(printf '%s\n' "$log" | sed -n "s/.*$name: \(ok\|not ok\) - \(.*\)\$/\1\t\2/p")
	if printf '%s\n' "$log" | grep -q "$name: done: [0-9]* passed, 0 failed"; then
		t_ok "$label: the module ran every case and reported"
	else
		t_fail "$label: the module ran every case and reported"
		t_diag "$T_LOG"
		printf '%s\n' "$log" | grep "$name" | t_diag
	fi
	# A module whose init failed is not loaded; one that passed must unload.
	if [ "$loaded" = 0 ]; then
		if rmmod "$name" >"$T_LOG" 2>&1; then
			t_ok "$label: the test module unloads"
		else
			t_fail "$label: the test module unloads"
			t_diag "$T_LOG"
		fi
	fi
}

# unload_all LABEL MODULE...: the drivers unload once the consumer is gone.
unload_all() {
	local label=$1 m ok=1
	shift
	del_pair
	for m in "$@"; do
		unload "$m" || { ok=0; echo "cannot unload $m"; }
	done >"$T_LOG" 2>&1
	if [ "$ok" = 1 ]; then
		t_ok "$label: $* unload after the kernel consumer is gone"
	else
		t_fail "$label: $* unload after the kernel consumer is gone"
		t_diag "$T_LOG"
	fi
}

since=$("$TOP_DIR/scripts/dmesg-check" --seq)

label="rxe-rs peer"
if (load_rxe && devices "$RXE_LINK_TYPE" "$RXE_LINK_TYPE") >"$T_LOG" 2>&1; then
	run_module "$label"
else
	t_fail "$label: two rxe-rs devices in two namespaces, with IPv4 GIDs"
	t_diag "$T_LOG"
fi
unload_all "$label" "$RXE_MODULE"

# The C rdma_rxe holds link type rxe: ours takes another.
label="C rdma_rxe peer"
if (modprobe "$RXE_MODULE" link_type=rxe_rs && modprobe rdma_rxe &&
	devices rxe rxe_rs) >"$T_LOG" 2>&1; then
	run_module "$label"
else
	t_fail "$label: a C rdma_rxe device and an rxe-rs device, with IPv4 GIDs"
	t_diag "$T_LOG"
fi
unload_all "$label" rdma_rxe "$RXE_MODULE"

if "$TOP_DIR/scripts/dmesg-check" --since-seq "$since" >"$T_LOG" 2>&1; then
	t_ok "kernel log clean"
else
	t_fail "kernel log clean"
	t_diag "$T_LOG"
fi
t_done
