#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Hostile packets while traffic runs: from raw sockets in both namespaces,
# a stream of malformed RoCEv2 packets (truncated, bad ICRC, unknown
# opcode, bad header fields, wrong QP number) and of well-formed ones aimed
# at the live queue pairs with PSNs outside the window (bad rkeys, RETH
# lengths beyond any MR, a misaligned atomic, stray responses), with a
# wrong Q_Key for UD, or from an address not the RC QP's peer. The pingpong
# traffic beside them must complete with its data checked, the packets
# must be dropped and counted, and the kernel log must stay clean.

. "$(dirname "$0")/lib.sh"

pkt=$SELFTESTS_DIR/progs/roce_pkt.py

# The floods' PIDs: in a file, as cases run in subshells and cleanup in
# the script's shell.
FLOODS=/tmp/rxe-rs-floods

cleanup() {
	local p
	if [ -f "$FLOODS" ]; then
		while read -r p; do
			kill "$p" 2>/dev/null
		done <"$FLOODS"
		rm -f "$FLOODS"
	fi
	pkill -f roce_pkt.py 2>/dev/null
	stop_apps
	del_pair
	unload_rxe 2>/dev/null
	true
}
trap cleanup EXIT

# Far from any PSN a connection of these tests reaches: before it, a
# duplicate; after it, a sequence error.
FAR=$((1 << 22))

# flood FROM_NS FROM_DEV TO_NS TO_DEV SRC DST FILE: starts sending, over
# and over in the background for 40 seconds, what FILE will say (the QP
# and packet kinds: see aim), as soon as it appears.
flood() {
	local fns=$1 fdev=$2 tns=$3 tdev=$4 src=$5 dst=$6 file=$7
	rm -f "$file"
	ip netns exec "$fns" python3 "$pkt" --dev "$fdev" --dst-mac "$(mac_of "$tns" "$tdev")" \
		--src "$src" --dst "$dst" --flood 40 --interval 0.05 --args-from "$file" \
		>"$file.log" 2>&1 &
	echo $! >>"$FLOODS"
}

# ready FILE: the flood for FILE has started (Python takes a while to, in
# a TCG guest) and waits for it.
ready() {
	wait_for 120 grep -q "waiting for" "$1.log" || die_case "the flood did not start: $(cat "$1.log")"
}

# aim FILE ARGS...: what the flood waiting for FILE sends.
aim() {
	local file=$1
	shift
	echo "$@" >"$file.tmp"
	mv "$file.tmp" "$file"
}

# The malformed kinds: dropped before any queue pair sees them.
MALFORMED=(short:6 short:20 random:64 bad-icrc unknown-opcode bad-tver bad-pad bad-length
	trunc-reth unknown-qp)

# wait_addresses: both pingpong ends printed their addresses.
wait_addresses() {
	wait_for 30 grep -q "remote address" "$PP_CLI_LOG" ||
		die_case "no pingpong connection: $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
	wait_for 10 grep -q "remote address" "$PP_SRV_LOG" ||
		die_case "no pingpong connection: $(cat "$PP_SRV_LOG")"
}

# before DEV NAME...: remembers counters (as B_<DEV>_<NAME>).
before() {
	local d=$1 n
	shift
	for n in "$@"; do
		printf -v "B_${d}_$n" '%s' "$(counter "$d" "$n")"
	done
}

# went_up DEV NAME...: each counter grew since `before`.
went_up() {
	local d=$1 n v was
	shift
	for n in "$@"; do
		v=$(counter "$d" "$n")
		was="B_${d}_$n"
		echo "$d $n: ${!was} -> $v"
		[ "$v" -gt "${!was}" ] || die_case "$d $n did not count the packets (${!was} -> $v)"
	done
}

# all_up DEV NAME...: each counter grew since `before` (quietly).
all_up() {
	local d=$1 n was
	shift
	for n in "$@"; do
		was="B_${d}_$n"
		[ "$(counter "$d" "$n")" -gt "${!was}" ] || return 1
	done
}

# running PID: the process runs (an exited child not yet waited for is a
# zombie, which kill -0 still finds).
running() {
	local st
	st=$(ps -o stat= -p "$1" 2>/dev/null) && [ "${st#Z}" = "$st" ]
}

# while_traffic DEV NAME...: waits until the counters grew while the
# pingpong client still runs; the flood must reach the QPs while they
# carry traffic, not after they are gone.
while_traffic() {
	local end=$((SECONDS + 180))
	while [ "$SECONDS" -lt "$end" ]; do
		# Read before the liveness check: counters that moved while the
		# traffic ran count even if it ended since.
		local was_running=0
		running "$PP_CLI" && was_running=1
		all_up "$@" && return 0
		[ "$was_running" = 1 ] ||
			die_case "the traffic ended before the packets reached $1: $(rdma statistic show link "$1/1"; cat /tmp/rxe-rs-flood-*.log)"
		sleep 0.5
	done
	die_case "$1: not all of $* moved in three minutes: $(rdma statistic show link "$1/1")"
}

RC_COUNTERS=(rcvd_malformed rcvd_unknown_qp duplicate_request out_of_seq_request)

