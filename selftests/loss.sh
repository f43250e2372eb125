#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# RC traffic over a lossy link: tc netem drops, duplicates and reorders 5%
# of the packets on the veth. Every message must still arrive intact (the
# pingpong tools and rping check the data), through the retransmit timer,
# sequence-error NAKs and duplicate handling; the counters must show that
# those paths ran.
#
# perftest loses packets both ways: its ends meet again over their TCP
# side channel before they tear their QPs down. rping loses every RC
# packet both ways, but not the MADs of rdma_cm, which a prio qdisc with
# a u32 filter passes around netem: when its client disconnects, its
# DREQ goes once, and the client exits right after, which ends the CM's
# retransmissions of it; if that one is lost the server waits for ever
# (seen once in make check: both ends silent, and the run about the
# case's 300 s longer than the one before). The pingpong
# tools do not meet at all: each end exits as soon as its own last send
# is acknowledged and the peer's last message is in, so a lost ACK for
# the peer's last message would send the peer's retransmissions to a QP
# that is gone, and its last send would end in "retry exceeded" with no
# transport at fault (seen in CI, on the client, when the server's ACK of
# the client's last message was lost). For them only the requests from
# server to client go through netem, acknowledgements (BTH opcode 0x11,
# ACK or NAK) around it. Sequence NAKs, retransmit timeouts and duplicates
# still run at both ends.

. "$(dirname "$0")/lib.sh"

cleanup() {
	stop_apps
	# What the recovery paths did, for the log of a failed case.
	rdma statistic show 2>/dev/null | grep -E 'rxe_(a|b)' | tr -s ' ' | cut -c1-400
	del_pair
	unload_rxe 2>/dev/null
	true
}
trap cleanup EXIT

NETEM="loss 5% duplicate 5% delay 1ms reorder 5% 50%"

# RoCEv2 packets netem must not touch, as u32 matches from the IP header
# (IPv4 without options: BTH at 20 + 8; IPv6: at 40 + 8): "acks", whose BTH
# opcode is RC ACKNOWLEDGE (ACK or NAK); "cm", the MADs to and from QP 1
# (BTH bytes 5 to 7, the destination QP), which carry rdma_cm's messages.
ROCE4="match ip protocol 17 0xff match ip dport 4791 0xffff"
ROCE6="match ip6 protocol 17 0xff match ip6 dport 4791 0xffff"
declare -A SPARE4=([acks]="match u8 0x11 0xff at 28" [cm]="match u32 0x00000001 0x00ffffff at 32")
declare -A SPARE6=([acks]="match u8 0x11 0xff at 48" [cm]="match u32 0x00000001 0x00ffffff at 52")

# netem_but NS DEV KIND: netem for everything DEV sends but the RoCE
# packets of KIND (above), which take band 1 of a prio qdisc, with no netem.
netem_but() {
	local ns=$1 dev=$2 kind=$3
	tc -n "$ns" qdisc add dev "$dev" root handle 1: prio bands 2 priomap 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1
	# shellcheck disable=SC2086 # netem's arguments are words
	tc -n "$ns" qdisc add dev "$dev" parent 1:2 handle 20: netem $NETEM
	# shellcheck disable=SC2086 # so are the matches
	tc -n "$ns" filter add dev "$dev" parent 1: protocol ip prio 1 u32 $ROCE4 ${SPARE4[$kind]} flowid 1:1
	# shellcheck disable=SC2086
	tc -n "$ns" filter add dev "$dev" parent 1: protocol ipv6 prio 2 u32 $ROCE6 ${SPARE6[$kind]} flowid 1:1
}

# class_pkts NS DEV CLASS: packets sent through a class of DEV's qdisc.
class_pkts() {
	tc -n "$1" -s class show dev "$2" | awk -v c="$3" '
		$1 == "class" && $3 == c { f = 1; next }
		f && $1 == "Sent" { print $4; exit }'
}

# expect_spared NS DEV: both bands of DEV's qdisc carried packets (the
# filter matched what it is meant to, and only that).
expect_spared() {
	local spared lossy
	spared=$(class_pkts "$1" "$2" 1:1)
	lossy=$(class_pkts "$1" "$2" 1:2)
	echo "from $2: ${spared:-?} packets around netem, ${lossy:-?} through it"
	if [ "${spared:-0}" -eq 0 ] || [ "${lossy:-0}" -eq 0 ]; then
		die_case "the filter did not split $2's packets (around: ${spared:-?}, through: ${lossy:-?})"
	fi
}

