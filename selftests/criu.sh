#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Stock CRIU (scripts/criu: 4.1.1, unpatched) on the test kernel: its own
# check passes, and it dumps a plain process in one network namespace and
# restores it in another, where it goes on. Then with the rxe-rs plugin
# (rust/ckpt/criu): an unmodified RDMA program dumped by CRIU and restored,
# its peer waiting meanwhile; a restore without the plugin refused.

. "$(dirname "$0")/lib.sh"

CRIU=${CRIU:-$("$TOP_DIR/scripts/criu" --print-bin)}
IMG=/tmp/rxe-rs-criu.d
PLUGIN=$TOP_DIR/rust/ckpt/target/release/librxe_rs_plugin.so
# CRIU loads every .so of its plugin directory: ours alone in one.
LIBDIR=/tmp/rxe-rs-criu-lib

cleanup() {
	pkill -f '^/bin/bash /tmp/rxe-rs-criu-count$' 2>/dev/null
	stop_apps
	rdma_in "$NS_B" link del rxe_b2 2>/dev/null
	del_pair
	unload_all
	rm -rf "$IMG"
	true
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

criu_log_errors() {
	grep -h -m8 -E 'Error|rxe-rs' "$IMG"/*.log 2>/dev/null
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

# An ibv_rc_pingpong server dumped by CRIU with the plugin (and killed:
# its QPs stopped, the client told and paused), kept 5 s, restored on
# another device with another address (rxe_b2): the resume tells the
# client where it now is, and both end, every buffer checked. Before
# that, a restore without the plugin is refused, the task not run.
case_pingpong() {
	# shellcheck disable=SC2119 # no argument: rxe-rs on all three
	three_devices
	gids 4
	local n srv resumes base
	n=$(iters_for 14 4096)
	rm -rf "$IMG"
	mkdir -p "$IMG"
	detached "$NS_B" "$PP_SRV_LOG" ibv_rc_pingpong -d rxe_b -g "$GID_B" -s 4096 -n "$n" -c
	listening "$NS_B" 18515 || die_case "server did not start: $(cat "$PP_SRV_LOG")"
	ip netns exec "$NS_A" timeout 600 ibv_rc_pingpong -d rxe_a -g "$GID_A" -s 4096 -n "$n" -c "$IP_B" \
		>"$PP_CLI_LOG" 2>&1 &
	PP_CLI=$!
	wait_for 60 counter_above rxe_b rdma_recvs 100 || die_case "no traffic: $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
	srv=$(tool_pid ibv_rc_pingpong rxe_b)
	resumes=$(counter rxe_a rcvd_resume)
	criu_in "$NS_B" dump -t "$srv" -L "$LIBDIR" -o dump.log || die_case "criu dump: $(criu_log_errors)"
	grep -h 'rxe-rs: process' "$IMG/dump.log"
	gone "$srv" || die_case "the dumped server still runs"
	[ -s "$IMG/rxe-rs-$srv.img" ] || die_case "no RDMA image in the dump"
	# Without the plugin (a plugin directory without it).
	mkdir -p /tmp/rxe-rs-criu-none
	expect_fail "" criu_in "$NS_B" restore -L /tmp/rxe-rs-criu-none -o norestore.log -d
	grep -q 'Missing required plugin\|rxe_rs' "$IMG/norestore.log" ||
		die_case "the refused restore did not name the plugin: $(grep -m3 Error "$IMG/norestore.log")"
	gone "$srv" || die_case "a task restored without the plugin runs"
	sleep 5
	kill -0 "$PP_CLI" 2>/dev/null || die_case "the client ended while its server was dumped: $(cat "$PP_CLI_LOG")"
	base=$(counter rxe_b2 rdma_recvs)
	RXE_CKPT_TO=rxe_b2 criu_in "$NS_B" restore -L "$LIBDIR" -o restore.log -d ||
		die_case "criu restore: $(criu_log_errors)"
	grep -h 'rxe-rs: process' "$IMG/restore.log"
	wait_for 60 counter_above rxe_b2 rdma_recvs $((base + 100)) || {
		show_counters
		die_case "no traffic on rxe_b2 after the restore: $(criu_log_errors)"
	}
	wait_for 300 gone "$srv"
	wait "$PP_CLI" || die_case "the client failed: $(cat "$PP_CLI_LOG")"
	tail -n 2 "$PP_CLI_LOG"
	grep -q "$n iters in" "$PP_SRV_LOG" || die_case "the restored server did not finish: $(tail -n 3 "$PP_SRV_LOG")"
	[ "$(counter rxe_a rcvd_resume)" -gt "$resumes" ] || die_case "the client took no resume"
	[ "$(counter rxe_a retry_exceeded_err)" = 0 ] || die_case "the client ran out of retries"
}

show_counters() {
	local dev
	for dev in rxe_a rxe_b rxe_b2; do
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
mkdir -p "$LIBDIR"
cp "$PLUGIN" "$LIBDIR/rxe_rs_plugin.so"
t_case "check: the test kernel has what CRIU 4.1.1 needs (criu check)" case_check
t_case "a plain process dumped in one network namespace is restored in another and goes on" case_dump_restore
t_case "ibv_rc_pingpong's server dumped with the plugin, kept 5 s, restored on another device and address; the client resumes, both complete, data checked; no restore without the plugin" case_pingpong
t_done
