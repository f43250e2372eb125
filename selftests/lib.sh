# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# TAP helpers for the rxe-rs selftests (run inside the test VM as root).
# Each test script sources this, declares its cases with `t_case NAME FUNC`
# (or reports with t_ok/t_fail/t_skip), and ends with `t_done`. Every case
# checks the kernel log: a report logged while it ran fails it.

RXE_MODULE=${RXE_MODULE:-rdma_rxe_rs}
# Our link type while the C rdma_rxe may be loaded beside it.
RXE_LINK_TYPE=${RXE_LINK_TYPE:-rxe}
SELFTESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOP_DIR=$(cd "$SELFTESTS_DIR/.." && pwd)

_t_n=0
_t_failed=0
_t_name=$(basename "$0" .sh)

t_ok() {
	_t_n=$((_t_n + 1))
	echo "ok $_t_n - $_t_name: $*"
}

t_fail() {
	_t_n=$((_t_n + 1))
	_t_failed=$((_t_failed + 1))
	echo "not ok $_t_n - $_t_name: $*"
}

t_skip() {
	local name=$1
	shift
	_t_n=$((_t_n + 1))
	echo "ok $_t_n - $_t_name: $name # SKIP $*"
}

# Where a case's diagnostics go: shown (as TAP comments) only on failure.
T_LOG=$(mktemp /tmp/rxe-rs-test.XXXXXX)

t_diag() {
	sed 's/^/# /' "$@"
}

# Runs FUNC as one case; it passes if FUNC returns 0 and the kernel logged
# no report meanwhile. Afterwards, pass or fail, the script's `cleanup`
# function (if any) puts the system back, so one failure does not cascade.
t_case() {
	local name=$1 func=$2 since rc
	since=$(dmesg | wc -l)
	: >"$T_LOG"
	( set -e; "$func" ) >"$T_LOG" 2>&1
	rc=$?
	if declare -F cleanup >/dev/null; then
		cleanup >>"$T_LOG" 2>&1
	fi
	if ! "$TOP_DIR/scripts/dmesg-check" --since "$since" >>"$T_LOG" 2>&1; then
		echo "kernel log report during the case" >>"$T_LOG"
		rc=1
	fi
	if [ "$rc" = 0 ]; then
		t_ok "$name"
	else
		t_fail "$name"
		t_diag "$T_LOG"
	fi
	return 0
}

t_done() {
	rm -f "$T_LOG"
	[ "$_t_failed" = 0 ]
}

# --- assertions (use inside a case function; they fail the case) ---------

die_case() {
	echo "FAIL: $*" >&2
	exit 1
}

# expect_fail ERRNO_TEXT CMD...: CMD must fail and say ERRNO_TEXT.
expect_fail() {
	local want=$1 out
	shift
	if out=$("$@" 2>&1); then
		die_case "expected '$*' to fail with '$want', it succeeded: $out"
	fi
	case "$out" in
	*"$want"*) echo "refused as expected: $out" ;;
	*) die_case "'$*' failed, but not with '$want': $out" ;;
	esac
}

# --- fixtures -------------------------------------------------------------

load_rxe() {
	# shellcheck disable=SC2086 # the arguments are words on purpose
	modprobe "$RXE_MODULE" ${RXE_MODULE_ARGS:-} || die_case "modprobe $RXE_MODULE failed"
}

unload_rxe() {
	local _
	for _ in $(seq 1 50); do
		if ! grep -q "^$RXE_MODULE " /proc/modules; then
			return 0
		fi
		modprobe -r "$RXE_MODULE" 2>/dev/null && return 0
		sleep 0.1
	done
	die_case "cannot unload $RXE_MODULE"
}

# Two namespaces joined by a veth pair: ns NS_A has veth VA, ns NS_B VB.
NS_A=rxa NS_B=rxb VA=va VB=vb
IP_A=192.168.77.1 IP_B=192.168.77.2
IP6_A=fd00:77::1 IP6_B=fd00:77::2

make_pair() {
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	ip link add "$VA" netns "$NS_A" type veth peer name "$VB" netns "$NS_B"
	ip -n "$NS_A" addr add "$IP_A/24" dev "$VA"
	ip -n "$NS_B" addr add "$IP_B/24" dev "$VB"
	ip -n "$NS_A" addr add "$IP6_A/64" dev "$VA" nodad
	ip -n "$NS_B" addr add "$IP6_B/64" dev "$VB" nodad
	ip -n "$NS_A" link set "$VA" up
	ip -n "$NS_B" link set "$VB" up
	ip -n "$NS_A" link set lo up
	ip -n "$NS_B" link set lo up
}

del_pair() {
	ip netns del "$NS_A" 2>/dev/null || true
	ip netns del "$NS_B" 2>/dev/null || true
}

# Waits up to $2 (default 5) seconds for CMD in $3... to succeed.
wait_for() {
	local secs=$1 _
	shift
	for _ in $(seq 1 $((secs * 10))); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	"$@"
}

# rdma_in NS ARGS...: the rdma tool inside a namespace.
rdma_in() {
	local ns=$1
	shift
	ip netns exec "$ns" rdma "$@"
}
