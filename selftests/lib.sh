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

# t_skip NAME REASON: make check counts the skip only if REASON starts with
# one README.md lists under "Skips" (any other fails); a tool scripts/setup
# installs being missing is a t_fail, not a skip.
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
# T_ONLY=TEXT[|TEXT...] (for a developer's run) runs only the cases whose
# name has one of the TEXTs in it; the others are reported skipped.
# T_VERBOSE=1 shows the output of the cases that pass too.
t_selected() {
	local w
	[ -n "${T_ONLY:-}" ] || return 0
	local IFS='|'
	for w in $T_ONLY; do
		[[ $1 == *"$w"* ]] && return 0
	done
	return 1
}

t_case() {
	local name=$1 func=$2 since rc start=$SECONDS
	if ! t_selected "$name"; then
		t_skip "$name" "not selected by T_ONLY"
		return 0
	fi
	# The kernel log's last record now: the check reads the records after
	# it (by sequence number, so that a wrapped log ring is no blind spot).
	since=$("$TOP_DIR/scripts/dmesg-check" --seq)
	: >"$T_LOG"
	( set -e; "$func" ) >"$T_LOG" 2>&1
	rc=$?
	if declare -F cleanup >/dev/null; then
		cleanup >>"$T_LOG" 2>&1
	fi
	if ! "$TOP_DIR/scripts/dmesg-check" --since-seq "$since" >>"$T_LOG" 2>&1; then
		echo "kernel log report during the case" >>"$T_LOG"
		rc=1
	fi
	if [ "$rc" = 0 ]; then
		t_ok "$name"
		[ -z "${T_VERBOSE:-}" ] || t_diag "$T_LOG"
	else
		t_fail "$name"
		t_diag "$T_LOG"
	fi
	# Where a suite's time goes (make check must stay within CI's limit).
	echo "#   $((SECONDS - start)) s"
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

# debug_kernel: the running kernel is the debug flavour (KASAN: every
# memory access checked, the whole kernel several times slower).
debug_kernel() {
	grep -qm1 ' kasan_report$' /proc/kallsyms 2>/dev/null
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

# mac_of NS DEV: DEV's MAC address in namespace NS.
mac_of() {
	ip -n "$1" -br link show "$2" | awk '{ print $3 }'
}

# static_neighbours: permanent neighbour entries between the pair's ends
# (IPv4 and IPv6). modify_qp to RTR resolves the peer's MAC with a
# one-second limit; on a loaded TCG guest the first ARP exchange can take
# longer, and over a lossy link it can be lost.
static_neighbours() {
	local ma mb
	ma=$(mac_of "$NS_A" "$VA")
	mb=$(mac_of "$NS_B" "$VB")
	ip -n "$NS_A" neigh replace "$IP_B" lladdr "$mb" dev "$VA" nud permanent
	ip -n "$NS_A" neigh replace "$IP6_B" lladdr "$mb" dev "$VA" nud permanent
	ip -n "$NS_B" neigh replace "$IP_A" lladdr "$ma" dev "$VB" nud permanent
	ip -n "$NS_B" neigh replace "$IP6_A" lladdr "$ma" dev "$VB" nud permanent
}

# warm_neighbours: resolves each end's neighbour entry for the other (IPv4
# and IPv6) by ping, before a QP's RTR looks it up. The entries stay
# dynamic (ARP and neighbour discovery, as on a real network); what this
# takes away is the race between the kernel's one-second resolution limit
# at modify_qp and the first ARP or ND exchange on a busy TCG guest.
warm_neighbours() {
	local ns to v
	while read -r ns to v; do
		ip netns exec "$ns" ping "-$v" -q -c 1 -W 5 "$to" >/dev/null ||
			die_case "no ping from $ns to $to"
	done <<-EOF
		$NS_A $IP_B 4
		$NS_B $IP_A 4
		$NS_A $IP6_B 6
		$NS_B $IP6_A 6
	EOF
}

# Deletes the pair's namespaces, and the veth pair with them. RDMA devices
# on the pair go first (rdma link del): deleting a namespace under a device
# works too, and link.sh and net.sh test that, but the netdev's
# unregistration then waits for the device's, which on the debug kernel
# under TCG takes long enough for the kernel to log that it is waiting.
del_pair() {
	local ns dev
	for ns in "$NS_A" "$NS_B"; do
		for dev in $(ip netns exec "$ns" rdma link show 2>/dev/null |
			awk -v a="$VA" -v b="$VB" '$(NF - 1) == "netdev" && ($NF == a || $NF == b) { sub("/.*", "", $2); print $2 }'); do
			rdma_in "$ns" link del "$dev" 2>/dev/null || true
		done
	done
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

# --- two devices and traffic between them ---------------------------------

# two_devices [KIND_A [KIND_B]]: the veth pair, with device rxe_a on VA in
# NS_A and rxe_b on VB in NS_B. A KIND is rs (rdma_rxe_rs, the default) or
# c (the C rdma_rxe): with a C device, rdma_rxe_rs takes link type rxe_rs,
# as the two drivers cannot both be "rxe".
two_devices() {
	local a=${1:-rs} b=${2:-rs} ta tb
	make_pair
	if [ "$a" = c ] || [ "$b" = c ]; then
		modprobe "$RXE_MODULE" link_type=rxe_rs || die_case "modprobe $RXE_MODULE link_type=rxe_rs failed"
		modprobe rdma_rxe || die_case "modprobe rdma_rxe failed"
		ta=rxe_rs tb=rxe_rs
		[ "$a" = c ] && ta=rxe
		[ "$b" = c ] && tb=rxe
	else
		load_rxe
		ta=$RXE_LINK_TYPE tb=$RXE_LINK_TYPE
	fi
	rdma_in "$NS_A" link add rxe_a type "$ta" netdev "$VA"
	rdma_in "$NS_B" link add rxe_b type "$tb" netdev "$VB"
}

# Unloads whatever two_devices loaded (the C driver's unload removes every
# RXE-driver device, ours included, so ours goes first).
unload_all() {
	unload_rxe 2>/dev/null
	modprobe -r rdma_rxe 2>/dev/null
	true
}

# Ends the traffic tools a case may have left running.
stop_apps() {
	# By process name (at most 15 characters), not command line: a
	# command line that merely names a tool (the test runner's own, with
	# T_ONLY) is no tool.
	pkill '^(ib_(send|write|read|atomic)_(bw|lat)|rping|ucmatose|udaddy|ibv_(rc|uc|ud|srq)_ping|rxe-rs-mig_loa)' 2>/dev/null
	true
}

# gid_index DEV HEXTAIL: the index of DEV's RoCE v2 GID ending in HEXTAIL.
gid_index() {
	local dev=$1 tail=$2 f i
	# One grep over the table (a cat per entry costs seconds under TCG:
	# the table has hundreds of entries).
	while read -r f; do
		i=${f##*/}
		[ "$(cat /sys/class/infiniband/"$dev"/ports/1/gid_attrs/types/"$i" 2>/dev/null)" = "RoCE v2" ] &&
			echo "$i" && return 0
	done < <(grep -l -- "$tail\$" /sys/class/infiniband/"$dev"/ports/1/gids/* 2>/dev/null)
	return 1
}

# gids FAMILY: sets GID_A and GID_B to the RoCE v2 GID indexes of IP_A
# (IP6_A) on rxe_a and IP_B (IP6_B) on rxe_b, waiting for them to appear.
gids() {
	local ta=ffff:c0a8:4d01 tb=ffff:c0a8:4d02
	if [ "$1" = 6 ]; then
		ta=fd00:0077:0000:0000:0000:0000:0000:0001
		tb=fd00:0077:0000:0000:0000:0000:0000:0002
	fi
	wait_for 10 gid_index rxe_a "$ta" >/dev/null || die_case "no IPv$1 GID on rxe_a"
	wait_for 10 gid_index rxe_b "$tb" >/dev/null || die_case "no IPv$1 GID on rxe_b"
	GID_A=$(gid_index rxe_a "$ta")
	GID_B=$(gid_index rxe_b "$tb")
}

# listening NS PORT: waits until something listens on TCP PORT in NS.
listening() {
	wait_for 20 sh -c "ip netns exec $1 ss -ltn | grep -q ':$2 '"
}

PP_SRV_LOG=/tmp/rxe-rs-srv.log
PP_CLI_LOG=/tmp/rxe-rs-cli.log

# pp_start TOOL FAMILY SIZE ITERS [EXTRA...]: an rdma-core pingpong tool
# with buffer checking (-c), server on rxe_b, client on rxe_a, both in the
# background (PP_SRV, PP_CLI); pp_wait collects them. FAMILY is that of
# the GIDs; the tools' TCP side channel always uses IPv4 (the server
# listens on the first address getaddrinfo gives it).
pp_start() {
	local tool=$1 family=$2 size=$3 iters=$4
	shift 4
	gids "$family"
	PP_WHAT="$tool -s $size -n $iters $* over IPv$family"
	# PP_SRV_AS=UID: the server runs as that user (and group), not root.
	local as=()
	[ -z "${PP_SRV_AS:-}" ] || as=(setpriv --reuid="$PP_SRV_AS" --regid="$PP_SRV_AS" --clear-groups)
	# Line-buffered, so that the address lines can be read while they run.
	ip netns exec "$NS_B" timeout "${PP_TIMEOUT:-60}" "${as[@]}" stdbuf -oL "$tool" -d rxe_b -g "$GID_B" -s "$size" \
		-n "$iters" -c "$@" >"$PP_SRV_LOG" 2>&1 &
	PP_SRV=$!
	# The tools meet over TCP first: wait for the server to listen.
	listening "$NS_B" 18515 || die_case "$tool server did not start: $(cat "$PP_SRV_LOG")"
	ip netns exec "$NS_A" timeout "${PP_TIMEOUT:-60}" stdbuf -oL "$tool" -d rxe_a -g "$GID_A" -s "$size" \
		-n "$iters" -c "$@" "$IP_B" >"$PP_CLI_LOG" 2>&1 &
	PP_CLI=$!
}

pp_wait() {
	local rc=0
	wait "$PP_CLI" || rc=$?
	wait "$PP_SRV" || rc=$((rc ? rc : 1))
	echo "$PP_WHAT: $(tail -n 2 "$PP_CLI_LOG" | tr '\n' ' ')"
	if [ "$rc" != 0 ]; then
		cat "$PP_CLI_LOG" "$PP_SRV_LOG" >&2
		die_case "$PP_WHAT failed ($rc)"
	fi
}

# pingpong TOOL FAMILY SIZE ITERS [EXTRA...]: pp_start and pp_wait.
pingpong() {
	pp_start "$@"
	pp_wait
}

# pp_field LOG local|remote QPN|PSN: a field of the address line a pingpong
# tool printed, as a number.
pp_field() {
	local v
	v=$(sed -n "s/.*$2 address:.*$3 0x\([0-9a-f]*\).*/\1/p" "$1" | head -n 1)
	[ -n "$v" ] || return 1
	echo $((16#$v))
}

# counter DEV NAME: a hardware counter of DEV's port.
counter() {
	rdma statistic show link "$1/1" | awk -v n="$2" '{ for (i = 1; i < NF; i++) if ($i == n) { print $(i + 1); exit } }'
}

# --- live migration fixtures (migrate.sh, criu.sh) --------------------------

# three_devices [c]: rxe_a (the C rxe with c) on va in NS_A; rxe_b on vb and rxe_b2 on vb2
# (address IP_B2, where moves go) in NS_B. vb and vb2 are macvlans (bridge
# mode) on vlow, the other end of va's veth, so the three netdevs share an
# Ethernet segment: rxe_a's netdev hears rxe_b2 as it hears rxe_b. Static
# neighbours; each of NS_B's netdevs answers ARP for its own address only.
IP_B2=192.168.77.3
three_devices() {
	local dev kind_a=${1:-rs}
	ip netns add "$NS_A"
	ip netns add "$NS_B"
	ip link add "$VA" netns "$NS_A" type veth peer name vlow netns "$NS_B"
	ip -n "$NS_B" link set vlow up
	for dev in "$VB" vb2; do
		ip -n "$NS_B" link add "$dev" link vlow type macvlan mode bridge
		ip -n "$NS_B" link set "$dev" up
	done
	ip -n "$NS_A" link set "$VA" up
	ip -n "$NS_A" link set lo up
	ip -n "$NS_B" link set lo up
	ip -n "$NS_A" addr add "$IP_A/24" dev "$VA"
	ip -n "$NS_B" addr add "$IP_B/24" dev "$VB"
	ip -n "$NS_B" addr add "$IP_B2/24" dev vb2
	ip netns exec "$NS_B" sh -c 'echo 1 >/proc/sys/net/ipv4/conf/all/arp_ignore'
	ip -n "$NS_A" neigh replace "$IP_B" lladdr "$(mac_of "$NS_B" "$VB")" dev "$VA" nud permanent
	ip -n "$NS_A" neigh replace "$IP_B2" lladdr "$(mac_of "$NS_B" vb2)" dev "$VA" nud permanent
	for dev in "$VB" vb2; do
		ip -n "$NS_B" neigh replace "$IP_A" lladdr "$(mac_of "$NS_A" "$VA")" dev "$dev" nud permanent
	done
	load_for "$kind_a"
	rdma_in "$NS_A" link add rxe_a type "$LINK_A" netdev "$VA"
	rdma_in "$NS_B" link add rxe_b type "$LINK_B" netdev "$VB"
	rdma_in "$NS_B" link add rxe_b2 type "$LINK_B" netdev vb2
	wait_for 10 gid_index rxe_b2 ffff:c0a8:4d03 >/dev/null || die_case "no IPv4 GID on rxe_b2"
}

# load_for KIND_A: loads the drivers for rxe_a of KIND_A (rs, rxe-rs; c,
# the C rxe, ours then taking link type rxe_rs) and rxe-rs devices beside
# it; LINK_A and LINK_B: the link types of rxe_a and of the others.
load_for() {
	LINK_A=$RXE_LINK_TYPE LINK_B=$RXE_LINK_TYPE
	if [ "$1" = c ]; then
		modprobe "$RXE_MODULE" link_type=rxe_rs || die_case "modprobe $RXE_MODULE link_type=rxe_rs failed"
		modprobe rdma_rxe || die_case "modprobe rdma_rxe failed"
		LINK_A=rxe LINK_B=rxe_rs
	else
		load_rxe
	fi
}

# build_mig_load: the verified workload (progs/mig_load.c) built at
# MIG_LOAD in the VM, against the rdma-core there; a failure is reported.
MIG_LOAD=/tmp/rxe-rs-mig_load
build_mig_load() {
	gcc -O2 -Wall -Werror -o "$MIG_LOAD" "$SELFTESTS_DIR/progs/mig_load.c" -libverbs \
		2>/tmp/rxe-rs-cc.log && return 0
	t_fail "the workload builds: $(grep -m1 error /tmp/rxe-rs-cc.log)"
	return 1
}

# load_verdict RC: the end of a mig_load run (progs/mig_load.c) whose
# client exited with RC: both ends verified everything and agreed on the
# totals, and the client spent no retry budget.
load_verdict() {
	tail -n 1 "$PP_SRV_LOG"
	tail -n 1 "$PP_CLI_LOG"
	[ "$1" = 0 ] || die_case "mig_load failed ($1): $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
	{ grep -q "verified:" "$PP_SRV_LOG" && grep -q "verified:" "$PP_CLI_LOG"; } ||
		die_case "mig_load did not verify: $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
	[ "$(counter rxe_a retry_exceeded_err)" = 0 ] || die_case "the client ran out of retries"
}

# counter_above DEV NAME N: DEV's counter NAME is above N.
# gone PID: the process has ended.
gone() {
	! kill -0 "$1" 2>/dev/null
}

counter_above() {
	[ "$(counter "$1" "$2")" -gt "$3" ]
}

# iters_for SECS SIZE: how many ibv_rc_pingpong round trips of SIZE bytes
# take about SECS seconds on this kernel (a debug kernel under TCG is ten
# times slower than the default one), from a short run. SECS is what the
# case needs on the default kernel; the run ends when its iterations are
# done, and the case waits for that end, so every second more is waited.
ITERS_CAL=/tmp/rxe-rs-iters.cal
iters_for() {
	local secs=$1 size=$2 per
	# On the debug kernel rxe-ckpt's own work (a dump, a check, a move)
	# and the case's own steps are slower still than the traffic: five
	# times longer runs, so that a run does not end before the case has
	# done its work on it.
	debug_kernel && secs=$((secs * 5))
	# Two short runs per tool, size and options in a boot: the later cases
	# take its time from ITERS_CAL.
	local key="${PP_TOOL:-ibv_rc_pingpong} $size ${PP_EXTRA:-}"
	per=$(awk -F'|' -v k="$key" '$1 == k { print $2; exit }' "$ITERS_CAL" 2>/dev/null)
	if [ -z "$per" ]; then
		# The faster of two runs: one stall (a lost packet's timeout, a
		# busy CPU) in a single short run made it seem several times
		# slower, and the cases' runs ended before their work was done.
		local run t
		for run in 1 2; do
			# shellcheck disable=SC2086 # PP_EXTRA: the run's own options (-e is slower)
			pingpong "${PP_TOOL:-ibv_rc_pingpong}" 4 "$size" 300 ${PP_EXTRA:-} >/dev/null
			t=$(sed -n 's/.* iters in \([0-9.]*\) seconds.*/\1/p' "$PP_CLI_LOG" | head -n 1)
			[ -n "$t" ] || die_case "no timing from calibration run $run: $(cat "$PP_CLI_LOG")"
			per=$(awk -v a="${per:-$t}" -v b="$t" 'BEGIN { print (b < a ? b : a) }')
		done
		echo "$key|$per" >>"$ITERS_CAL"
	fi
	awk -v s="$secs" -v t="$per" 'BEGIN { n = int(300 * s / (t > 0.01 ? t : 0.01)); print (n < 1000 ? 1000 : n) }'
}

# The pid of the pingpong tool running on DEV.
tool_pid() {
	pgrep -n -f "^$1 -d $2 " || die_case "no $1 running on $2"
}
