#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Stock CRIU (scripts/criu: 4.1.1, unpatched) on the test kernel: its own
# check passes, and it dumps a plain process in one network namespace and
# restores it in another, where it goes on. The ground the rxe-rs CRIU
# plugin stands on.

. "$(dirname "$0")/lib.sh"

CRIU=${CRIU:-$("$TOP_DIR/scripts/criu" --print-bin)}
IMG=/tmp/rxe-rs-criu.d

cleanup() {
	pkill -f '^/bin/bash /tmp/rxe-rs-criu-count$' 2>/dev/null
	ip netns del "$NS_A" 2>/dev/null
	ip netns del "$NS_B" 2>/dev/null
	rm -rf "$IMG"
	true
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

gone() {
	! kill -0 "$1" 2>/dev/null
}

[ -x "$CRIU" ] || {
	t_fail "criu: CRIU built at $CRIU (scripts/setup builds it)"
	t_done
	exit 1
}
t_case "check: the test kernel has what CRIU 4.1.1 needs (criu check)" case_check
t_case "a plain process dumped in one network namespace is restored in another and goes on" case_dump_restore
t_done
