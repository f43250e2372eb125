#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Live migration, the groundwork (docs/migration.md): rxe-ckpt stops the
# QPs of a running, unmodified program and resumes them in place; its peer
# pauses meanwhile (no retries spent) and completes everything after, far
# past its retry budget. And what must be refused: no such process, no RDMA
# resources, no privilege, rdma_cm, another driver; the settable next
# QPN; and the checkpoint image of a running program.

. "$(dirname "$0")/lib.sh"

RXE_CKPT=${RXE_CKPT:-$TOP_DIR/rust/ckpt/target/release/rxe-ckpt}
STAGE_FUZZ=$TOP_DIR/rust/ckpt/target/release/examples/stage_fuzz

cleanup() {
	stop_apps
	rdma_in "$NS_B" link del rxe_b2 2>/dev/null
	del_pair
	unload_all
}

# The non-zero counters of every rxe-rs device, and the QPs the rdma tool
# sees (for a failure's diagnostics).
show_counters() {
	local dev
	for dev in rxe_a rxe_b rxe_b2; do
		echo "$dev: $(rdma statistic show link "$dev/1" 2>/dev/null | tr ' ' '\n' | paste - - | awk '$2 != 0' | tr '\n' ' ')"
	done
	# -dd: the driver's part too (the engines' PSNs, migration sub-state,
	# runner and timer).
	rdma_in "$NS_A" res show qp -dd 2>/dev/null
	rdma_in "$NS_B" res show qp -dd 2>/dev/null
}

trap cleanup EXIT

# Pauses the server of a long ibv_rc_pingpong for SECS seconds, well past
# the client's retry budget (timeout 14: 67 ms, 7 retries, at most 4x
# backoff: under 2 s), then resumes it: both ends complete, data checked.
case_pause_in_place() {
	two_devices rs rs
	static_neighbours
	local n base
	n=$(iters_for 6 4096)
	base=$(counter rxe_b rdma_recvs)
	PP_TIMEOUT=600 pp_start ibv_rc_pingpong 4 4096 "$n"
	# Traffic flows before the stop.
	wait_for 60 counter_above rxe_b rdma_recvs $((base + 100)) ||
		die_case "no traffic: $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
	local srv out stopped0 retry0
	srv=$(tool_pid ibv_rc_pingpong rxe_b)
	stopped0=$(counter rxe_a rcvd_stopped)
	retry0=$(counter rxe_a completer_retry_err)
	out=$("$RXE_CKPT" pause --pid "$srv") || die_case "pause: $out"
	echo "$out"
	[ "$out" = "process $srv: 1 QPs stopped" ] || die_case "pause said: $out"
	sleep 8
	kill -0 "$PP_CLI" 2>/dev/null || die_case "the client ended while its peer was stopped: $(cat "$PP_CLI_LOG")"
	# A pingpong's client is told only if it had a message on its way (not
	# when it waits for the server's): the stream case below always is.
	echo "the client was told to pause $(($(counter rxe_a rcvd_stopped) - stopped0)) times"
	# Paused, the client spent no retries (a timer firing now and then
	# without retransmitting is fine; retransmissions are not).
	[ "$(counter rxe_a completer_retry_err)" = "$retry0" ] ||
		die_case "the paused client retransmitted: completer_retry_err $retry0 -> $(counter rxe_a completer_retry_err)"
	out=$("$RXE_CKPT" resume --pid "$srv") || die_case "resume: $out"
	echo "$out"
	[ "$out" = "process $srv: 1 QPs resumed" ] || die_case "resume said: $out"
	pp_wait
	[ "$(counter rxe_b sent_resume)" -ge 1 ] || die_case "no resume sent"
	[ "$(counter rxe_a rcvd_resume)" -ge 1 ] || die_case "no resume taken"
	[ "$(counter rxe_a retry_exceeded_err)" = 0 ] || die_case "the client ran out of retries"
}

# A streaming client (ib_send_bw) always has requests on their way: with
# its server stopped for 8 s it is told, pauses, spends no retries, and
# completes after the resume.
case_pause_stream() {
	two_devices rs rs
	static_neighbours
	gids 4
	local srv cli rc=0 stopped0 retry0 out secs=16
	# The debug kernel is slow to start streaming: time for the pause.
	debug_kernel && secs=60
	ip netns exec "$NS_B" timeout 300 ib_send_bw -d rxe_b -x "$GID_B" -F -D "$secs" -s 4096 \
		>"$PP_SRV_LOG" 2>&1 &
	srv=$!
	listening "$NS_B" 18515 || die_case "ib_send_bw server did not start: $(cat "$PP_SRV_LOG")"
	ip netns exec "$NS_A" timeout 300 ib_send_bw -d rxe_a -x "$GID_A" -F -D "$secs" -s 4096 "$IP_B" \
		>"$PP_CLI_LOG" 2>&1 &
	cli=$!
	wait_for 60 counter_above rxe_b rdma_recvs 1000 || die_case "no traffic: $(cat "$PP_CLI_LOG")"
	stopped0=$(counter rxe_a rcvd_stopped)
	out=$("$RXE_CKPT" pause --pid "$(tool_pid ib_send_bw rxe_b)") || die_case "pause: $out"
	wait_for 10 counter_above rxe_a rcvd_stopped "$stopped0" || die_case "the streaming client was not told to pause"
	# Counted from when the client was told: before that it did not know,
	# and a timeout then is a retransmission like any other (on the debug
	# kernel under TCG, 67 ms timeouts fire now and then while streaming).
	retry0=$(counter rxe_a completer_retry_err)
	sleep 8
	[ "$(counter rxe_a completer_retry_err)" = "$retry0" ] ||
		die_case "the paused client retransmitted: completer_retry_err $retry0 -> $(counter rxe_a completer_retry_err)"
	"$RXE_CKPT" resume --pid "$(tool_pid ib_send_bw rxe_b)" >/dev/null || die_case "resume failed"
	wait "$cli" || rc=$?
	wait "$srv" || rc=$((rc ? rc : 1))
	[ "$rc" = 0 ] || die_case "ib_send_bw failed ($rc): $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
	[ "$(counter rxe_a retry_exceeded_err)" = 0 ] || die_case "the client ran out of retries"
}

