#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Stock CRIU (scripts/criu: 4.1.1, unpatched) on the test kernel: its own
# check passes, and it dumps a plain process in one network namespace and
# restores it in another, where it goes on. Then with the rxe-rs plugin
# (rust/ckpt/criu): unmodified RDMA programs and the project's verified
# workload checkpointed by `criu dump` and restored by `criu restore` in
# another namespace, on another device with another address, their peers
# running throughout (live, cold, iterative); and the restores that must
# be refused before a task is made.

. "$(dirname "$0")/lib.sh"

CRIU=${CRIU:-$("$TOP_DIR/scripts/criu" --print-bin)}
IMG=/tmp/rxe-rs-criu.d
PLUGIN=$TOP_DIR/rust/ckpt/target/release/librxe_rs_plugin.so
# CRIU loads every .so of its plugin directory: ours alone in one.
LIBDIR=/tmp/rxe-rs-criu-lib

# The third namespace, its device's netdev, its address; the switch
# namespace that joins B and C to A; and the address the servers' TCP side
# channels use, which moves with the server (TCP connections are restored
# with their addresses: CRIU's --tcp-established).
NS_C=rxc NS_S=rxs VC=vc
IP_C=192.168.77.4 IP_S=192.168.77.10

cleanup() {
	pkill -f '^/bin/bash /tmp/rxe-rs-criu-count$' 2>/dev/null
	stop_apps
	rdma_in "$NS_B" link del rxe_b2 2>/dev/null
	rdma_in "$NS_C" link del rxe_c 2>/dev/null
	del_pair
	ip netns del "$NS_C" 2>/dev/null
	ip netns del "$NS_S" 2>/dev/null
	unload_all
	rm -rf "$IMG"
	true
}

# criu_devices [KIND_A]: rxe_a on VA in NS_A, rxe_b on VB in NS_B, rxe_c on
# VC in NS_C; VB and VC are macvlans of the veth end in NS_S (a switch),
# each with its own MAC and address. The TCP address IP_S starts on VB.
# KIND_A c: rxe_a is the C rxe.
criu_devices() {
	local ns
	for ns in "$NS_A" "$NS_B" "$NS_C" "$NS_S"; do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
	done
	ip link add "$VA" netns "$NS_A" type veth peer name vlow netns "$NS_S"
	ip -n "$NS_S" link set vlow up
	ip -n "$NS_S" link add "$VB" link vlow type macvlan mode bridge
	ip -n "$NS_S" link set "$VB" netns "$NS_B"
	ip -n "$NS_S" link add "$VC" link vlow type macvlan mode bridge
	ip -n "$NS_S" link set "$VC" netns "$NS_C"
	ip -n "$NS_A" link set "$VA" up
	ip -n "$NS_B" link set "$VB" up
	ip -n "$NS_C" link set "$VC" up
	ip -n "$NS_A" addr add "$IP_A/24" dev "$VA"
	ip -n "$NS_B" addr add "$IP_B/24" dev "$VB"
	ip -n "$NS_B" addr add "$IP_S/24" dev "$VB"
	ip -n "$NS_C" addr add "$IP_C/24" dev "$VC"
	ip -n "$NS_A" neigh replace "$IP_B" lladdr "$(mac_of "$NS_B" "$VB")" dev "$VA" nud permanent
	ip -n "$NS_A" neigh replace "$IP_S" lladdr "$(mac_of "$NS_B" "$VB")" dev "$VA" nud permanent
	ip -n "$NS_A" neigh replace "$IP_C" lladdr "$(mac_of "$NS_C" "$VC")" dev "$VA" nud permanent
	ip -n "$NS_B" neigh replace "$IP_A" lladdr "$(mac_of "$NS_A" "$VA")" dev "$VB" nud permanent
	ip -n "$NS_C" neigh replace "$IP_A" lladdr "$(mac_of "$NS_A" "$VA")" dev "$VC" nud permanent
	load_for "${1:-rs}"
	rdma_in "$NS_A" link add rxe_a type "$LINK_A" netdev "$VA"
	rdma_in "$NS_B" link add rxe_b type "$LINK_B" netdev "$VB"
	rdma_in "$NS_C" link add rxe_c type "$LINK_B" netdev "$VC"
	gids 4
	wait_for 10 gid_index rxe_c ffff:c0a8:4d04 >/dev/null || die_case "no IPv4 GID on rxe_c"
}

