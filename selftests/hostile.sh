#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Hostile lengths and sizes: what a peer sends and what a process writes
# into its own rings must never make the driver wrap, overrun or panic.
# One process drives rxe_a (in namespace NS_A) and rxe_b (in NS_B):
#   - send and receive WQEs rewritten in the mapped rings after the
#     provider wrote them (SGE counts and lengths that overflow 32 bits,
#     bogus opcodes, addresses and keys, producer indices far ahead): each
#     fails cleanly, an error completion and the QP in error, or lands
#     where its data still fits;
#   - one RC SEND that never ends, crafted by roce-flood from A's IPv6
#     address at path MTU 4096, into a receive of more than 4 GiB of SGEs
#     on an MR of 4 GiB + 1 MiB: past 2 GiB (the port's max_msg_sz) the
#     responder refuses it as an invalid request, the receive completes in
#     error, the QP goes to ERR, and what comes after is dropped and
#     counted; the 2 GiB before it land where the SGEs say;
#   - a QP with the device's max_qp_wr on both queues, and an MR of
#     4 GiB + 1 MiB (one 1 MiB memfd mapped 4097 times, so it pins 1 MiB),
#     carry traffic, the MR's past 4 GiB.

. "$(dirname "$0")/lib.sh"

prog=/tmp/rxe-rs-verbs_hostile
flood=$TOP_DIR/selftests/flood/target/release/roce-flood

cleanup() {
	stop_apps
	pkill -f rxe-rs-verbs_hostile 2>/dev/null
	del_pair
	unload_all
}
trap cleanup EXIT

setup() {
	two_devices rs rs
	static_neighbours
	gids 4
}

run_case() {
	setup
	timeout 600 "$prog" rxe_a rxe_b "$1"
}

case_wqe() { run_case wqe; }
case_bigqp() { run_case bigqp; }
case_bigmr() { run_case bigmr; }

# The endless SEND. The veth pair takes 9000-byte frames, so that the
# device's port (and the QP's path) can have the 4096-byte MTU that makes
# the 2 GiB take 512 Ki packets, not 2 Mi.
case_flood() {
	local out=/tmp/rxe-rs-target.log qpn dropped0 dropped1 rcvd hold
	make_pair
	ip -n "$NS_A" link set "$VA" mtu 9000
	ip -n "$NS_B" link set "$VB" mtu 9000
	load_rxe
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	rdma_in "$NS_B" link add rxe_b type "$RXE_LINK_TYPE" netdev "$VB"
	static_neighbours
	gids 6
	# Its stdin is a pipe this script holds open until the flood is over.
	exec {hold}> >(ip netns exec "$NS_B" "$prog" rxe_a rxe_b target "$IP6_A" "$IP6_B" 1200 \
		>"$out" 2>&1)
	local target=$!
	wait_for 120 grep -q '^qpn ' "$out" || die_case "the target QP did not come up: $(cat "$out")"
	qpn=$(sed -n 's/^qpn //p' "$out")
	dropped0=$(counter rxe_b rcvd_qp_dropped)
	# 2 GiB and 16 MiB: the packet that passes 2 GiB is refused, the 4095
	# after it are dropped. nsenter rather than ip netns exec, which would
	# mount a sysfs of the namespace's own, where no device's counters are.
	nsenter --net="/run/netns/$NS_A" timeout 1200 "$flood" --src "$IP6_A" --dst "$IP6_B" --qpn "$qpn" \
		--psn 0 --mtu 4096 --bytes 2064M \
		--counter /sys/class/infiniband/rxe_b/ports/1/hw_counters/rcvd_pkts ||
		die_case "roce-flood failed"
	dropped1=$(counter rxe_b rcvd_qp_dropped)
	exec {hold}>&-
	wait "$target" || { cat "$out"; die_case "the target's checks failed"; }
	cat "$out"
	rcvd=$(counter rxe_b rcvd_pkts)
	echo "rcvd_pkts $rcvd, rcvd_qp_dropped $dropped0 -> $dropped1"
	[ "$((dropped1 - dropped0))" -ge 4000 ] ||
		die_case "the packets after the refusal were not dropped and counted ($dropped0 -> $dropped1)"
}

if [ ! -x "$flood" ]; then
	t_fail "hostile: $flood is not built (make builds it)"
	t_done
	exit 1
fi
if ! gcc -O2 -Wall -Werror -o "$prog" "$SELFTESTS_DIR/progs/verbs_hostile.c" -libverbs \
	2>/tmp/rxe-rs-cc.log; then
	t_fail "hostile: test program builds: $(grep -m1 error /tmp/rxe-rs-cc.log)"
	t_done
	exit 1
fi
t_case "WQEs rewritten in the mapped rings: overflowing SGE counts and lengths, bogus opcodes, addresses, keys, producer indices" case_wqe
t_case "a SEND past 2 GiB (roce-flood, 4096 MTU): refused as an invalid request, the rest dropped and counted, no wrap" case_flood
t_case "a QP with max_qp_wr send and receive WRs carries traffic" case_bigqp
t_case "an MR of 4 GiB + 1 MiB: write, read and send past 4 GiB, data checked" case_bigmr
t_done