# Pausing several times in one run, the client's side this time. The run
# is long enough for the five pauses with time to spare: it must not end
# before the last one.
case_pause_repeatedly() {
	two_devices rs rs
	static_neighbours
	local n base
	n=$(iters_for 10 1024)
	base=$(counter rxe_b rdma_recvs)
	PP_TIMEOUT=600 pp_start ibv_rc_pingpong 4 1024 "$n"
	wait_for 60 counter_above rxe_b rdma_recvs $((base + 100)) || die_case "no traffic"
	local cli i
	cli=$(tool_pid ibv_rc_pingpong rxe_a)
	for i in 1 2 3 4 5; do
		"$RXE_CKPT" pause --pid "$cli" >/dev/null || die_case "pause $i failed"
		sleep 1
		"$RXE_CKPT" resume --pid "$cli" >/dev/null || die_case "resume $i failed"
		sleep 0.5
	done
	pp_wait
}

# rxe-rs's MR keys of DEV's MRs, as the rdma tool shows them (in NS).
mr_lkeys() {
	rdma_in "$1" res show mr dev "$2" | sed -n 's/.* lkey \(0x[0-9a-f]*\).*/\1/p' | sort
}

# The checkpoint image of a running ibv_rc_pingpong server: taken with the
# QPs stopped, it holds what the process and its peer see (the QPN, the MR
# keys, the connection's state); with --leave-running the server goes on at
# once, without it the QPs stay stopped until resumed; both ends complete,
# data checked. A dump that cannot be written leaves the process running.
case_dump() {
	two_devices rs rs
	static_neighbours
	local n base
	n=$(iters_for 7 4096)
	base=$(counter rxe_b rdma_recvs)
	PP_TIMEOUT=600 pp_start ibv_rc_pingpong 4 4096 "$n"
	wait_for 60 counter_above rxe_b rdma_recvs $((base + 100)) || die_case "no traffic"
	local srv img=/tmp/rxe-rs-dump.img out show qpn
	srv=$(tool_pid ibv_rc_pingpong rxe_b)
	out=$("$RXE_CKPT" dump --pid "$srv" -o "$img" --leave-running) || die_case "dump: $out"
	echo "$out"
	case "$out" in
	"process $srv fd "*": "*" bytes to $img (1 QPs resumed)") ;;
	*) die_case "dump said: $out" ;;
	esac
	show=$("$RXE_CKPT" show "$img") || die_case "show: $show"
	echo "$show" | head -n 12
	qpn=$(pp_field "$PP_SRV_LOG" local QPN)
	echo "$show" | grep -q "^qp handle=[0-9]* qpn=$qpn type=RC state=3 .* mig=stopped peer_ext=true" ||
		die_case "no stopped RC QP $qpn in RTS that heard its peer in the image"
	echo "$show" | grep -q "^context .* pds=1 cqs=1 srqs=0 mrs=1 ahs=0 qps=1 async_fd=[0-9]" ||
		die_case "the image's context is not the pingpong's"
	# The async event file by the number the process has it at (its only
	# uverbs event file: no completion channel).
	local afd
	afd=$(find "/proc/$srv/fd" -lname 'anon_inode:\[infinibandevent\]' -printf '%f\n' | head -n 1)
	[ -n "$afd" ] || die_case "the server has no uverbs event file"
	echo "$show" | grep -q "^context .* async_fd=$afd\b" ||
		die_case "the image's async fd is not $afd: $(echo "$show" | grep '^context')"
	local key
	key=$(mr_lkeys "$NS_B" rxe_b)
	[ -n "$key" ] || die_case "rdma res shows no MR"
	echo "$show" | grep -q "^mr .* lkey=$key " || die_case "the image's MR is not lkey $key"
	# Without --leave-running the server stays stopped; its client waits.
	local recvs
	out=$("$RXE_CKPT" dump --pid "$srv" -o "$img") || die_case "dump: $out"
	echo "$out"
	case "$out" in *"(1 QPs stopped)") ;; *) die_case "dump said: $out" ;; esac
	recvs=$(counter rxe_b rdma_recvs)
	sleep 3
	[ "$(counter rxe_b rdma_recvs)" = "$recvs" ] || die_case "the stopped server received"
	kill -0 "$PP_CLI" 2>/dev/null || die_case "the client ended while its peer was stopped"
	"$RXE_CKPT" resume --pid "$srv" || die_case "resume failed"
	# A dump that cannot be written resumes what it stopped.
	expect_fail "write /nonexistent/x.img" "$RXE_CKPT" dump --pid "$srv" -o /nonexistent/x.img
	pp_wait
	# Refused: no privilege (and nothing stopped), no resources.
	expect_fail "holds no rxe-rs RDMA resources" "$RXE_CKPT" dump --pid $$ -o "$img"
	rm -f "$img"
}