# side NS: the device, netdev and address of namespace NS (B or C).
side() {
	case $1 in
	"$NS_B") echo "rxe_b $VB $IP_B" ;;
	*) echo "rxe_c $VC $IP_C" ;;
	esac
}

# move_tcp_address FROM TO: IP_S goes from namespace FROM's netdev to TO's,
# and NS_A's neighbour entry for it follows (as a gratuitous ARP would).
move_tcp_address() {
	local _d from_dev to_dev _a
	read -r _d from_dev _a <<<"$(side "$1")"
	read -r _d to_dev _a <<<"$(side "$2")"
	ip -n "$1" addr del "$IP_S/24" dev "$from_dev"
	ip -n "$2" addr add "$IP_S/24" dev "$to_dev"
	ip -n "$NS_A" neigh replace "$IP_S" lladdr "$(mac_of "$2" "$to_dev")" dev "$VA" nud permanent
}

# migrate PID FROM TO [DUMP_OPTS...]: CRIU dumps process PID in namespace
# FROM (killing it), its TCP address moves, and CRIU restores it in TO on
# TO's device with TO's address. The images in $IMG, made afresh.
migrate() {
	local pid=$1 from=$2 to=$3 dev _n addr
	shift 3
	read -r dev _n addr <<<"$(side "$to")"
	rm -rf "$IMG"
	mkdir -p "$IMG"
	criu_in "$from" dump -t "$pid" -L "$LIBDIR" --tcp-established --network-lock skip \
		-o dump.log "$@" || die_case "criu dump in $from: $(criu_log_errors)"
	# A restored task's parent is init: it may linger a moment as a zombie.
	wait_for 5 gone "$pid" || die_case "the dumped process $pid still runs"
	move_tcp_address "$from" "$to"
	RXE_CKPT_TO=$dev RXE_CKPT_ADDR=$addr criu_in "$to" restore -L "$LIBDIR" --tcp-established \
		--network-lock skip -o restore.log -d || die_case "criu restore in $to: $(criu_log_errors)"
	grep -h 'rxe-rs: process' "$IMG/restore.log"
}

# detached NS LOG CMD...: starts CMD in network namespace NS as CRIU can
# dump it: entered with nsenter (`ip netns exec` gives it a mount
# namespace of its own), in a session of its own, with none of the VM
# runner's fds; its output to LOG.
detached() {
	local ns=$1 log=$2
	shift 2
	# shellcheck disable=SC2016 # the inner shell expands it
	nsenter --net="/run/netns/$ns" setsid bash -c \
		'for fd in /proc/$$/fd/*; do n=${fd##*/}; [ "$n" -gt 2 ] && [ "$n" != 255 ] && eval "exec $n>&-"; done; exec "$@"' \
		rxe-rs-detached "$@" </dev/null >"$log" 2>&1 &
}

# criu_in NS ARGS...: CRIU run in network namespace NS (a restore puts the
# task in the namespace CRIU runs in), its log kept in the images
# directory.
criu_in() {
	local ns=$1
	shift
	nsenter --net="/run/netns/$ns" "$CRIU" "$@" -D "$IMG" -v4 --shell-job
}

# criu_refused NS LOG WANT CRIU_ARGS...: `criu restore` in NS refused, its
# log LOG saying WANT, CRIU stopped before it made a task (the plugin
# refuses at its init).
criu_refused() {
	local ns=$1 log=$2 want=$3
	shift 3
	expect_fail "" criu_in "$ns" restore -o "$log" -d "$@"
	grep -h -m1 -- "$want" "$IMG/$log" || die_case "$log does not say '$want': $(grep -m3 Error "$IMG/$log")"
	! grep -q 'Forking task' "$IMG/$log" || die_case "CRIU made a task before it refused ($log)"
}

