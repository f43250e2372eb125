#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Host side: the kernel-log check reads the log by record sequence number
# and cannot go blind when the log ring wraps. First its logic, on samples
# in /dev/kmsg's format; then in a VM booted with the kernel's smallest log
# ring (128 KiB), flooded until it wraps: a report after a wrap is still
# caught, a report lost to a wrap fails the check as records lost, and the
# VM runner's end-of-run check fails the run.
#
# `kmsg.sh --guest` is the VM's half (run by scripts/vm, not by hand).
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
check=$top/scripts/dmesg-check
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }

# expect WANT_RC WANT_TEXT DESCRIPTION CMD...: CMD exits WANT_RC and its
# output (stdout and stderr) has WANT_TEXT in it ("" for anything); with
# WANT_TEXT "!TEXT", has not.
expect() {
	local want_rc=$1 want=$2 what=$3 out rc good=1
	shift 3
	out=$("$@" 2>&1)
	rc=$?
	[ "$rc" = "$want_rc" ] || good=0
	case "$want" in
	"") ;;
	!*) [[ $out != *"${want#!}"* ]] || good=0 ;;
	*) [[ $out == *"$want"* ]] || good=0 ;;
	esac
	if [ "$good" = 1 ]; then
		ok "$what"
	else
		fail "$what (exit $rc, want $want_rc${want:+ and output \"$want\"})"
		printf '%s\n' "$out" | head -n 20 | sed 's/^/# /'
	fi
}

# --- the guest's half: runs in the VM, as root --------------------------------
if [ "${1:-}" = --guest ]; then
	# kmsg_first: the sequence number of the oldest record the ring still holds.
	kmsg_first() {
		dd if=/dev/kmsg iflag=nonblock bs=65536 count=1 2>/dev/null | head -n 1 | cut -d, -f2
	}
	# flood_past SEQ: writes records until record SEQ is gone from the ring.
	flood_past() {
		local i=0
		while [ "$(kmsg_first)" -le "$1" ]; do
			for _ in $(seq 1 500); do
				i=$((i + 1))
				echo "<7>rxe-rs-selftest: flooding the log ring, record $i of many" >/dev/kmsg
			done
			[ "$i" -lt 200000 ] || { echo "the log ring did not wrap after $i records"; return 1; }
		done
		echo "the log ring wrapped after $i records"
	}
	fake() {
		echo "<4>WARNING: rxe-rs-selftest: fake report $1 (selftests/host/kmsg.sh)" >/dev/kmsg
	}

	s=$("$check" --seq)
	fake 1
	expect 1 "fake report 1" "guest: a report after --seq is caught" "$check" --since-seq "$s"
	expect 0 "" "guest: and not by a check that starts after it" "$check" --since-seq "$("$check" --seq)"
	if out=$(flood_past "$s"); then ok "guest: $out"; else fail "guest: $out"; fi
	expect 1 "were overwritten" "guest: a report lost to the wrap fails the check, as records lost" \
		"$check" --since-seq "$s"

	# The ring is full and wraps with every record now.
	lines=$(dmesg | wc -l)
	s=$("$check" --seq)
	fake 2
	expect 1 "fake report 2" "guest: a report after a wrap is caught" "$check" --since-seq "$s"
	# What the check did before it read by sequence number: the line count
	# of a full ring stays put, and the lines after it are none.
	if dmesg | tail -n +"$((lines + 1))" | grep -q "fake report 2"; then
		echo "# (the line-count check would have seen it too)"
	else
		echo "# (the line-count check, dmesg | tail -n +$((lines + 1)), misses it)"
	fi
	s=$("$check" --seq)
	echo "<6>rxe-rs-selftest: a clean line" >/dev/kmsg
	expect 0 "" "guest: a clean record after a wrap passes" "$check" --since-seq "$s"

	s=$("$check" --seq)
	flood_past "$s" >/dev/null
	fake 3
	expect 1 "fake report 3" "guest: a report after records lost is still shown" "$check" --since-seq "$s"
	[ "$failed" = 0 ]
	exit
fi