# move_pingpong TOOL SIZE OBJECTS QPS [EXTRA...]: rxe-ckpt moves a running
# TOOL server (OBJECTS objects, QPS QPs) between two devices on two
# netdevs with two addresses, four times in one run: its client, told by
# each resume, follows; both end with every buffer checked. MP_SECS: the
# run's length on the default kernel (8 s); MP_MOVES: where it goes.
move_pingpong() {
	local tool=$1 size=$2 objects=$3 qps=$4
	shift 4
	three_devices
	local n base srv to out resumes moves=0
	n=$(PP_TOOL=$tool PP_EXTRA="$*" iters_for "${MP_SECS:-8}" "$size")
	base=$(counter rxe_b rdma_recvs)
	resumes=$(counter rxe_a rcvd_resume)
	PP_TIMEOUT=900 pp_start "$tool" 4 "$size" "$n" "$@"
	wait_for 60 counter_above rxe_b rdma_recvs $((base + 100)) || die_case "no traffic"
	srv=$(tool_pid "$tool" rxe_b)
	for to in ${MP_MOVES:-rxe_b2 rxe_b rxe_b2 rxe_b}; do
		moves=$((moves + 1))
		base=$(counter "$to" rdma_recvs)
		out=$("$RXE_CKPT" move --pid "$srv" --to "$to" 2>&1) ||
			die_case "move to $to: $out; the run: $(tail -n 3 "$PP_CLI_LOG" "$PP_SRV_LOG")"
		echo "$out"
		case "$out" in
		"process $srv: $objects objects on $to, $qps QPs resumed"*) ;;
		*) die_case "move said: $out" ;;
		esac
		wait_for 60 counter_above "$to" rdma_recvs $((base + 100)) || {
			show_counters
			die_case "no traffic on $to after the move: $(tail -n 3 "$PP_CLI_LOG" "$PP_SRV_LOG")"
		}
	done
	kill -0 "$PP_SRV" 2>/dev/null || die_case "the server ended early: $(cat "$PP_SRV_LOG")"
	# The two end within moments of each other: a client still running
	# 30 s after its server is stuck, and shows its QPs while it is.
	wait_for 600 gone "$PP_SRV"
	if ! wait_for 30 gone "$PP_CLI"; then
		show_counters
		kill "$PP_CLI" 2>/dev/null
	fi
	pp_wait
	[ "$(counter rxe_a rcvd_resume)" -ge $((resumes + moves * qps)) ] ||
		die_case "the client took $(($(counter rxe_a rcvd_resume) - resumes)) resumes, not $((moves * qps))"
	[ "$(counter rxe_a retry_exceeded_err)" = 0 ] || die_case "the client ran out of retries"
}

case_move_rc_pingpong() {
	move_pingpong ibv_rc_pingpong 4096 4 1
}

# An SRQ shared by 16 QPs: 20 objects, all in handle order. Its two ends
# poll their CQs without pause: on the debug kernel they leave the rest of
# the VM so little that the case's own steps (a counter read, a move) take
# tens of seconds there, and a 42 s run ended before the first move: a
# longer run there, moved there and back.
case_move_srq_pingpong() {
	if debug_kernel; then
		MP_SECS=24 MP_MOVES="rxe_b2 rxe_b" move_pingpong ibv_srq_pingpong 4096 20 16
	else
		move_pingpong ibv_srq_pingpong 4096 20 16
	fi
}

# move_perf TOOL [ARGS...]: a perftest TOOL's server (its QP a responder
# to the client's sends, writes, reads or atomics) moved to rxe_b2 and back
# while it runs (12 s; 90 on the debug kernel, where a move is slower);
# both end normally (reads and atomics in flight at a stop are answered
# after the move, from the responder's replay slots). The two ends poll
# without pause: at nice 19, so that the case's own steps (counter reads,
# the moves) are not starved of the two CPUs (on the debug kernel, a
# counter read took seconds).
move_perf() {
	local tool=$1 srv cli rc=0 to out base pid secs=12
	shift
	debug_kernel && secs=90
	three_devices
	gids 4
	ip netns exec "$NS_B" timeout 300 nice -n 19 "$tool" -d rxe_b -x "$GID_B" -F -D "$secs" "$@" \
		>"$PP_SRV_LOG" 2>&1 &
	srv=$!
	listening "$NS_B" 18515 || die_case "$tool server did not start: $(cat "$PP_SRV_LOG")"
	ip netns exec "$NS_A" timeout 300 nice -n 19 "$tool" -d rxe_a -x "$GID_A" -F -D "$secs" "$@" "$IP_B" \
		>"$PP_CLI_LOG" 2>&1 &
	cli=$!
	wait_for 60 counter_above rxe_b rcvd_pkts 2000 || die_case "no traffic: $(cat "$PP_CLI_LOG")"
	pid=$(tool_pid "$tool" rxe_b)
	for to in rxe_b2 rxe_b; do
		sleep 2
		base=$(counter "$to" rcvd_pkts)
		out=$("$RXE_CKPT" move --pid "$pid" --to "$to" 2>&1) ||
			die_case "move to $to: $out; the run: $(tail -n 3 "$PP_CLI_LOG" "$PP_SRV_LOG")"
		echo "$out"
		case "$out" in "process $pid: "*" objects on $to, "*" QPs resumed"*) ;; *) die_case "move said: $out" ;; esac
		wait_for 60 counter_above "$to" rcvd_pkts $((base + 1000)) || {
			show_counters
			gone "$cli" && die_case "the run ended before the move to $to could be checked (a longer -D is needed here)"
			die_case "no traffic on $to after the move"
		}
	done
	wait "$cli" || rc=$?
	wait "$srv" || rc=$((rc ? rc : 1))
	echo "$tool $*: $(grep -A1 '#bytes' "$PP_CLI_LOG" | tail -n 1)"
	[ "$rc" = 0 ] || die_case "$tool failed ($rc): $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
	[ "$(counter rxe_a retry_exceeded_err)" = 0 ] || die_case "the client ran out of retries"
}

case_move_send_bw() {
	move_perf ib_send_bw -b -s 4096
}

case_move_write_bw() {
	move_perf ib_write_bw -s 4096
}

case_move_read_bw() {
	move_perf ib_read_bw -s 4096
}

case_move_atomic_bw() {
	move_perf ib_atomic_bw
}

