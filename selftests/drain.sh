#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The send queue drain (SQD), through the stock rdma-core provider: one
# process drives rxe_a (in namespace NS_A) and rxe_b (in NS_B). RC sends
# are in flight when rxe_a's QP goes to SQD: the messages begun finish
# (retransmitted where netem loses them), no new one starts, the drain's
# end comes as IBV_EVENT_SQ_DRAINED through ibv_get_async_event when asked
# for (and only then), sends posted meanwhile wait, and SQD -> RTS sends
# them all; every payload is checked on arrival, in order. A QP in SQD
# still receives; SQD is refused where the IBTA does not allow it.

. "$(dirname "$0")/lib.sh"

prog=/tmp/rxe-rs-verbs_drain

cleanup() {
	del_pair
	unload_all
}
trap cleanup EXIT

setup() {
	two_devices rs rs
	# Every case sets up QP pairs right away: no ARP to wait for.
	static_neighbours
	gids 4
}

# run_case CASE: the test program's CASE between rxe_a and rxe_b.
run_case() {
	setup
	timeout 300 "$prog" rxe_a rxe_b "$1"
}

case_drain() { run_case drain; }
case_quiet() { run_case quiet; }
case_receive() { run_case receive; }
case_refusals() { run_case refusals; }
# 5% of every packet lost both ways: requests and acknowledgements.
case_lossy() {
	setup
	tc -n "$NS_A" qdisc add dev "$VA" root netem loss 5%
	tc -n "$NS_B" qdisc add dev "$VB" root netem loss 5%
	timeout 600 "$prog" rxe_a rxe_b drain
	echo "retransmissions: $(counter rxe_a completer_retry_err) timeouts, $(counter rxe_a rcvd_seq_err) sequence NAKs"
}

if ! gcc -O2 -Wall -Werror -o "$prog" "$SELFTESTS_DIR/progs/verbs_drain.c" -libverbs \
	2>/tmp/rxe-rs-cc.log; then
	t_fail "drain: test program builds: $(grep -m1 error /tmp/rxe-rs-cc.log)"
	t_done
	exit 1
fi
t_case "sends in flight at RTS -> SQD: begun ones finish, SQ_DRAINED through ibv_get_async_event, SQD -> RTS sends the rest, data checked" case_drain
t_case "the same under 5% netem loss both ways: the drain retransmits" case_lossy
t_case "a drain without en_sqd_async_notify ends (sq_draining) with no event" case_quiet
t_case "a QP in SQD receives sends and writes and answers reads" case_receive
t_case "SQD refused from RESET, INIT, RTR; SQD -> SQD allowed" case_refusals
t_done
