#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Unmodified RDMA applications over rxe-rs between two namespaces: perftest
# (bandwidth and latency, RC and UD, with the TCP side channel and with
# rdma_cm), rping with data verification, ucmatose and udaddy; and the
# pingpong tools with one end on the C rdma_rxe, in both directions.

. "$(dirname "$0")/lib.sh"

cleanup() {
	pkill -f 'ib_(send|write|read|atomic)_(bw|lat)|rping|ucmatose|udaddy|ibv_.._pingpong' 2>/dev/null
	del_pair
	unload_rxe 2>/dev/null
	modprobe -r rdma_rxe 2>/dev/null
	true
}
trap cleanup EXIT

setup() {
	make_pair
	load_rxe
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	rdma_in "$NS_B" link add rxe_b type "$RXE_LINK_TYPE" netdev "$VB"
}

# listening NS PORT: waits until something listens on TCP PORT in NS.
listening() {
	wait_for 20 sh -c "ip netns exec $1 ss -ltn | grep -q ':$2 '"
}

# perf TOOL ARGS...: server on rxe_b, client on rxe_a (TCP side channel).
perf() {
	local tool=$1 rc=0 srv
	shift
	ip netns exec "$NS_B" timeout 120 "$tool" -d rxe_b -x 1 -F "$@" >/tmp/rxe-rs-srv.log 2>&1 &
	srv=$!
	listening "$NS_B" 18515 || die_case "$tool server did not start: $(cat /tmp/rxe-rs-srv.log)"
	ip netns exec "$NS_A" timeout 120 "$tool" -d rxe_a -x 1 -F "$@" "$IP_B" \
		>/tmp/rxe-rs-cli.log 2>&1 || rc=$?
	wait "$srv" || rc=$((rc ? rc : 1))
	echo "$tool $*: $(grep -A1 '#bytes' /tmp/rxe-rs-cli.log | tail -n 1)"
	if [ "$rc" != 0 ]; then
		cat /tmp/rxe-rs-cli.log /tmp/rxe-rs-srv.log >&2
		die_case "$tool $* failed ($rc)"
	fi
}

# perf_cm TOOL ARGS...: the same over rdma_cm (-R), which listens through
# the RDMA CM rather than TCP.
perf_cm() {
	local tool=$1 rc=0 srv
	shift
	ip netns exec "$NS_B" timeout 120 "$tool" -d rxe_b -R -F "$@" >/tmp/rxe-rs-srv.log 2>&1 &
	srv=$!
	wait_for 20 sh -c "rdma res show cm_id | grep -q LISTEN" ||
		die_case "$tool -R server did not start: $(cat /tmp/rxe-rs-srv.log)"
	ip netns exec "$NS_A" timeout 120 "$tool" -d rxe_a -R -F "$@" "$IP_B" \
		>/tmp/rxe-rs-cli.log 2>&1 || rc=$?
	wait "$srv" || rc=$((rc ? rc : 1))
	echo "$tool -R $*: $(grep -A1 '#bytes' /tmp/rxe-rs-cli.log | tail -n 1)"
	if [ "$rc" != 0 ]; then
		cat /tmp/rxe-rs-cli.log /tmp/rxe-rs-srv.log >&2
		die_case "$tool -R $* failed ($rc)"
	fi
	wait_for 10 sh -c "! rdma res show cm_id | grep -q LISTEN" || true
}

case_perftest_bw() {
	setup
	perf ib_send_bw -n 200 -s 65536
	perf ib_send_bw -n 200 -s 1000 -c UD
	perf ib_write_bw -n 200 -s 65536
	perf ib_read_bw -n 200 -s 65536
	perf ib_atomic_bw -n 200
}

case_perftest_lat() {
	setup
	perf ib_send_lat -n 200 -s 2
	perf ib_write_lat -n 200 -s 2
	perf ib_read_lat -n 200 -s 2
}

case_perftest_cm() {
	setup
	perf_cm ib_send_bw -n 200 -s 65536
	perf_cm ib_write_bw -n 200 -s 4096
	perf_cm ib_read_bw -n 200 -s 4096
	perf_cm ib_atomic_bw -n 100
	perf_cm ib_send_lat -n 100 -s 2
}