# address_to_vb2, address_from_vb: IP_B moves from vb to vb2 (as an address moves along with
# what it serves): added to vb2, then, once moved, taken from vb, and the
# peer's neighbour entry for it changed (as a gratuitous ARP would).
address_to_vb2() {
	ip -n "$NS_B" addr add "$IP_B/24" dev vb2
	wait_for 10 gid_index rxe_b2 ffff:c0a8:4d02 >/dev/null || die_case "no GID for $IP_B on rxe_b2"
}
address_from_vb() {
	ip -n "$NS_B" addr del "$IP_B/24" dev "$VB"
	ip -n "$NS_B" neigh replace "$IP_A" lladdr "$(mac_of "$NS_A" "$VA")" dev vb2 nud permanent
	ip -n "$NS_A" neigh replace "$IP_B" lladdr "$(mac_of "$NS_B" vb2)" dev "$VA" nud permanent
}

# A UD QP has no resume: its address moves with it. ibv_ud_pingpong's
# server, its QP made and waiting for the client, moves to rxe_b2 with its
# address; the client then reaches it there, and the run completes, data
# checked (UD has no retransmission: the move happens before traffic, which
# a lost datagram would stall for good).
case_move_ud_pingpong() {
	three_devices
	gids 4
	ip netns exec "$NS_B" timeout 120 stdbuf -oL ibv_ud_pingpong -d rxe_b -g "$GID_B" -s 500 -n 200 -c \
		>"$PP_SRV_LOG" 2>&1 &
	PP_SRV=$!
	listening "$NS_B" 18515 || die_case "server did not start: $(cat "$PP_SRV_LOG")"
	local srv out
	srv=$(tool_pid ibv_ud_pingpong rxe_b)
	address_to_vb2
	out=$("$RXE_CKPT" move --pid "$srv" --to rxe_b2 --addr "$IP_B" 2>&1) || die_case "move: $out"
	echo "$out"
	# (Its QP waits in INIT for the client: nothing to resume.)
	case "$out" in "process $srv: "*" objects on rxe_b2, "*" QPs resumed"*) ;; *) die_case "move said: $out" ;; esac
	address_from_vb
	ip netns exec "$NS_A" timeout 120 stdbuf -oL ibv_ud_pingpong -d rxe_a -g "$GID_A" -s 500 -n 200 -c "$IP_B" \
		>"$PP_CLI_LOG" 2>&1 &
	PP_CLI=$!
	PP_WHAT="ibv_ud_pingpong -s 500 -n 200 (server moved)"
	pp_wait
	[ "$(counter rxe_b2 rcvd_pkts)" -ge 200 ] || die_case "rxe_b2 received $(counter rxe_b2 rcvd_pkts) packets"
}

# The C rxe as peer does not speak the extension: the moved side stays
# silent and its address moves along; the peer's retransmissions (timeout
# 4 s, 7 retries: ib_send_bw -u 20) reach it on the new device.
case_move_c_peer() {
	three_devices c
	gids 4
	local srv cli rc=0 pid out secs=25
	debug_kernel && secs=75
	ip netns exec "$NS_B" timeout 300 ib_send_bw -d rxe_b -x "$GID_B" -F -D "$secs" -u 20 -s 4096 >"$PP_SRV_LOG" 2>&1 &
	srv=$!
	listening "$NS_B" 18515 || die_case "ib_send_bw server did not start: $(cat "$PP_SRV_LOG")"
	ip netns exec "$NS_A" timeout 300 ib_send_bw -d rxe_a -x "$GID_A" -F -D "$secs" -u 20 -s 4096 "$IP_B" >"$PP_CLI_LOG" 2>&1 &
	cli=$!
	wait_for 60 counter_above rxe_b rcvd_pkts 2000 || die_case "no traffic: $(cat "$PP_CLI_LOG")"
	pid=$(tool_pid ib_send_bw rxe_b)
	address_to_vb2
	out=$("$RXE_CKPT" move --pid "$pid" --to rxe_b2 --addr "$IP_B" 2>&1) || {
		pgrep -a ib_send_bw || echo "no ib_send_bw running"
		die_case "move: $out; server: $(cat "$PP_SRV_LOG")"
	}
	echo "$out"
	address_from_vb
	wait_for 60 counter_above rxe_b2 rcvd_pkts 2000 || {
		show_counters
		die_case "no traffic on rxe_b2 after the move"
	}
	[ "$(counter rxe_b2 sent_resume)" = 0 ] || die_case "a resume went to the C rxe"
	wait "$cli" || rc=$?
	wait "$srv" || rc=$((rc ? rc : 1))
	[ "$rc" = 0 ] || die_case "ib_send_bw failed ($rc): $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
}

