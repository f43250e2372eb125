#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The data path's unhappy paths, through the stock rdma-core provider: one
# process drives rxe_a (in namespace NS_A) and rxe_b (in NS_B) and, with a
# fresh RC (UC, UD) QP pair per case, checks the work completion statuses
# the C rxe gives for local and remote protection errors, requests the
# responder QP does not allow, sends longer than the receive buffer, RNR
# and transport retries running out, misaligned atomics, UD datagrams
# that do not fit or whose receive names a bad lkey, and requests out of
# the opcode sequence or of bad lengths (crafted packets from A's
# address); the QP states after them (query_qp); that memory stays
# untouched; the verbs refused with an errno; and, after each case, that a
# new QP pair on the same devices still carries data.
#
# ERRORS_ON=c runs the same checks between two C rxe devices, as a
# reference: that of Linux 7.3 fails only the local error statuses (its
# completer flushes the WQE its requester failed, so it completes with
# IBV_WC_WR_FLUSH_ERR rather than with its error) and the broken-off UC
# messages: it drops the message that shows the previous one broken, and
# on an SRQ, whose receive it completes in error, it drops every later
# message too (rxe_resp.c's class E path leaves resp.opcode set, so each
# new message looks like another break).

. "$(dirname "$0")/lib.sh"

prog=/tmp/rxe-rs-verbs_errors

cleanup() {
	del_pair
	unload_all
}
trap cleanup EXIT

# Both devices (rxe-rs, or with ERRORS_ON=c the C rxe), with their IPv4
# RoCE v2 GIDs there (the program finds them itself).
setup() {
	two_devices "${ERRORS_ON:-rs}" "${ERRORS_ON:-rs}"
	# Every case sets up QP pairs right away: no ARP to wait for.
	static_neighbours
	gids 4
}

# run_case CASE: the test program's CASE between rxe_a and rxe_b.
run_case() {
	setup
	timeout 300 "$prog" rxe_a rxe_b "$1"
}

case_local() { run_case local; }
case_remote() { run_case remote; }
case_qp_access() { run_case qp_access; }
case_length() { run_case length; }
case_retries() { run_case retries; }
# The module's unload WARNs if a QP outlived it (dmesg fails the case).
case_timer() {
	run_case timer
	del_pair
	unload_rxe
	! grep -q "^$RXE_MODULE " /proc/modules
}
case_atomic() { run_case atomic; }
case_ud() { run_case ud; }
case_refusals() { run_case refusals; }
# The program sends its crafted packets with roce_pkt.py, from A's
# namespace and address (the responder QPs' peer). Python starts slowly in
# a TCG guest, the more so on the debug kernel: nine runs of it get more
# time than the other cases.
case_sequence() {
	setup
	local pkt="$SELFTESTS_DIR/progs/roce_pkt.py" inject
	inject="ip netns exec $NS_A python3 $pkt --dev $VA --dst-mac $(mac_of "$NS_B" "$VB")"
	INJECT="$inject --src $IP_A --dst $IP_B" timeout 900 "$prog" rxe_a rxe_b sequence
}

# Without a compiler or the verbs headers the cases cannot run (scripts/setup
# installs them: their absence fails); a test program that does not compile
# is a failure of its own.
if ! command -v gcc >/dev/null || [ ! -e /usr/include/infiniband/verbs.h ]; then
	t_fail "needs gcc and libibverbs-dev (scripts/setup installs them)"
	t_done
	exit
fi
if ! gcc -O2 -Wall -Werror -o "$prog" "$SELFTESTS_DIR/progs/verbs_errors.c" -libverbs \
	2>/tmp/rxe-rs-cc.log; then
	t_fail "errors: test program builds: $(grep -m1 error /tmp/rxe-rs-cc.log)"
	t_done
	exit 1
fi
t_case "local errors: bad lkey, SGE outside its MR, another PD's MR, read into a read-only MR, read on UC" case_local
t_case "remote access errors: bad rkey, outside the MR, no remote access, deregistered MR, another PD; with immediate and no receive (RNR first); on UC (dropped, the receive stays)" case_remote
t_case "requests the responder QP does not allow: access flags, no responder resources" case_qp_access
t_case "sends longer than the receive buffer (RC, UC)" case_length
t_case "RNR and transport retries running out" case_retries
t_case "a QP destroyed with its retransmit timer hours away is freed, the module unloads" case_timer
t_case "misaligned atomics: refused by the provider, refused by the responder" case_atomic
t_case "UD: a send beyond the MTU, a receive buffer too small (QP's, SRQ's), a receive with a bad lkey" case_ud
seq="requests out of the opcode sequence or of bad lengths: RC (invalid request), UC message broken off or too short (own receive queue, SRQ)"
if command -v python3 >/dev/null; then
	t_case "$seq" case_sequence
else
	t_fail "$seq: needs python3 to craft the packets (scripts/setup installs it)"
fi
t_case "verbs refused with an errno: SGEs, inline, full queues, busy objects, modify_qp, create_ah" case_refusals
t_done
