#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Traffic between two rxe-rs devices in two namespaces, through the stock
# rdma-core tools: ibv_rc_pingpong, ibv_uc_pingpong, ibv_ud_pingpong and
# ibv_srq_pingpong with
# buffer checking, several sizes from 1 byte to above the path MTU, over
# IPv4 and IPv6 GIDs; and both ends on one device (loopback).

. "$(dirname "$0")/lib.sh"

cleanup() {
	stop_apps
	del_pair
	unload_rxe 2>/dev/null
	true
}
trap cleanup EXIT

setup() {
	two_devices rs rs
	warm_neighbours
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

# Both ends on rxe_a, to its own address: the packets go over the
# loopback netdev and come back to the device that owns the address.
case_loopback() {
	setup
	gids 4
	local srv rc=0 s
	for s in 1 4096 65536; do
		ip netns exec "$NS_A" timeout 60 ibv_rc_pingpong -d rxe_a -g "$GID_A" -s "$s" -n 50 -c \
			>"$PP_SRV_LOG" 2>&1 &
		srv=$!
		listening "$NS_A" 18515 || die_case "server did not start: $(cat "$PP_SRV_LOG")"
		ip netns exec "$NS_A" timeout 60 ibv_rc_pingpong -d rxe_a -g "$GID_A" -s "$s" -n 50 -c \
			"$IP_A" >"$PP_CLI_LOG" 2>&1 || rc=$?
		wait "$srv" || rc=$((rc ? rc : 1))
		echo "loopback -s $s: $(tail -n 1 "$PP_CLI_LOG")"
		[ "$rc" = 0 ] || die_case "loopback pingpong -s $s failed ($rc): $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
	done
	# And over rdma_cm.
	ip netns exec "$NS_A" timeout 60 rping -s -a "$IP_A" -C 20 -V >"$PP_SRV_LOG" 2>&1 &
	srv=$!
	sleep 1
	ip netns exec "$NS_A" timeout 60 rping -c -a "$IP_A" -C 20 -V >"$PP_CLI_LOG" 2>&1 || rc=$?
	wait "$srv" || rc=$((rc ? rc : 1))
	[ "$rc" = 0 ] || die_case "loopback rping failed ($rc): $(cat "$PP_CLI_LOG" "$PP_SRV_LOG")"
}

command -v ibv_rc_pingpong >/dev/null || {
	t_fail "ibv_rc_pingpong missing (ibverbs-utils; scripts/setup installs it)"
	t_done
	exit
}
t_case "ibv_rc_pingpong, 1 B to 64 KiB, IPv4, data checked" case_rc
t_case "ibv_rc_pingpong over IPv6 GIDs" case_rc_v6
t_case "ibv_uc_pingpong, 1 B to 3000 B" case_uc
t_case "ibv_ud_pingpong, 1 B to the MTU, IPv4 and IPv6" case_ud
t_case "ibv_srq_pingpong, 1 B and 4000 B" case_srq
t_case "ibv_rc_pingpong, 2000 round trips of 4 KiB" case_rc_many
t_case "loopback: ibv_rc_pingpong and rping to the device's own address" case_loopback
t_done