# A move onto a device where the QP's number is taken: the restored QP
# gets a new QPN, which its resume tells the peer (which speaks the
# extension); the run completes there, data checked.
case_move_new_qpn() {
	three_devices
	local n srv qpn out blocker
	n=$(iters_for 7 4096)
	PP_TIMEOUT=600 pp_start ibv_rc_pingpong 4 4096 "$n"
	wait_for 60 counter_above rxe_b rdma_recvs 100 || die_case "no traffic"
	srv=$(tool_pid ibv_rc_pingpong rxe_b)
	qpn=$(pp_field "$PP_SRV_LOG" local QPN) || die_case "no QPN in the server's output"
	# QP qpn on rxe_b2: an idle pingpong server's, waiting for a client
	# that never comes. Its MR takes an index of its own: the case is
	# about the QPN, and the server's MR key (its device's first MR's,
	# as the blocker's would be) must stay free.
	"$RXE_CKPT" set-next --device rxe_b2 --qpn "$qpn" --mrn 0x100 >/dev/null ||
		die_case "set-next --qpn $qpn --mrn 0x100"
	ip netns exec "$NS_B" timeout 300 ibv_rc_pingpong -d rxe_b2 -p 18600 >/tmp/rxe-rs-blocker.log 2>&1 &
	blocker=$!
	listening "$NS_B" 18600 || die_case "the blocker did not start: $(cat /tmp/rxe-rs-blocker.log)"
	rdma res show qp | grep -q "rxe_b2/1 lqpn $qpn " || die_case "no blocker QP $qpn on rxe_b2: $(rdma res show qp)"
	out=$("$RXE_CKPT" move --pid "$srv" --to rxe_b2 2>&1) || die_case "move: $out"
	echo "$out"
	case "$out" in
	*"QP $(printf '%#x' "$qpn") is now "*"(its peer was told)"*) ;;
	*) die_case "no new QPN: $out" ;;
	esac
	wait_for 60 counter_above rxe_b2 rdma_recvs 100 || {
		show_counters
		die_case "no traffic on rxe_b2 after the move"
	}
	pp_wait
	kill "$blocker" 2>/dev/null
	wait "$blocker" 2>/dev/null || true
}

# With a completion channel (-e): the channel's fd, the CQ's events read
# and an event in flight come along (libibverbs waits at destroy until the
# kernel's count of events read matches its own).
case_move_rc_pingpong_events() {
	move_pingpong ibv_rc_pingpong 4096 4 1 -e
}

# rxe-ckpt dump, then restore into the same process: a running
# ibv_rc_pingpong's server, stopped with SIGSTOP so that it does nothing
# between the two, is dumped (its QPs stay stopped) and restored into
# itself on rxe_b2, where it goes on; both complete, data checked. First,
# refused: an image the process has moved on from (taken with
# --leave-running, its QPs running again since).
case_dump_restore() {
	three_devices
	local n srv img=/tmp/rxe-rs-dr.img out
	n=$(iters_for 7 4096)
	PP_TIMEOUT=600 pp_start ibv_rc_pingpong 4 4096 "$n"
	wait_for 60 counter_above rxe_b rdma_recvs 100 || die_case "no traffic"
	srv=$(tool_pid ibv_rc_pingpong rxe_b)
	out=$("$RXE_CKPT" dump --pid "$srv" -o "$img" --leave-running 2>&1) || die_case "dump: $out"
	expect_fail "since the image was taken" "$RXE_CKPT" restore --pid "$srv" --to rxe_b2 "$img"
	kill -STOP "$srv"
	out=$("$RXE_CKPT" dump --pid "$srv" -o "$img" 2>&1) || {
		kill -CONT "$srv"
		die_case "dump: $out"
	}
	echo "$out"
	out=$("$RXE_CKPT" restore --pid "$srv" --to rxe_b2 "$img" 2>&1) || {
		kill -CONT "$srv"
		die_case "restore: $out"
	}
	echo "$out"
	kill -CONT "$srv"
	case "$out" in "process $srv: 4 objects on rxe_b2, 1 QPs resumed"*) ;; *) die_case "restore said: $out" ;; esac
	wait_for 60 counter_above rxe_b2 rdma_recvs 100 || {
		show_counters
		die_case "no traffic on rxe_b2 after the restore"
	}
	pp_wait
	rm -f "$img"
}

# fd_flags PID: each fd of process PID with its flags, on one line.
fd_flags() {
	local f
	for f in /proc/"$1"/fdinfo/*; do
		echo "${f##*/}:$(sed -n 's/^flags:[[:space:]]*//p' "$f")"
	done | sort -n | tr '\n' ' '
}

# move_load MOVES [LOSS [SERVER_OPTS...]]: the project's verified workload (progs/mig_load.c;
# every SEND, WRITE with immediate, READ and atomic checked, both ways at
# once, 4 QPs) with its server moved MOVES times between rxe_b and rxe_b2,
# there and back, while it runs; with LOSS, netem loses that share of the
# packets both ways. Both ends verify and compare totals at the end.
move_load() {
	local moves=$1 loss=${2:-} i to out srv cli pid rc=0 base stop=/tmp/rxe-rs-load.stop
	shift $(($# < 2 ? $# : 2))
	# On the debug kernel an ack can take longer than 67 ms to come back
	# (KASAN under TCG, 4 QPs both ways): a 1 s timeout there.
	local t=14
	# At most this many seconds a move, the run's limit: a move of the
	# 4 QPs takes tens of seconds on the debug kernel under TCG.
	local per=30
	debug_kernel && t=18 per=90
	three_devices
	if [ -n "$loss" ]; then
		tc -n "$NS_A" qdisc add dev "$VA" root netem loss "$loss"
		tc -n "$NS_B" qdisc add dev vlow root netem loss "$loss"
	fi
	# Both ends run until the moves are done (the stop file), at most
	# $per s a move.
	rm -f "$stop"
	ip netns exec "$NS_B" timeout $((moves * per + 300)) "$MIG_LOAD" -d rxe_b -q 4 -t $((moves * per)) \
		-T "$t" -f "$stop" "$@" >"$PP_SRV_LOG" 2>&1 &
	srv=$!
	wait_for 30 grep -q listening "$PP_SRV_LOG" || die_case "mig_load server did not start: $(cat "$PP_SRV_LOG")"
	ip netns exec "$NS_A" timeout $((moves * per + 300)) "$MIG_LOAD" -d rxe_a -q 4 -t $((moves * per)) \
		-T "$t" -f "$stop" "$IP_B" >"$PP_CLI_LOG" 2>&1 &
	cli=$!
	wait_for 60 counter_above rxe_b rcvd_pkts 500 || die_case "no traffic: $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
	pid=$(pgrep -n -f "^$MIG_LOAD -d rxe_b ") || die_case "no mig_load on rxe_b"
	# Its files' flags (close-on-exec, non-blocking) survive the moves.
	local flags
	flags=$(fd_flags "$pid")
	for i in $(seq 1 "$moves"); do
		if [ $((i % 2)) = 1 ]; then to=rxe_b2; else to=rxe_b; fi
		base=$(counter "$to" rcvd_pkts)
		out=$("$RXE_CKPT" move --pid "$pid" --to "$to" 2>&1) || {
			show_counters
			gone "$srv" && echo "the server ended: $(tail -n 3 "$PP_SRV_LOG")"
			die_case "move $i to $to: $out"
		}
		case "$out" in "process $pid: "*" objects on $to, 4 QPs resumed"*) ;; *) die_case "move $i said: $out" ;; esac
		wait_for 60 counter_above "$to" rcvd_pkts $((base + 50)) || {
			show_counters
			die_case "no traffic on $to after move $i"
		}
	done
	echo "$moves moves done; the last: $out"
	[ "$(fd_flags "$pid")" = "$flags" ] ||
		die_case "the server's fd flags changed: before $flags, after $(fd_flags "$pid")"
	touch "$stop"
	if ! wait_for 120 gone "$srv" || ! wait_for 60 gone "$cli"; then
		show_counters
		kill "$srv" "$cli" 2>/dev/null
	fi
	wait "$cli" || rc=$?
	wait "$srv" || rc=$((rc ? rc : 1))
	load_verdict "$rc"
	rm -f "$stop"
}

