#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Traffic between two rxe-rs devices in two namespaces, through the stock
# rdma-core tools: ibv_rc_pingpong, ibv_uc_pingpong, ibv_ud_pingpong and
# ibv_srq_pingpong with
# buffer checking, several sizes from 1 byte to above the path MTU, over
# IPv4 and IPv6 GIDs.

. "$(dirname "$0")/lib.sh"

cleanup() {
	pkill -f 'ibv_(rc|uc|ud|srq)_pingpong' 2>/dev/null
	del_pair
	unload_rxe 2>/dev/null
	true
}
trap cleanup EXIT

setup() {
	make_pair
	load_rxe
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	rdma_in "$NS_B" link add rxe_b type "$RXE_LINK_TYPE" netdev "$VB"
}

# gid_index DEV HEXTAIL: the index of DEV's RoCE v2 GID ending in HEXTAIL.
gid_index() {
	local dev=$1 tail=$2 f i
	for f in /sys/class/infiniband/"$dev"/ports/1/gids/*; do
		i=${f##*/}
		case "$(cat "$f" 2>/dev/null)" in
		*"$tail")
			[ "$(cat /sys/class/infiniband/"$dev"/ports/1/gid_attrs/types/"$i" 2>/dev/null)" = "RoCE v2" ] &&
				echo "$i" && return 0
			;;
		esac
	done
	return 1
}

# pingpong TOOL FAMILY SIZE ITERS [EXTRA...]: server on rxe_b, client on rxe_a.
pingpong() {
	local tool=$1 family=$2 size=$3 iters=$4 ga gb srv rc
	shift 4
	if [ "$family" = 4 ]; then
		wait_for 10 gid_index rxe_a "ffff:c0a8:4d01" >/dev/null || die_case "no IPv4 GID on rxe_a"
		wait_for 10 gid_index rxe_b "ffff:c0a8:4d02" >/dev/null || die_case "no IPv4 GID on rxe_b"
		ga=$(gid_index rxe_a "ffff:c0a8:4d01")
		gb=$(gid_index rxe_b "ffff:c0a8:4d02")
	else
		wait_for 10 gid_index rxe_a "fd00:0077:0000:0000:0000:0000:0000:0001" >/dev/null ||
			die_case "no IPv6 GID on rxe_a"
		ga=$(gid_index rxe_a "fd00:0077:0000:0000:0000:0000:0000:0001")
		gb=$(gid_index rxe_b "fd00:0077:0000:0000:0000:0000:0000:0002")
	fi
	ip netns exec "$NS_B" timeout 60 "$tool" -d rxe_b -g "$gb" -s "$size" -n "$iters" -c "$@" \
		>/tmp/rxe-rs-srv.log 2>&1 &
	srv=$!
	# The tools meet over TCP first: wait for the server to listen.
	wait_for 20 sh -c "ip netns exec $NS_B ss -ltn | grep -q ':18515 '" ||
		die_case "$tool server did not start: $(cat /tmp/rxe-rs-srv.log)"
	rc=0
	ip netns exec "$NS_A" timeout 60 "$tool" -d rxe_a -g "$ga" -s "$size" -n "$iters" -c "$@" \
		"$IP_B" >/tmp/rxe-rs-cli.log 2>&1 || rc=$?
	wait "$srv" || rc=$((rc ? rc : 1))
	echo "client: $(tail -n 2 /tmp/rxe-rs-cli.log | tr '\n' ' ')"
	if [ "$rc" != 0 ]; then
		cat /tmp/rxe-rs-cli.log /tmp/rxe-rs-srv.log >&2
		die_case "$tool -s $size over IPv$family failed ($rc)"
	fi
}

case_rc() {
	setup
	local s
	for s in 1 100 1024 1025 4096 65536; do
		pingpong ibv_rc_pingpong 4 "$s" 50
	done
}

case_rc_v6() {
	setup
	pingpong ibv_rc_pingpong 6 1 50
	pingpong ibv_rc_pingpong 6 5000 50
}

case_uc() {
	setup
	local s
	for s in 1 1024 3000; do
		pingpong ibv_uc_pingpong 4 "$s" 50
	done
}

case_ud() {
	setup
	local s
	for s in 1 500 984; do
		pingpong ibv_ud_pingpong 4 "$s" 50
	done
	pingpong ibv_ud_pingpong 6 200 50
}

case_srq() {
	setup
	pingpong ibv_srq_pingpong 4 1 50
	pingpong ibv_srq_pingpong 4 4000 50
}

case_rc_many() {
	setup
	pingpong ibv_rc_pingpong 4 4096 2000
}

command -v ibv_rc_pingpong >/dev/null || {
	t_skip "traffic" "ibv_rc_pingpong missing (ibverbs-utils; scripts/setup installs it)"
	t_done
	exit 0
}
t_case "ibv_rc_pingpong, 1 B to 64 KiB, IPv4, data checked" case_rc
t_case "ibv_rc_pingpong over IPv6 GIDs" case_rc_v6
t_case "ibv_uc_pingpong, 1 B to 3000 B" case_uc
t_case "ibv_ud_pingpong, 1 B to the MTU, IPv4 and IPv6" case_ud
t_case "ibv_srq_pingpong, 1 B and 4000 B" case_srq
t_case "ibv_rc_pingpong, 2000 round trips of 4 KiB" case_rc_many
t_done
