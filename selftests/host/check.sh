#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Host side: make check's TAP filter (scripts/check --tap) renumbers and
# counts a test script's lines, counts a skip only for a reason README.md
# lists under "Skips" (any other fails), and shows each line as it comes,
# straight from the VM too, so that a run cut short shows how far it got.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { n=$((n + 1)); echo "not ok $n - $*"; }
work=$(mktemp -d /tmp/rxe-rs-check-test.XXXXXX)
trap 'rm -rf "$work"' EXIT

# same WHAT FILE EXPECTED: FILE holds EXPECTED.
same() {
	if [ "$(cat "$2")" = "$3" ]; then
		ok "$1"
	else
		fail "$1"
		diff <(echo "$3") "$2" | sed 's/^/# /'
	fi
}

printf 'ok 1 - a\r\n# selftest x.sh\r\nnot ok 2 - b\r\nnoise\r\nok 3 - c\n' |
	"$top/scripts/check" --tap "vm: " >"$work/out"
rc=$?
same "check --tap: renumbers, prefixes, drops the \\r and what is not TAP, ends with the counts" "$work/out" \
"ok 1 - vm: a
# selftest x.sh
not ok 2 - vm: b
ok 3 - vm: c
2 passed, 1 failed, 0 skipped"
if [ "$rc" = 1 ]; then ok "check --tap: fails when a test failed"; else fail "check --tap: fails when a test failed (exit $rc)"; fi

# The skip policy: a skip counts only for a reason README.md lists under
# "Skips"; any other is a failure, said so in its line.
{
	echo "ok 1 - a # SKIP not selected by T_ONLY"
	echo "ok 2 - b # SKIP ib_send_bw missing (perftest; scripts/setup installs it)"
	echo "ok 3 - c # SKIP this iproute2's rdma tool cannot move and rename a device in one command (rdma utility, iproute2-6.1.0)"
	echo "ok 4 - d # SKIP"
	echo "ok 5 - e # SKIP dkms needs root"
	echo "ok 6 - f # SKIP the script skipped it: no reason given"
} | "$top/scripts/check" --tap "vm: " >"$work/out"
rc=$?
same "check --tap: a skip counts only for a reason the README lists; another is a failure, in one line" "$work/out" \
"ok 1 - vm: a # SKIP not selected by T_ONLY
not ok 2 - vm: b (skipped for a reason README.md's \"Skips\" does not list: ib_send_bw missing (perftest; scripts/setup installs it))
ok 3 - vm: c # SKIP this iproute2's rdma tool cannot move and rename a device in one command (rdma utility, iproute2-6.1.0)
not ok 4 - vm: d (skipped for a reason README.md's \"Skips\" does not list: none given)
ok 5 - vm: e # SKIP dkms needs root
not ok 6 - vm: f (skipped for a reason README.md's \"Skips\" does not list: the script skipped it: no reason given)
0 passed, 3 failed, 3 skipped"
if [ "$rc" = 1 ]; then ok "check --tap: an unlisted skip fails the run"; else fail "check --tap: an unlisted skip fails the run (exit $rc)"; fi

# Each reason the README lists is one a test gives.
# shellcheck disable=SC2016 # Markdown's backquotes
mapfile -t reasons < <(sed -n '/^## Skips$/,/^## /s/^- `\([^`]*\)`.*/\1/p' "$top/README.md")
stale=()
for r in "${reasons[@]}"; do
	grep -rqF -- "$r" "$top/selftests" || stale+=("$r")
done
if [ "${#reasons[@]}" -gt 0 ] && [ "${#stale[@]}" = 0 ]; then
	ok "README's Skips: ${#reasons[@]} reasons, each given by a test"
else
	fail "README's Skips: ${#reasons[@]} reasons, each given by a test (not given: ${stale[*]})"
fi

# stamp: each line of stdin, after the time it came.
stamp() {
	local line
	while IFS= read -r line; do
		printf '%s %s\n' "$EPOCHREALTIME" "$line"
	done
}
# streamed WHAT FILE GAP: in the stamped FILE, "first" came GAP seconds or
# more before "second", and the counts ended it.
streamed() {
	local t1 t2
	t1=$(awk '/ - .*first$/ { print $1; exit }' "$2")
	t2=$(awk '/ - .*second$/ { print $1; exit }' "$2")
	if [ -n "$t1" ] && [ -n "$t2" ] && awk -v a="$t1" -v b="$t2" -v g="$3" 'BEGIN { exit !(b - a >= g) }' &&
		tail -n 1 "$2" | grep -q ' 2 passed, 0 failed, 0 skipped$'; then
		ok "$1"
	else
		fail "$1"
		sed 's/^/# /' "$2"
	fi
}

{
	echo "ok 1 - first"
	sleep 3
	echo "ok 2 - second"
} | "$top/scripts/check" --tap "" | stamp >"$work/stamped"
streamed "check --tap: shows each line as it comes" "$work/stamped" 2

vmflag=()
[ "${RXE_RS_FLAVOR:-default}" = debug ] && vmflag=(--debug)
"$top/scripts/vm" "${vmflag[@]}" -- sh -c 'echo "# selftest slow.sh"; echo "ok 1 - first"; sleep 4; echo "ok 2 - second"' 2>&1 |
	"$top/scripts/check" --tap "vm: " | stamp >"$work/vm"
streamed "scripts/vm | check --tap: a VM test's line shows when it ends, not with the VM's" "$work/vm" 3
if grep -q ' # selftest slow.sh$' "$work/vm"; then ok "scripts/vm | check --tap: the suite's name shows"; else fail "scripts/vm | check --tap: the suite's name shows"; sed 's/^/# /' "$work/vm"; fi