# With a 1 ms interval timer in the moved server: its SIGALRMs come while
# a move runs calls in it; none may break a call or be lost.
case_move_load() {
	move_load "${RXE_RS_LOAD_MOVES:-10}" "" -i 1000
	local n
	n=$(sed -n 's/.*: \([0-9]*\) timer signals taken/\1/p' "$PP_SRV_LOG")
	[ "${n:-0}" -gt 1000 ] || die_case "the server took ${n:-no} timer signals"
	echo "the server took $n timer signals"
}

# The server waits on a completion channel, non-blocking (mig_load -e).
case_move_load_lossy() {
	move_load "${RXE_RS_LOAD_MOVES:-10}" 5% -e
}

# 10,000 damaged copies of a real image handed to the kernel
# (rust/ckpt/examples/stage_fuzz.rs): it refuses exactly those the image
# checker refuses, most of them re-sealed with a valid checksum so that
# the damage reaches the checks behind it; every 64th is staged for real
# on a fresh context and freed with it. The case's log check and the
# module's unload at the end see that nothing broke or leaked.
case_fuzzed_images() {
	two_devices rs rs
	static_neighbours
	local img=/tmp/rxe-rs-fuzz.img out
	PP_TIMEOUT=300 pp_start ibv_rc_pingpong 4 64 100000 -r 8
	wait_for 60 counter_above rxe_b rdma_recvs 50 || die_case "no traffic"
	out=$("$RXE_CKPT" dump --pid "$(tool_pid ibv_rc_pingpong rxe_b)" -o "$img" --leave-running 2>&1) ||
		die_case "dump: $out"
	echo "$out"
	# Gone, so that their numbers and keys are free for the stages kept.
	kill "$PP_CLI" "$PP_SRV" 2>/dev/null
	wait "$PP_CLI" "$PP_SRV" 2>/dev/null || true
	wait_for 10 sh -c "! rdma res show qp | grep -q ibv_rc_pingpong" || die_case "the pingpong's QPs linger"
	"$STAGE_FUZZ" rxe_a "$img" "${RXE_RS_FUZZ_IMAGES:-10000}" || die_case "the kernel and the checker disagree"
	rm -f "$img"
}

# rxe-ckpt check: a device can host an image, or says why not; a damaged
# image is refused by the tool and by the kernel; a restore onto a device
# that cannot host it leaves the process running where it was.
case_check_and_refused_restore() {
	three_devices
	local n base srv img=/tmp/rxe-rs-check.img out
	n=$(iters_for 6 1024)
	base=$(counter rxe_b rdma_recvs)
	PP_TIMEOUT=600 pp_start ibv_rc_pingpong 4 1024 "$n"
	wait_for 60 counter_above rxe_b rdma_recvs $((base + 100)) || die_case "no traffic"
	srv=$(tool_pid ibv_rc_pingpong rxe_b)
	"$RXE_CKPT" dump --pid "$srv" -o "$img" --leave-running >/dev/null || die_case "dump failed"
	out=$("$RXE_CKPT" check "$img" --device rxe_b2) || die_case "check on rxe_b2: $out"
	echo "$out"
	[ "$out" = "$img: rxe_b2 can host it" ] || die_case "check said: $out"
	# The process's own device has its MR's key taken (by the process).
	expect_fail "MR keys are taken on rxe_b" "$RXE_CKPT" check "$img" --device rxe_b
	expect_fail "cannot host" "$RXE_CKPT" restore --pid "$srv" --to rxe_b "$img"
	# A flipped byte: refused whole.
	local bad=/tmp/rxe-rs-bad.img
	cp "$img" "$bad"
	printf '\x5a' | dd of="$bad" bs=1 seek=100 conv=notrunc status=none
	expect_fail "bad checkpoint image" "$RXE_CKPT" check "$bad" --device rxe_b2
	# The kernel refuses it too, on its own.
	expect_fail "the kernel refused the image as invalid" env RXE_CKPT_KERNEL_CHECK_ONLY=1 \
		"$RXE_CKPT" check "$bad" --device rxe_b2
	expect_fail "no rxe-rs device nosuch" "$RXE_CKPT" move --pid "$srv" --to nosuch
	# Still running where it was, to the end.
	pp_wait
	rm -f "$img" "$bad"
}