# lossy both|rc-both|requests-to-client: rxe_a and rxe_b on a veth pair
# that loses, duplicates and reorders: everything both ways; all but the
# CM's MADs both ways; or only rxe_b's (the servers' side) requests to
# rxe_a.
lossy() {
	two_devices rs rs
	# The tools' TCP side channel and rdma_cm's address resolution run
	# over the same link: permanent neighbour entries keep a lost ARP or
	# ND packet from failing them outright (TCP retransmits the rest).
	static_neighbours
	case "$1" in
	both)
		# shellcheck disable=SC2086 # netem's arguments are words
		tc -n "$NS_B" qdisc add dev "$VB" root netem $NETEM
		# shellcheck disable=SC2086
		tc -n "$NS_A" qdisc add dev "$VA" root netem $NETEM
		;;
	rc-both)
		netem_but "$NS_A" "$VA" cm || die_case "cannot set up netem with the CM filter"
		netem_but "$NS_B" "$VB" cm || die_case "cannot set up netem with the CM filter"
		;;
	requests-to-client)
		netem_but "$NS_B" "$VB" acks || die_case "cannot set up netem with the ACK filter"
		;;
	esac
	tc -n "$NS_B" qdisc show dev "$VB"
}

# total NAME: a counter summed over both devices.
total() {
	echo $(($(counter rxe_a "$1") + $(counter rxe_b "$1")))
}

# expect_counted NAME...: at least one of the counters went up.
expect_counted() {
	local n sum=0
	for n in "$@"; do
		echo "$n: $(total "$n")"
		sum=$((sum + $(total "$n")))
	done
	[ "$sum" -gt 0 ] || die_case "none of $* counted anything: the lossy paths did not run"
}

case_rc_pingpong() {
	lossy requests-to-client
	local s
	for s in 1 4096 65536; do
		PP_TIMEOUT=300 pingpong ibv_rc_pingpong 4 "$s" 200
	done
	PP_TIMEOUT=300 pingpong ibv_rc_pingpong 6 5000 100
	expect_spared "$NS_B" "$VB"
	expect_counted completer_retry_err rcvd_seq_err
	expect_counted duplicate_request
	expect_counted out_of_seq_request
}

case_srq_pingpong() {
	lossy requests-to-client
	PP_TIMEOUT=300 pingpong ibv_srq_pingpong 4 3000 100
	expect_spared "$NS_B" "$VB"
}

case_rping() {
	lossy rc-both
	local rc=0 src=0 srv
	ip netns exec "$NS_B" timeout 300 rping -s -a "$IP_B" -C 50 -V -S 4000 >"$PP_SRV_LOG" 2>&1 &
	srv=$!
	sleep 1
	ip netns exec "$NS_A" timeout 300 rping -c -a "$IP_B" -C 50 -V -S 4000 >"$PP_CLI_LOG" 2>&1 || rc=$?
	wait "$srv" || src=$?
	if [ "$rc" != 0 ] || [ "$src" != 0 ]; then
		echo "client ($rc):" >&2
		cat "$PP_CLI_LOG" >&2
		echo "server ($src):" >&2
		cat "$PP_SRV_LOG" >&2
		die_case "rping under loss failed (client $rc, server $src; 124: timed out)"
	fi
	expect_spared "$NS_A" "$VA"
}

# perf TOOL ARGS...: a perftest run from rxe_a to rxe_b, which must end well.
perf() {
	local t=$1 rc=0 srv
	shift
	ip netns exec "$NS_B" timeout 300 "$t" -d rxe_b -x "$GID_B" -F "$@" >"$PP_SRV_LOG" 2>&1 &
	srv=$!
	listening "$NS_B" 18515 || die_case "$t server did not start: $(cat "$PP_SRV_LOG")"
	ip netns exec "$NS_A" timeout 300 "$t" -d rxe_a -x "$GID_A" -F "$@" "$IP_B" \
		>"$PP_CLI_LOG" 2>&1 || rc=$?
	wait "$srv" || rc=$((rc ? rc : 1))
	echo "$t $*: $(grep -A1 '#bytes' "$PP_CLI_LOG" | tail -n 1)"
	if [ "$rc" != 0 ]; then
		cat "$PP_CLI_LOG" "$PP_SRV_LOG"
		die_case "$t $* under loss failed ($rc)"
	fi
}

# Go-back-N resends every read after a lost packet, and the responder
# answers each again in full: 16 outstanding reads of 16 KiB keep that
# within what a TCG guest moves in a retransmit timeout.
case_read_write() {
	lossy both
	gids 4
	perf ib_write_bw -n 200 -s 65536
	perf ib_read_bw -n 200 -s 16384 -o 16
	perf ib_atomic_bw -n 200
	expect_counted completer_retry_err rcvd_seq_err
}

for tool in ibv_rc_pingpong rping ib_write_bw tc; do
	command -v "$tool" >/dev/null || {
		t_fail "$tool missing (scripts/setup installs it)"
		t_done
		exit
	}
done
t_case "netem 5% loss/dup/reorder: ibv_rc_pingpong 1 B to 64 KiB, data checked" case_rc_pingpong
t_case "netem 5% loss/dup/reorder: ibv_srq_pingpong" case_srq_pingpong
t_case "netem 5% loss/dup/reorder: rping -V over rdma_cm" case_rping
t_case "netem 5% loss/dup/reorder: RDMA write, read and atomics complete" case_read_write
t_done