criu_log_errors() {
	grep -h -E 'Error|rxe-rs: ' "$IMG"/*.log 2>/dev/null | tail -n 12
}

# `criu check`: the kernel has what CRIU needs (config/base.config).
case_check() {
	local out
	out=$("$CRIU" check 2>&1) || die_case "criu check: $out"
	echo "$out"
	# Warnings are fine (this CRIU is built without libnftables: its
	# network lock is iptables', or none).
	[ "${out##*$'\n'}" = "Looks good." ] || die_case "criu check said: $out"
}

# A counting shell loop, started in NS_A (with nsenter: `ip netns exec`
# gives it a mount namespace of its own, which CRIU cannot dump), dumped,
# restored in NS_B: it counts on from where it was.
case_dump_restore() {
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	local out=/tmp/rxe-rs-criu-count.out pid n1 n2
	rm -rf "$IMG" "$out"
	mkdir -p "$IMG"
	# Its fds: none of the VM runner's (CRIU cannot dump those).
	cat >/tmp/rxe-rs-criu-count <<-EOF
		#!/bin/bash
		for fd in /proc/\$\$/fd/*; do n=\${fd##*/}; [ "\$n" -gt 2 ] && [ "\$n" != 255 ] && eval "exec \$n>&-"; done
		i=0
		while :; do i=\$((i + 1)); echo \$i >$out; sleep 0.1; done
	EOF
	chmod +x /tmp/rxe-rs-criu-count
	nsenter --net="/run/netns/$NS_A" setsid /tmp/rxe-rs-criu-count </dev/null >/dev/null 2>&1 &
	wait_for 10 test -s "$out" || die_case "the loop did not start"
	pid=$(pgrep -o -f '^/bin/bash /tmp/rxe-rs-criu-count$') || die_case "no loop"
	# CRIU runs in the task's network namespace: it is then not one CRIU
	# dumps, and the restore puts the task in the namespace CRIU runs in.
	nsenter --net="/run/netns/$NS_A" "$CRIU" dump -t "$pid" -D "$IMG" -o dump.log -v4 ||
		die_case "criu dump failed: $(grep -m5 -E 'Error|error' "$IMG/dump.log")"
	gone "$pid" || die_case "the dumped loop still runs"
	n1=$(cat "$out")
	nsenter --net="/run/netns/$NS_B" "$CRIU" restore -D "$IMG" -o restore.log -v4 -d ||
		die_case "criu restore failed: $(grep -m5 -E 'Error|error' "$IMG/restore.log")"
	sleep 1
	n2=$(cat "$out")
	[ "$n2" -gt "$n1" ] || die_case "the restored loop does not count: $n1 then $n2"
	pid=$(pgrep -o -f '^/bin/bash /tmp/rxe-rs-criu-count$') || die_case "no restored loop"
	[ "$(readlink "/proc/$pid/ns/net")" = "$(readlink "/run/netns/$NS_B")" ] ||
		[ "$(stat -L -c %i "/proc/$pid/ns/net")" = "$(stat -c %i "/run/netns/$NS_B")" ] ||
		die_case "the restored loop is not in $NS_B"
	echo "counted to $n1 before the dump, $n2 after the restore"
}