# A real user, not root with capabilities dropped: nobody runs its own
# ibv_rc_pingpong server and may ptrace it, but has no
# CAP_CHECKPOINT_RESTORE: every migration call is refused, nothing is
# stopped or written, and the run completes.
case_unprivileged_user() {
	three_devices
	local n base srv img=/tmp/rxe-rs-user.img user=65534 as
	n=$(iters_for 7 1024)
	base=$(counter rxe_b rdma_recvs)
	PP_SRV_AS=$user PP_TIMEOUT=600 pp_start ibv_rc_pingpong 4 1024 "$n"
	wait_for 60 counter_above rxe_b rdma_recvs $((base + 100)) || die_case "no traffic: $(cat "$PP_SRV_LOG")"
	srv=$(tool_pid ibv_rc_pingpong rxe_b)
	[ "$(stat -c %u "/proc/$srv")" = "$user" ] || die_case "the server runs as uid $(stat -c %u "/proc/$srv")"
	as="setpriv --reuid=$user --regid=$user --clear-groups"
	rm -f "$img"
	# shellcheck disable=SC2086 # the setpriv words
	{
		expect_fail "permission denied" $as "$RXE_CKPT" pause --pid "$srv"
		expect_fail "permission denied" $as "$RXE_CKPT" dump --pid "$srv" -o "$img"
		expect_fail "permission denied" $as "$RXE_CKPT" move --pid "$srv" --to rxe_b2
		expect_fail "permission denied" $as "$RXE_CKPT" set-next --device rxe_b2 --qpn 0x4000
	}
	[ ! -e "$img" ] || die_case "an unprivileged dump wrote an image"
	pp_wait
	[ "$(counter rxe_a rcvd_stopped)" = 0 ] || die_case "an unprivileged call stopped a QP"
	[ "$(counter rxe_b2 rdma_recvs)" = 0 ] || die_case "rxe_b2 took traffic"
}

# A destination too small: rxe_b2's netdev keeps a 1500-byte MTU (rxe MTU
# 1024) while the server's QP runs with path MTU 2048 over 9000-byte
# links. check says why; the move is refused and the run completes where
# it was.
case_too_small() {
	three_devices
	local n base srv img=/tmp/rxe-rs-small.img out
	ip -n "$NS_A" link set "$VA" mtu 9000
	ip -n "$NS_B" link set vlow mtu 9000
	ip -n "$NS_B" link set "$VB" mtu 9000
	mtu_is() { ip netns exec "$1" ibv_devinfo -d "$2" | grep -q "active_mtu:.*$3"; }
	wait_for 10 mtu_is "$NS_A" rxe_a 4096 || die_case "rxe_a's MTU: $(ip netns exec "$NS_A" ibv_devinfo -d rxe_a | grep mtu)"
	wait_for 10 mtu_is "$NS_B" rxe_b 4096 || die_case "rxe_b's MTU: $(ip netns exec "$NS_B" ibv_devinfo -d rxe_b | grep mtu)"
	mtu_is "$NS_B" rxe_b2 1024 || die_case "rxe_b2's MTU: $(ip netns exec "$NS_B" ibv_devinfo -d rxe_b2 | grep mtu)"
	n=$(iters_for 7 4096)
	base=$(counter rxe_b rdma_recvs)
	PP_TIMEOUT=600 pp_start ibv_rc_pingpong 4 4096 "$n" -m 2048
	wait_for 60 counter_above rxe_b rdma_recvs $((base + 100)) || die_case "no traffic: $(cat "$PP_SRV_LOG")"
	srv=$(tool_pid ibv_rc_pingpong rxe_b)
	"$RXE_CKPT" dump --pid "$srv" -o "$img" --leave-running >/dev/null || die_case "dump failed"
	expect_fail "1 QPs have a path MTU above rxe_b2's" "$RXE_CKPT" check "$img" --device rxe_b2
	# The move learns it from its dump: the QP, stopped for it, runs on.
	expect_fail "rxe_b2 cannot host the image: 1 QPs have a path MTU above" \
		"$RXE_CKPT" move --pid "$srv" --to rxe_b2
	base=$(counter rxe_b rdma_recvs)
	wait_for 60 counter_above rxe_b rdma_recvs $((base + 100)) || die_case "no traffic after the refused move"
	out=$("$RXE_CKPT" check "$img" --device rxe_b 2>&1) && die_case "rxe_b hosts its own process's taken keys: $out"
	pp_wait
	[ "$(counter rxe_b2 rdma_recvs)" = 0 ] || die_case "rxe_b2 took traffic"
	rm -f "$img"
}