# --- host: the check's logic on samples ----------------------------------------
work=$(mktemp -d /tmp/rxe-rs-kmsg.XXXXXX)
trap 'rm -rf "$work"' EXIT
k=$work/kmsg
cat >"$k" <<'EOF'
6,10,1000000,-;rdma_rxe_rs: loaded, link type "rxe"
4,11,2000000,-;WARNING: CPU: 0 PID: 1 at drivers/x.c:1 f+0x1/0x2
6,12,3000000,-,caller=T1;infiniband rxe0: set active
 SUBSYSTEM=WARNING: not a message
6,13,4000000,-;traps: ib_write_bw[655] general protection fault ip:7f4444537472 sp:7ffed64e7ea0 error:0 in librdmacm.so.1
6,14,5000000,c;done
EOF
expect 0 "14" "dmesg-check --seq prints the last record's sequence number" "$check" --kmsg "$k" --seq
expect 1 "WARNING: CPU: 0" "dmesg-check --since-seq catches a report after N" "$check" --kmsg "$k" --since-seq 10
expect 0 "" "dmesg-check --since-seq passes what follows a report at N" "$check" --kmsg "$k" --since-seq 11
expect 0 "" "dmesg-check --since-seq N passes when no record follows N" "$check" --kmsg "$k" --since-seq 14
expect 0 "!overwritten" "dmesg-check: a user process's fault and dictionary lines are no report" \
	"$check" --kmsg "$k" --since-seq 11
expect 1 "records 0-9 (sequence numbers) were overwritten" \
	"dmesg-check (whole log) fails when the ring lost the first records" "$check" --kmsg "$k"
sed '/^4,11,/d' "$k" >"$work/gap"
expect 1 "records 11 (sequence numbers) were overwritten" \
	"dmesg-check --since-seq fails on a gap in the sequence, even with no report left" \
	"$check" --kmsg "$work/gap" --since-seq 10
expect 1 "records 7-9" "dmesg-check --since-seq fails when records after N are gone" \
	"$check" --kmsg "$work/gap" --since-seq 6
expect 0 "" "dmesg-check --since-seq: a gap at or before N does not matter" \
	"$check" --kmsg "$work/gap" --since-seq 11
printf '6,0,1,-;clean\n4,1,2,-;refcount_t: underflow; use-after-free.\n' >"$work/whole"
expect 1 "refcount_t: underflow" "dmesg-check (whole log) catches a report in an unwrapped log" \
	"$check" --kmsg "$work/whole"
printf '6,0,1,-;clean\n' >"$work/whole"
expect 0 "" "dmesg-check (whole log) passes a clean unwrapped log" "$check" --kmsg "$work/whole"
printf 'not a record\n' >"$work/bad"
expect 2 "not a kernel log record" "dmesg-check refuses what is not a kernel log" "$check" --kmsg "$work/bad"
expect 2 "--since-seq" "dmesg-check refuses --since (lines) on the kernel's log" "$check" --kmsg "$k" --since 3

# --- in a VM whose log ring wraps -----------------------------------------------
vmflag=()
[ "${RXE_RS_FLAVOR:-default}" = debug ] && vmflag=(--debug)
"$top/scripts/vm" "${vmflag[@]}" --log-buf-len 0 -- bash "$top/selftests/host/kmsg.sh" --guest \
	>"$work/vm.log" 2>&1
rc=$?
tr -d '\r' <"$work/vm.log" >"$work/vm.txt"
guest_ok=1
while IFS= read -r line; do
	case "$line" in
	"ok "*) ok "${line#ok * - }" ;;
	"not ok "*) fail "${line#not ok * - }"; guest_ok=0 ;;
	"# "*) echo "$line" ;;
	esac
done <"$work/vm.txt"
grep -q '^ok .* - guest: a report after records lost' "$work/vm.txt" || guest_ok=0
if [ "$guest_ok" = 0 ]; then
	fail "vm: the guest's checks did not all pass"
	grep -vE '^(ok|not ok) ' "$work/vm.txt" | tail -n 30 | sed 's/^/# /'
elif [ "$rc" = 99 ] && grep -q "were overwritten before they were checked" "$work/vm.txt" &&
	grep -q "fake report 3" "$work/vm.txt"; then
	ok "vm: the end-of-run check fails the run after the wrap, naming the lost records and the report"
else
	fail "vm: the end-of-run check fails the run after the wrap (exit $rc, want 99)"
	tail -n 30 "$work/vm.txt" | sed 's/^/# /'
fi