# ibv_rc_pingpong -e (a completion channel) with its server dumped by CRIU
# (killed: its QPs stopped, the client told and paused), kept 60 s, far
# past the client's retry budget (under 2 s), and restored in NS_C on rxe_c
# with IP_C: the resume tells the client where it now is, and both end,
# every buffer checked.
case_pingpong_cold() {
	criu_devices
	local n srv resumes base
	n=$(PP_EXTRA=-e iters_for 8 4096)
	rm -rf "$IMG"
	mkdir -p "$IMG"
	detached "$NS_B" "$PP_SRV_LOG" ibv_rc_pingpong -d rxe_b -g "$GID_B" -s 4096 -n "$n" -c -e
	listening "$NS_B" 18515 || die_case "server did not start: $(cat "$PP_SRV_LOG")"
	ip netns exec "$NS_A" timeout 900 ibv_rc_pingpong -d rxe_a -g "$GID_A" -s 4096 -n "$n" -c -e "$IP_B" \
		>"$PP_CLI_LOG" 2>&1 &
	PP_CLI=$!
	wait_for 60 counter_above rxe_b rdma_recvs 100 || die_case "no traffic: $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
	srv=$(tool_pid ibv_rc_pingpong rxe_b)
	resumes=$(counter rxe_a rcvd_resume)
	criu_in "$NS_B" dump -t "$srv" -L "$LIBDIR" -o dump.log || die_case "criu dump: $(criu_log_errors)"
	grep -h 'rxe-rs: process' "$IMG/dump.log"
	gone "$srv" || die_case "the dumped server still runs"
	[ -s "$IMG/rxe-rs-$srv.img" ] || die_case "no RDMA image in the dump"
	sleep 60
	kill -0 "$PP_CLI" 2>/dev/null || die_case "the client ended while its server was dumped: $(cat "$PP_CLI_LOG")"
	base=$(counter rxe_c rdma_recvs)
	RXE_CKPT_TO=rxe_c RXE_CKPT_ADDR=$IP_C criu_in "$NS_C" restore -L "$LIBDIR" -o restore.log -d ||
		die_case "criu restore: $(criu_log_errors)"
	grep -h 'rxe-rs: process' "$IMG/restore.log"
	wait_for 60 counter_above rxe_c rdma_recvs $((base + 100)) || {
		show_counters
		die_case "no traffic on rxe_c after the restore: $(criu_log_errors)"
	}
	wait_for 300 gone "$srv"
	wait "$PP_CLI" || die_case "the client failed: $(cat "$PP_CLI_LOG")"
	tail -n 2 "$PP_CLI_LOG"
	grep -q "$n iters in" "$PP_SRV_LOG" || die_case "the restored server did not finish: $(tail -n 3 "$PP_SRV_LOG")"
	[ "$(counter rxe_a rcvd_resume)" -gt "$resumes" ] || die_case "the client took no resume"
	[ "$(counter rxe_a retry_exceeded_err)" = 0 ] || die_case "the client ran out of retries"
}

# load_start: the project's verified workload (progs/mig_load.c: 4 QPs,
# both ways at once, every SEND, WRITE with immediate, READ and atomic
# checked), its server in NS_B on rxe_b (LOAD_PID), its client in NS_A
# (LOAD_CLI) meeting it over TCP at IP_S. Both run until the stop file.
# Arguments go to both ends' mig_load.
LOAD_STOP=/tmp/rxe-rs-load.stop
load_start() {
	# On the debug kernel an ack can take longer than 67 ms to come back.
	local t=14
	debug_kernel && t=18
	rm -f "$LOAD_STOP"
	detached "$NS_B" "$PP_SRV_LOG" "$MIG_LOAD" -d rxe_b -x "$GID_B" -q 4 -t 3000 -T "$t" -f "$LOAD_STOP" "$@"
	wait_for 30 grep -q listening "$PP_SRV_LOG" || die_case "mig_load server did not start: $(cat "$PP_SRV_LOG")"
	ip netns exec "$NS_A" timeout 3600 "$MIG_LOAD" -d rxe_a -x "$GID_A" -q 4 -t 3000 -T "$t" -f "$LOAD_STOP" \
		"$@" "$IP_S" >"$PP_CLI_LOG" 2>&1 &
	LOAD_CLI=$!
	wait_for 60 counter_above rxe_b rcvd_pkts 500 || die_case "no traffic: $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
	LOAD_PID=$(pgrep -n -f "^$MIG_LOAD -d rxe_b ") || die_case "no mig_load on rxe_b"
}

# load_end: stops the workload; both ends verified everything and agree on
# the totals (exchanged over the restored TCP connection).
load_end() {
	local rc=0
	touch "$LOAD_STOP"
	if ! wait_for 180 gone "$LOAD_PID" || ! wait_for 60 gone "$LOAD_CLI"; then
		show_counters
		kill "$LOAD_PID" "$LOAD_CLI" 2>/dev/null
	fi
	wait "$LOAD_CLI" || rc=$?
	load_verdict "$rc"
	rm -f "$LOAD_STOP"
}