case_refusals() {
	two_devices rs rs
	static_neighbours
	expect_fail "no such process: 999999" "$RXE_CKPT" pause --pid 999999
	expect_fail "holds no rxe-rs RDMA resources" "$RXE_CKPT" pause --pid $$
	local n base
	n=$(iters_for 5 1024)
	base=$(counter rxe_b rdma_recvs)
	PP_TIMEOUT=600 pp_start ibv_rc_pingpong 4 1024 "$n"
	wait_for 60 counter_above rxe_b rdma_recvs $((base + 100)) || die_case "no traffic"
	local srv
	srv=$(tool_pid ibv_rc_pingpong rxe_b)
	# Without CAP_CHECKPOINT_RESTORE and CAP_SYS_ADMIN: refused, and the
	# QP runs on.
	expect_fail "permission denied" setpriv --bounding-set=-sys_admin,-checkpoint_restore \
		"$RXE_CKPT" pause --pid "$srv"
	pp_wait
	[ "$(counter rxe_a rcvd_stopped)" = 0 ] || die_case "an unprivileged pause stopped a QP"
	# The settable numbers: out of range refused, in range taken by the
	# next QP.
	expect_fail "out of the device's range" "$RXE_CKPT" set-next --device rxe_b --qpn 5
	expect_fail "give --qpn, --mrn or both" "$RXE_CKPT" set-next --device rxe_b
	"$RXE_CKPT" set-next --device rxe_b --qpn 0x4242 || die_case "set-next failed"
	"$RXE_CKPT" query --device rxe_b --json | grep -q '"next_qpn":16962' ||
		die_case "query: $("$RXE_CKPT" query --device rxe_b --json)"
	pingpong ibv_rc_pingpong 4 64 10
	[ "$(pp_field "$PP_SRV_LOG" local QPN)" = $((0x4242)) ] ||
		die_case "the server's QP took $(pp_field "$PP_SRV_LOG" local QPN), not 0x4242"
	expect_fail "no rxe-rs device nosuch" "$RXE_CKPT" query --device nosuch
	# The same numbers for administrators, in sysfs.
	local sys=/sys/class/infiniband/rxe_b
	echo 0x5000 >"$sys/next_qpn" || die_case "writing next_qpn failed"
	[ "$(cat "$sys/next_qpn")" = $((0x5000)) ] || die_case "next_qpn reads $(cat "$sys/next_qpn")"
	expect_fail "Invalid argument" bash -c "echo 3 >$sys/next_qpn"
	expect_fail "Operation not permitted" setpriv --bounding-set=-sys_admin,-checkpoint_restore \
		bash -c "echo 77 >$sys/next_mrn"
	echo 0x77 >"$sys/next_mrn" || die_case "writing next_mrn failed"
	pingpong ibv_rc_pingpong 4 64 10
	[ "$(pp_field "$PP_SRV_LOG" local QPN)" = $((0x5000)) ] ||
		die_case "the server's QP took $(pp_field "$PP_SRV_LOG" local QPN), not 0x5000"
	[ "$(cat "$sys/next_mrn")" = $((0x78)) ] || die_case "the pingpong's MR did not take index 0x77: next_mrn $(cat "$sys/next_mrn")"
	# rdma_cm users are not supported yet.
	ip netns exec "$NS_B" timeout 60 rping -s -a "$IP_B" -C 1000 -V >"$PP_SRV_LOG" 2>&1 &
	sleep 1
	expect_fail "uses the RDMA connection manager" "$RXE_CKPT" pause --pid "$(pgrep -n -x rping)"
}

# The C rxe has no migration methods: said so.
case_c_rxe_refused() {
	two_devices c rs
	expect_fail "no migration methods" "$RXE_CKPT" query --device rxe_a
}

build_mig_load || {
	t_done
	exit 1
}
{ [ -x "$RXE_CKPT" ] && [ -x "$STAGE_FUZZ" ]; } || {
	t_fail "rxe-ckpt or its image fuzzer not built under rust/ckpt/target/release (make ckpt)"
	t_done
	exit
}
t_case "pause in place: ibv_rc_pingpong's server stopped 8 s, its client paused (no retries), both complete, data checked" case_pause_in_place
t_case "pause in place under a stream: ib_send_bw's client told, paused 8 s with no retries, completes" case_pause_stream
t_case "pause and resume five times in one run (the client's side)" case_pause_repeatedly
t_case "refused: no process, no resources, no privilege, rdma_cm, unknown device, numbers out of range; set-next taken" case_refusals
t_case "dump: a running ibv_rc_pingpong's image holds its QPN, MR key and stopped QP; --leave-running goes on, without it the QPs wait for resume; both complete" case_dump
t_case "refused as a real user (nobody, its own ibv_rc_pingpong): pause, dump, move, set-next; nothing stopped or written, the run completes" case_unprivileged_user
t_case "refused: a destination too small (its MTU below the QP's path MTU): check says why, the move leaves the process running where it was" case_too_small
t_case "check: a device hosts an image or says why not; damaged images and impossible restores refused, the process untouched" case_check_and_refused_restore
t_case "fuzzed images: of 10,000 damaged copies of a real image the kernel refuses exactly those the checker refuses; stages kept are freed" case_fuzzed_images
t_case "move: ibv_rc_pingpong's server moved four times between two devices and addresses while it runs; both complete, data checked" case_move_rc_pingpong
t_case "move: the same with a completion channel (ibv_rc_pingpong -e)" case_move_rc_pingpong_events
t_case "restore: dumped stopped, restored into itself on another device, ibv_rc_pingpong goes on there; an image the process moved on from refused" case_dump_restore
t_case "move: ibv_srq_pingpong's server (an SRQ, 16 QPs) moved four times (twice on the debug kernel); both complete, data checked" case_move_srq_pingpong
t_case "move: ibv_ud_pingpong's server moved with its address before traffic; the run completes there, data checked" case_move_ud_pingpong
t_case "move: onto a device where its QPN is taken: a new QPN, the peer told by the resume; the run completes, data checked" case_move_new_qpn
t_case "move: with the C rxe as peer, silent; the address moves along and the peer's retransmissions find it" case_move_c_peer
t_case "move: the verified workload (4 QPs, both ways, a 1 ms timer's signals in the server) with its server moved ${RXE_RS_LOAD_MOVES:-10} times there and back; nothing lost, duplicated, reordered or done twice" case_move_load
t_case "move: the verified workload under netem 5% loss both ways, its server on a non-blocking completion channel, moved ${RXE_RS_LOAD_MOVES:-10} times; its fds' flags kept" case_move_load_lossy
t_case "move: ib_send_bw -b (both ways) with its server moved to another device and back" case_move_send_bw
t_case "move: ib_write_bw with its server moved to another device and back" case_move_write_bw
t_case "move: ib_read_bw with its server (the reads' responder) moved and back" case_move_read_bw
t_case "move: ib_atomic_bw with its server (the atomics' responder) moved and back" case_move_atomic_bw
t_case "refused: the C rxe has no migration methods" case_c_rxe_refused
t_done