# server_client NAME SERVERCMD -- CLIENTCMD: both must succeed.
server_client() {
	local name=$1 srv rc=0 port=$2
	shift 2
	local -a scmd=() ccmd=()
	while [ "$1" != -- ]; do scmd+=("$1"); shift; done
	shift
	ccmd=("$@")
	ip netns exec "$NS_B" timeout 60 "${scmd[@]}" >/tmp/rxe-rs-srv.log 2>&1 &
	srv=$!
	[ -z "$port" ] || sleep 1
	ip netns exec "$NS_A" timeout 60 "${ccmd[@]}" >/tmp/rxe-rs-cli.log 2>&1 || rc=$?
	wait "$srv" || rc=$((rc ? rc : 1))
	echo "$name: $(tail -n 1 /tmp/rxe-rs-cli.log)"
	if [ "$rc" != 0 ]; then
		cat /tmp/rxe-rs-cli.log /tmp/rxe-rs-srv.log >&2
		die_case "$name failed ($rc)"
	fi
}

case_rping() {
	setup
	server_client rping 1 rping -s -a "$IP_B" -C 20 -V -- rping -c -a "$IP_B" -C 20 -V
	server_client "rping 4000 B" 1 rping -s -a "$IP_B" -C 20 -V -S 4000 -- \
		rping -c -a "$IP_B" -C 20 -V -S 4000
}

case_cmatose() {
	setup
	server_client ucmatose 1 ucmatose -c 4 -C 20 -- ucmatose -s "$IP_B" -c 4 -C 20
	server_client udaddy 1 udaddy -c 4 -C 20 -- udaddy -s "$IP_B" -c 4 -C 20
}

# Pingpong with rxe_a on rdma_rxe_rs and rxe_b on the C rdma_rxe.
interop_setup() {
	make_pair
	modprobe "$RXE_MODULE" link_type=rxe_rs || die_case "modprobe $RXE_MODULE link_type=rxe_rs"
	modprobe rdma_rxe || die_case "modprobe rdma_rxe"
	rdma_in "$NS_A" link add rxe_a type rxe_rs netdev "$VA"
	rdma_in "$NS_B" link add rxe_b type rxe netdev "$VB"
	wait_for 10 sh -c "grep -q ffff:c0a8:4d01 /sys/class/infiniband/rxe_a/ports/1/gids/1 &&
		grep -q ffff:c0a8:4d02 /sys/class/infiniband/rxe_b/ports/1/gids/1" ||
		die_case "no IPv4 GIDs at index 1"
}

# pp TOOL SIZE SERVER_NS SERVER_DEV CLIENT_NS CLIENT_DEV SERVER_IP
pp() {
	local tool=$1 size=$2 sns=$3 sdev=$4 cns=$5 cdev=$6 ip=$7 rc=0 srv
	ip netns exec "$sns" timeout 60 "$tool" -d "$sdev" -g 1 -s "$size" -n 50 -c \
		>/tmp/rxe-rs-srv.log 2>&1 &
	srv=$!
	listening "$sns" 18515 || die_case "$tool server did not start"
	ip netns exec "$cns" timeout 60 "$tool" -d "$cdev" -g 1 -s "$size" -n 50 -c "$ip" \
		>/tmp/rxe-rs-cli.log 2>&1 || rc=$?
	wait "$srv" || rc=$((rc ? rc : 1))
	echo "$tool -s $size, server $sdev: $(tail -n 1 /tmp/rxe-rs-cli.log)"
	[ "$rc" = 0 ] || die_case "$tool -s $size failed ($rc): $(cat /tmp/rxe-rs-cli.log /tmp/rxe-rs-srv.log)"
}

case_interop() {
	interop_setup
	local t s
	for t in ibv_rc_pingpong ibv_uc_pingpong; do
		for s in 1 1500 65536; do
			pp "$t" "$s" "$NS_B" rxe_b "$NS_A" rxe_a "$IP_B"
			pp "$t" "$s" "$NS_A" rxe_a "$NS_B" rxe_b "$IP_A"
		done
	done
	pp ibv_ud_pingpong 500 "$NS_B" rxe_b "$NS_A" rxe_a "$IP_B"
	pp ibv_ud_pingpong 500 "$NS_A" rxe_a "$NS_B" rxe_b "$IP_A"
	pp ibv_srq_pingpong 4000 "$NS_B" rxe_b "$NS_A" rxe_a "$IP_B"
	pp ibv_srq_pingpong 4000 "$NS_A" rxe_a "$NS_B" rxe_b "$IP_A"
}

for tool in ib_send_bw rping ucmatose; do
	command -v "$tool" >/dev/null || {
		t_skip "apps" "$tool missing (perftest, rdmacm-utils; scripts/setup installs them)"
		t_done
		exit 0
	}
done
t_case "perftest bandwidth: send (RC, UD), write, read, atomic" case_perftest_bw
t_case "perftest latency: send, write, read" case_perftest_lat
t_case "perftest over rdma_cm (-R)" case_perftest_cm
t_case "rping with data verification" case_rping
t_case "ucmatose and udaddy" case_cmatose
t_case "interop with the C rdma_rxe, both directions" case_interop
t_done