# The workload's server live-migrated by CRIU between NS_B (rxe_b, IP_B)
# and NS_C (rxe_c, IP_C), there and back, RXE_RS_CRIU_MOVES times (20; 6 on
# the debug kernel, where a migration takes ten times longer), its TCP
# connection along (--tcp-established).
case_load_migrations() {
	local moves=${RXE_RS_CRIU_MOVES:-20} i from=$NS_B to=$NS_C x dev _r base
	debug_kernel && moves=${RXE_RS_CRIU_MOVES:-6}
	criu_devices
	load_start
	for i in $(seq 1 "$moves"); do
		read -r dev _r <<<"$(side "$to")"
		base=$(counter "$dev" rcvd_pkts)
		migrate "$LOAD_PID" "$from" "$to" >/dev/null
		wait_for 60 counter_above "$dev" rcvd_pkts $((base + 50)) || {
			show_counters
			die_case "no traffic on $dev after migration $i: $(criu_log_errors)"
		}
		kill -0 "$LOAD_CLI" 2>/dev/null || die_case "the client ended at migration $i: $(cat "$PP_CLI_LOG")"
		x=$from from=$to to=$x
	done
	echo "$moves migrations done; the last: $(grep -h 'rxe-rs: process' "$IMG/restore.log")"
	load_end
}

# Iterative: `criu pre-dump` of the workload's server while it runs, then
# 3 s of the client's traffic landing in the server's memory through the
# kernel, which soft-dirty tracking does not see, then `criu dump
# --track-mem` on top of it (the plugin marks the MR pages) and the
# restore in NS_C. The MR is on huge pages (-H): there a pre-dump clears
# the soft-dirty bit of a pinned page, unlike a small one's. Its ledger
# (-W) fills huge pages of their own that only the client's RDMA WRITEs
# change (entry n at offset 8n, never overwritten): the server checks it
# whole at the end, and an entry of those 3 s restored stale fails the
# run. With RXE_CKPT_NO_MARK=1 (the plugin leaves the pages unmarked) the
# same case must fail so: iterative_dump no_mark checks that it does.
iterative_dump() {
	local pre=$IMG/pre base huge no_mark=${1:-}
	criu_devices
	load_start -H -W
	huge=$(awk '/^AnonHugePages:/ { s += $2 } END { print s + 0 }' "/proc/$LOAD_PID/smaps")
	[ "$huge" -ge 4096 ] || die_case "the workload's MR is not on huge pages (AnonHugePages: $huge kB)"
	rm -rf "$IMG"
	mkdir -p "$pre" "$IMG/dump"
	IMG=$pre criu_in "$NS_B" pre-dump -t "$LOAD_PID" -L "$LIBDIR" -o pre-dump.log ||
		die_case "criu pre-dump: $(IMG=$pre criu_log_errors)"
	kill -0 "$LOAD_PID" || die_case "the pre-dumped server stopped"
	base=$(counter rxe_b rcvd_pkts)
	sleep 3
	counter_above rxe_b rcvd_pkts $((base + 100)) || die_case "no traffic after the pre-dump"
	RXE_CKPT_NO_MARK=${no_mark:+1} IMG=$IMG/dump migrate "$LOAD_PID" "$NS_B" "$NS_C" \
		--prev-images-dir ../pre --track-mem
	[ -L "$IMG/dump/parent" ] || die_case "the dump is not on top of the pre-dump"
	grep -h 'rxe-rs: process' "$IMG/dump/dump.log"
	echo "pre-dump: $(du -sk "$pre" | cut -f1) KiB; the dump on top: $(du -sk "$IMG/dump" | cut -f1) KiB"
	base=$(counter rxe_c rcvd_pkts)
	wait_for 60 counter_above rxe_c rcvd_pkts $((base + 500)) || die_case "no traffic on rxe_c after the restore"
	if [ -z "$no_mark" ]; then
		grep -qE '[1-9][0-9]* MR pages marked' "$IMG/dump/dump.log" || die_case "the plugin marked no MR pages"
		load_end
		grep -h 'ledger:' "$PP_SRV_LOG"
		return
	fi
	! grep -q 'MR pages marked' "$IMG/dump/dump.log" || die_case "the plugin marked pages with RXE_CKPT_NO_MARK=1"
	touch "$LOAD_STOP"
	wait_for 180 gone "$LOAD_PID" || die_case "the restored server did not end"
	# The client fails too, its peer gone before the end.
	wait_for 60 gone "$LOAD_CLI" || kill "$LOAD_CLI" 2>/dev/null || true
	wait "$LOAD_CLI" || true
	grep -h 'ledger entry' "$PP_SRV_LOG" || die_case "the server found its ledger whole though its pages were not marked: \
the test cannot see a stale restore ($(tail -n 2 "$PP_SRV_LOG"))"
	rm -f "$LOAD_STOP"
}