case_rc() {
	two_devices rs rs
	before rxe_a "${RC_COUNTERS[@]}"
	before rxe_b "${RC_COUNTERS[@]}"
	flood "$NS_B" "$VB" "$NS_A" "$VA" "$IP_B" "$IP_A" /tmp/rxe-rs-flood-a
	flood "$NS_A" "$VA" "$NS_B" "$VB" "$IP_A" "$IP_B" /tmp/rxe-rs-flood-b
	ready /tmp/rxe-rs-flood-a
	ready /tmp/rxe-rs-flood-b
	PP_TIMEOUT=300 pp_start ibv_rc_pingpong 4 4096 3000 -e
	wait_addresses
	local qa qb pa pb
	qa=$(pp_field "$PP_CLI_LOG" local QPN)
	pa=$(pp_field "$PP_CLI_LOG" local PSN)
	qb=$(pp_field "$PP_SRV_LOG" local QPN)
	pb=$(pp_field "$PP_SRV_LOG" local PSN)
	echo "client QPN $qa PSN $pa, server QPN $qb PSN $pb"
	# rxe_a's responder expects the server's PSNs, its completer answers
	# to its own; and the other way round.
	local req=(send write-bad-rkey write-bad-len read-bad-len atomic-misaligned)
	local k a_kinds=() b_kinds=()
	for k in "${req[@]}"; do
		a_kinds+=("$k@$((pb - FAR))" "$k@$((pb + FAR))")
		b_kinds+=("$k@$((pa - FAR))" "$k@$((pa + FAR))")
	done
	for k in ack nak-seq read-resp; do
		a_kinds+=("$k@$((pa - FAR))")
		b_kinds+=("$k@$((pb - FAR))")
	done
	aim /tmp/rxe-rs-flood-a --qpn "$qa" "${MALFORMED[@]}" "${a_kinds[@]}"
	aim /tmp/rxe-rs-flood-b --qpn "$qb" "${MALFORMED[@]}" "${b_kinds[@]}"
	while_traffic rxe_a "${RC_COUNTERS[@]}" && while_traffic rxe_b "${RC_COUNTERS[@]}"
	pp_wait
	cat /tmp/rxe-rs-flood-a.log /tmp/rxe-rs-flood-b.log
	went_up rxe_a "${RC_COUNTERS[@]}"
	went_up rxe_b "${RC_COUNTERS[@]}"
}

case_ud() {
	two_devices rs rs
	before rxe_a rcvd_malformed rcvd_qp_dropped
	flood "$NS_B" "$VB" "$NS_A" "$VA" "$IP_B" "$IP_A" /tmp/rxe-rs-flood-a
	ready /tmp/rxe-rs-flood-a
	PP_TIMEOUT=300 pp_start ibv_ud_pingpong 4 1000 3000 -e
	wait_addresses
	local qa
	qa=$(pp_field "$PP_CLI_LOG" local QPN)
	# An RC opcode and a wrong Q_Key: the UD QP drops them.
	aim /tmp/rxe-rs-flood-a --qpn "$qa" --qkey 0x11111111 "${MALFORMED[@]}" ud-bad-qkey send
	while_traffic rxe_a rcvd_malformed rcvd_qp_dropped
	pp_wait
	cat /tmp/rxe-rs-flood-a.log
	went_up rxe_a rcvd_malformed rcvd_qp_dropped
}

# Well-formed requests for rxe_a's live RC QP, but from an address that is
# not its peer's (a third host on the link): the QP takes packets only from
# its peer, as rxe does, so they are dropped before the responder sees them
# (rcvd_qp_dropped; unchecked, the old PSNs would be duplicates it answers
# and the far ones sequence errors it NAKs, to that third address). The
# traffic beside them completes with its data checked.
case_spoofed() {
	two_devices rs rs
	before rxe_a rcvd_qp_dropped
	flood "$NS_B" "$VB" "$NS_A" "$VA" 192.168.77.99 "$IP_A" /tmp/rxe-rs-flood-a
	ready /tmp/rxe-rs-flood-a
	PP_TIMEOUT=300 pp_start ibv_rc_pingpong 4 4096 3000 -e
	wait_addresses
	local qa pb
	qa=$(pp_field "$PP_CLI_LOG" local QPN)
	pb=$(pp_field "$PP_SRV_LOG" local PSN)
	aim /tmp/rxe-rs-flood-a --qpn "$qa" "send@$pb" "send@$((pb + FAR))" \
		"write-bad-rkey@$((pb + FAR))"
	while_traffic rxe_a rcvd_qp_dropped
	pp_wait
	cat /tmp/rxe-rs-flood-a.log
	went_up rxe_a rcvd_qp_dropped
}

for tool in ibv_rc_pingpong python3; do
	command -v "$tool" >/dev/null || {
		t_fail "$tool missing (scripts/setup installs it)"
		t_done
		exit
	}
done
t_case "malformed and out-of-window packets during RC traffic: dropped, counted, data checked" case_rc
t_case "malformed and wrong-Q_Key packets during UD traffic: dropped, counted" case_ud
t_case "RC requests from an address not the QP's peer during traffic: dropped, counted" case_spoofed
t_done