case_predump() { iterative_dump; }
case_predump_unmarked() { iterative_dump no_mark; }

# ib_send_bw -b (sends both ways) with its server checkpointed by CRIU
# mid-run and restored in NS_C on rxe_c, as in MigrOS's demo: its TCP side
# channel (the results at the end) restored with --tcp-established; both
# ends finish normally.
case_send_bw() {
	local secs=20 pid base
	debug_kernel && secs=90
	criu_devices
	detached "$NS_B" "$PP_SRV_LOG" ib_send_bw -d rxe_b -x "$GID_B" -F -D "$secs" -b -s 4096
	listening "$NS_B" 18515 || die_case "ib_send_bw server did not start: $(cat "$PP_SRV_LOG")"
	ip netns exec "$NS_A" timeout 600 ib_send_bw -d rxe_a -x "$GID_A" -F -D "$secs" -b -s 4096 "$IP_S" \
		>"$PP_CLI_LOG" 2>&1 &
	PP_CLI=$!
	wait_for 60 counter_above rxe_b rcvd_pkts 2000 || die_case "no traffic: $(cat "$PP_CLI_LOG")"
	pid=$(tool_pid ib_send_bw rxe_b)
	sleep 2
	base=$(counter rxe_c rcvd_pkts)
	migrate "$pid" "$NS_B" "$NS_C"
	wait_for 60 counter_above rxe_c rcvd_pkts $((base + 1000)) || {
		show_counters
		gone "$PP_CLI" && die_case "the run ended before the migration could be checked: $(cat "$PP_CLI_LOG")"
		die_case "no traffic on rxe_c after the restore"
	}
	wait "$PP_CLI" || die_case "the client failed: $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
	wait_for 60 gone "$pid" || die_case "the restored server did not end"
	echo "client: $(grep -A1 '#bytes' "$PP_CLI_LOG" | tail -n 1)"
	echo "server: $(grep -A1 '#bytes' "$PP_SRV_LOG" | tail -n 1)"
	grep -A1 '#bytes' "$PP_SRV_LOG" | tail -n 1 | grep -q '^ *4096 ' ||
		die_case "the restored server gave no results: $(tail -n 5 "$PP_SRV_LOG")"
	[ "$(counter rxe_a retry_exceeded_err)" = 0 ] || die_case "the client ran out of retries"
}

# Refused before CRIU makes any task, each with one line saying why: a
# restore without the plugin, onto the C rxe, onto rxe_b where the source
# still holds the image's QPNs and keys and its peer (the C rxe) cannot be
# told of new ones, and from a damaged image. The dump was
# --leave-running: the source goes on, untouched, and its run with the C
# rxe completes, data checked.
case_refusals() {
	criu_devices c
	local n srv base img
	n=$(iters_for 10 4096)
	rm -rf "$IMG"
	mkdir -p "$IMG"
	detached "$NS_B" "$PP_SRV_LOG" ibv_rc_pingpong -d rxe_b -g "$GID_B" -s 4096 -n "$n" -c
	listening "$NS_B" 18515 || die_case "server did not start: $(cat "$PP_SRV_LOG")"
	ip netns exec "$NS_A" timeout 900 ibv_rc_pingpong -d rxe_a -g "$GID_A" -s 4096 -n "$n" -c "$IP_B" \
		>"$PP_CLI_LOG" 2>&1 &
	PP_CLI=$!
	wait_for 60 counter_above rxe_b rdma_recvs 100 || die_case "no traffic: $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
	srv=$(tool_pid ibv_rc_pingpong rxe_b)
	criu_in "$NS_B" dump -t "$srv" -L "$LIBDIR" --leave-running -o dump.log ||
		die_case "criu dump: $(criu_log_errors)"
	kill -0 "$srv" 2>/dev/null || die_case "the source ended after a --leave-running dump"
	base=$(counter rxe_b rdma_recvs)
	wait_for 60 counter_above rxe_b rdma_recvs $((base + 100)) || die_case "the source does not go on after the dump"
	mkdir -p /tmp/rxe-rs-criu-none
	criu_refused "$NS_C" r-none.log 'Missing required plugin' -L /tmp/rxe-rs-criu-none
	RXE_CKPT_TO=rxe_a criu_refused "$NS_A" r-c.log 'rxe-rs: restore refused: .*rxe_a' -L "$LIBDIR"
	RXE_CKPT_TO=rxe_b criu_refused "$NS_B" r-taken.log \
		"rxe-rs: restore refused: .*QP numbers are taken on rxe_b, and their peers cannot be told of new ones.*; .* MR keys are taken" \
		-L "$LIBDIR"
	# One byte in the middle of the image, complemented.
	img=$IMG/rxe-rs-$srv.img
	local at byte
	at=$(($(stat -c %s "$img") / 2))
	byte=$(od -An -tu1 -j "$at" -N1 "$img" | tr -d ' ')
	# shellcheck disable=SC2059 # the format is the byte
	printf "\\$(printf %o $((255 - byte)))" | dd of="$img" bs=1 seek="$at" conv=notrunc status=none
	[ "$(od -An -tu1 -j "$at" -N1 "$img" | tr -d ' ')" = $((255 - byte)) ] || die_case "the image was not damaged"
	RXE_CKPT_TO=rxe_c criu_refused "$NS_C" r-bad.log "rxe-rs: restore refused: rxe-rs-$srv.img: bad checkpoint image" -L "$LIBDIR"
	kill -0 "$srv" 2>/dev/null || die_case "the source ended"
	wait "$PP_CLI" || die_case "the client failed: $(cat "$PP_CLI_LOG")"
	wait_for 60 gone "$srv"
	tail -n 2 "$PP_CLI_LOG"
	grep -q "$n iters in" "$PP_SRV_LOG" || die_case "the source did not finish: $(tail -n 3 "$PP_SRV_LOG")"
	[ "$(counter rxe_a retry_exceeded_err)" = 0 ] || die_case "the client (the C rxe) ran out of retries"
}

show_counters() {
	local dev
	for dev in rxe_a rxe_b rxe_c; do
		echo "$dev: $(rdma statistic show link "$dev/1" 2>/dev/null | tr ' ' '\n' | paste - - | awk '$2 != 0' | tr '\n' ' ')"
	done
	rdma res show qp -dd 2>/dev/null | grep -v GSI
}

[ -x "$CRIU" ] || {
	t_fail "criu: CRIU built at $CRIU (scripts/setup builds it)"
	t_done
	exit 1
}
[ -f "$PLUGIN" ] || {
	t_fail "criu: the plugin built at $PLUGIN (make ckpt)"
	t_done
	exit 1
}
build_mig_load || {
	t_done
	exit 1
}
mkdir -p "$LIBDIR"
cp "$PLUGIN" "$LIBDIR/rxe_rs_plugin.so"
t_case "check: the test kernel has what CRIU 4.1.1 needs (criu check)" case_check
t_case "a plain process dumped in one network namespace is restored in another and goes on" case_dump_restore
t_case "refused before a task is made, one line each: no plugin, the C rxe, QPNs and keys taken with a C rxe peer, a damaged image; the --leave-running source goes on untouched and completes" case_refusals
t_case "cold: ibv_rc_pingpong -e's server dumped, kept 60 s, restored in another namespace on another device and address; the client resumes, both complete, data checked" case_pingpong_cold
t_case "live: the verified workload's server migrated by CRIU between two namespaces, devices and addresses, there and back ${RXE_RS_CRIU_MOVES:-20} times (6 on the debug kernel), its TCP connection along; nothing lost, duplicated or done twice" case_load_migrations
t_case "iterative: pre-dump, the peer's writes landing in huge pages, dump --track-mem on top (the plugin marks the MR pages), restored elsewhere: the run and the peer's ledger verified" case_predump
t_case "iterative, the control: the same with the plugin's marking off restores the ledger stale, and the run fails on it" case_predump_unmarked
t_case "ib_send_bw -b's server migrated mid-run to another namespace, device and address, its TCP side channel along; both end normally" case_send_bw
t_done
