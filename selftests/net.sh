#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The device's network layer: per-namespace UDP tunnel sockets on port 4791
# (IPv4 and IPv6) that come with the first device of a namespace and go
# with the last, refusal beside the C rdma_rxe in one namespace and
# coexistence in two, and the receive path: crafted packets (IPv4 and IPv6)
# dropped and counted in the hardware counters, a valid one to a QP that
# does not exist counted as such (which cross-checks the ICRC), and device
# deletion and module unload under a flood of packets.

. "$(dirname "$0")/lib.sh"

pkt=$SELFTESTS_DIR/progs/roce_pkt.py
DUMMY=vx

cleanup() {
	[ -n "${flood_pid:-}" ] && kill "$flood_pid" 2>/dev/null && wait "$flood_pid" 2>/dev/null
	flood_pid=
	rdma link del rs_x 2>/dev/null
	rdma link del c_a 2>/dev/null
	rdma link del c_b 2>/dev/null
	del_pair
	modprobe -r "$RXE_MODULE" 2>/dev/null
	modprobe -r rdma_rxe 2>/dev/null
	true
}
trap cleanup EXIT

have_c_rxe=0
modinfo rdma_rxe >/dev/null 2>&1 && have_c_rxe=1

# socks NS FAMILY: how many UDP sockets are bound to 4791 for FAMILY (4 or
# 6) in namespace NS ("-" for the initial one).
socks() {
	local ns=$1 fam=$2
	if [ "$ns" = - ]; then
		ss -H -uln -"$fam" 'sport = :4791' | wc -l
	else
		ip netns exec "$ns" ss -H -uln -"$fam" 'sport = :4791' | wc -l
	fi
}

# socks_are NS N: N sockets on 4791 for IPv4 and N for IPv6 in NS.
socks_are() {
	[ "$(socks "$1" 4)" = "$2" ] && [ "$(socks "$1" 6)" = "$2" ]
}

# expect_socks NS N: socks_are, allowing a device's release to finish.
expect_socks() {
	wait_for 5 socks_are "$1" "$2" ||
		die_case "namespace $1: $(socks "$1" 4) IPv4 and $(socks "$1" 6) IPv6 sockets on 4791, expected $2 each"
}

# expect_counter DEV NAME VALUE: waits for the (asynchronous) receive path.
expect_counter() {
	wait_for 10 test "$(counter "$1" "$2")" = "$3" ||
		die_case "$1 $2 is $(counter "$1" "$2"), expected $3"
}

# send_pkts 4|6 [OPTION...] KIND...: crafted packets from NS_B to rxe_a's
# address in NS_A (options of roce_pkt.py override the addresses).
send_pkts() {
	local src=$IP_B dst=$IP_A
	if [ "$1" = 6 ]; then
		src=$IP6_B dst=$IP6_A
	fi
	shift
	ip netns exec "$NS_B" python3 "$pkt" --dev "$VB" --dst-mac "$(mac_of "$NS_A" "$VA")" \
		--src "$src" --dst "$dst" "$@"
}

add_dummy() {
	ip -n "$1" link add "$DUMMY" type dummy
	ip -n "$1" link set "$DUMMY" up
}

case_sockets_follow_devices() {
	make_pair
	load_rxe
	expect_socks "$NS_A" 0
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	expect_socks "$NS_A" 1
	expect_socks - 0
	# A second device in the namespace shares them.
	add_dummy "$NS_A"
	rdma_in "$NS_A" link add rxe_x type "$RXE_LINK_TYPE" netdev "$DUMMY"
	expect_socks "$NS_A" 1
	rdma_in "$NS_A" link del rxe_a
	expect_socks "$NS_A" 1
	rdma_in "$NS_A" link del rxe_x
	expect_socks "$NS_A" 0
	# And come back with the next device.
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	expect_socks "$NS_A" 1
	unload_rxe
	expect_socks "$NS_A" 0
}

case_two_namespaces() {
	make_pair
	load_rxe
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	rdma_in "$NS_B" link add rxe_b type "$RXE_LINK_TYPE" netdev "$VB"
	expect_socks "$NS_A" 1
	expect_socks "$NS_B" 1
	expect_socks - 0
	rdma_in "$NS_B" link del rxe_b
	expect_socks "$NS_B" 0
	expect_socks "$NS_A" 1
	unload_rxe
}

case_namespace_deleted() {
	make_pair
	load_rxe
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	# Not on the peer of rxe_a's veth, which goes with rxe_a's namespace.
	add_dummy "$NS_B"
	rdma_in "$NS_B" link add rxe_b type "$RXE_LINK_TYPE" netdev "$DUMMY"
	ip netns del "$NS_A"
	wait_for 10 sh -c '! rdma link show rxe_a/1' || die_case "rxe_a outlived its namespace"
	expect_socks "$NS_B" 1
	# A namespace made afresh starts without sockets, and gets its own.
	ip netns add "$NS_A"
	expect_socks "$NS_A" 0
	add_dummy "$NS_A"
	rdma_in "$NS_A" link add rxe_x type "$RXE_LINK_TYPE" netdev "$DUMMY"
	expect_socks "$NS_A" 1
	unload_rxe
}

# The netdev leaves the namespace its device was created in: the device
# goes, and the sockets of the first namespace with it; none appear in the
# second.
case_netdev_moves() {
	make_pair
	load_rxe
	add_dummy "$NS_A"
	rdma_in "$NS_A" link add rxe_x type "$RXE_LINK_TYPE" netdev "$DUMMY"
	expect_socks "$NS_A" 1
	ip -n "$NS_A" link set "$DUMMY" netns "$NS_B"
	wait_for 10 sh -c '! rdma link show rxe_x/1' || die_case "rxe_x outlived the move"
	expect_socks "$NS_A" 0
	expect_socks "$NS_B" 0
	# The namespace it came from can be deleted, and a device made again.
	ip netns del "$NS_A"
	rdma_in "$NS_B" link add rxe_x type "$RXE_LINK_TYPE" netdev "$DUMMY"
	expect_socks "$NS_B" 1
	unload_rxe
}

load_both() {
	modprobe rdma_rxe
	RXE_LINK_TYPE=rxe_rs RXE_MODULE_ARGS="link_type=rxe_rs" load_rxe
}

case_c_rxe_holds_the_port() {
	make_pair
	load_both
	rdma_in "$NS_A" link add c_a type rxe netdev "$VA"
	add_dummy "$NS_A"
	local since
	since=$(dmesg | wc -l)
	expect_fail "Address already in use" rdma_in "$NS_A" link add rs_x type rxe_rs netdev "$DUMMY"
	expect_fail "Address already in use" rdma_in "$NS_A" link add rs_x type rxe_rs netdev "$DUMMY"
	dmesg | tail -n +$((since + 1)) >/tmp/rxe-rs-net.dmesg
	cat /tmp/rxe-rs-net.dmesg
	# One line per refusal, saying why.
	[ "$(grep -c 'rdma_rxe_rs: "rs_x": UDP port 4791 is already in use' /tmp/rxe-rs-net.dmesg)" = 2 ] ||
		die_case "expected one message per refusal, saying why"
	[ "$(grep -c 'rdma_rxe_rs' /tmp/rxe-rs-net.dmesg)" = 2 ] || die_case "more messages than refusals"
	rdma link show rs_x/1 >/dev/null 2>&1 && die_case "rs_x exists"
	# Once the C device is gone, the port is ours to take.
	rdma_in "$NS_A" link del c_a
	rdma_in "$NS_A" link add rs_x type rxe_rs netdev "$DUMMY"
	expect_socks "$NS_A" 1
	rdma_in "$NS_A" link del rs_x
	unload_rxe
	modprobe -r rdma_rxe
}

case_coexists_with_c_rxe() {
	make_pair
	load_both
	rdma_in "$NS_A" link add rs_a type rxe_rs netdev "$VA"
	rdma_in "$NS_B" link add c_b type rxe netdev "$VB"
	expect_socks "$NS_A" 1
	expect_socks "$NS_B" 1
	rdma link show rs_a/1 | grep -q ACTIVE || die_case "rs_a: $(rdma link show rs_a/1)"
	rdma link show c_b/1 | grep -q ACTIVE || die_case "c_b: $(rdma link show c_b/1)"
	rdma_in "$NS_B" link del c_b
	rdma_in "$NS_A" link del rs_a
	unload_rxe
	modprobe -r rdma_rxe
}

# Every packet of these is malformed, each for its own reason.
MALFORMED=(short:0 short:1 short:11 short:12 short:15 random:16 random:64 random:1000
	bad-icrc unknown-opcode bad-tver bad-pad bad-length)

case_counters_like_c_rxe() {
	make_pair
	load_rxe
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	local names want
	names=$(rdma statistic show link rxe_a/1 | awk '{ for (i = 3; i < NF; i += 2) printf "%s ", $i }')
	want="sent_pkts rcvd_pkts duplicate_request out_of_seq_request rcvd_rnr_err send_rnr_err rcvd_seq_err ack_deferred retry_exceeded_err retry_rnr_exceeded_err completer_retry_err send_err link_downed rdma_sends rdma_recvs sent_bytes rcvd_bytes rcvd_malformed rcvd_unknown_qp rcvd_qp_dropped rcvd_stopped rcvd_resume sent_resume "
	[ "$names" = "$want" ] || die_case "counters: '$names'"
	[ "$(counter rxe_a link_downed)" = 0 ] || die_case "link_downed at start"
	ip -n "$NS_A" link set "$VA" down
	expect_counter rxe_a link_downed 1
	ip -n "$NS_A" link set "$VA" up
	unload_rxe
}

case_malformed_dropped_and_counted() {
	make_pair
	load_rxe
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	local n=${#MALFORMED[@]}
	send_pkts 4 "${MALFORMED[@]}"
	expect_counter rxe_a rcvd_malformed "$n"
	send_pkts 6 "${MALFORMED[@]}"
	expect_counter rxe_a rcvd_malformed $((2 * n))
	[ "$(counter rxe_a rcvd_unknown_qp)" = 0 ] || die_case "malformed packets counted as valid"
	[ "$(counter rxe_a rcvd_pkts)" = 0 ] || die_case "rcvd_pkts counted drops"
	rdma statistic show link rxe_a/1
	unload_rxe
}

case_valid_packet_to_no_qp() {
	make_pair
	load_rxe
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	send_pkts 4 valid
	expect_counter rxe_a rcvd_unknown_qp 1
	send_pkts 6 valid valid
	expect_counter rxe_a rcvd_unknown_qp 3
	[ "$(counter rxe_a rcvd_malformed)" = 0 ] || die_case "valid packets counted as malformed (ICRC?)"
	# Packets for a netdev without a device of ours are not counted.
	rdma_in "$NS_B" link add rxe_b type "$RXE_LINK_TYPE" netdev "$VB"
	send_pkts 4 valid
	expect_counter rxe_a rcvd_unknown_qp 4
	[ "$(counter rxe_b rcvd_unknown_qp)" = 0 ] || die_case "rxe_b counted rxe_a's packet"
	unload_rxe
}

# Packets that arrive on a VLAN netdev count for the device on the real one.
case_vlan() {
	make_pair
	load_rxe
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	ip -n "$NS_A" link add link "$VA" name "$VA.5" type vlan id 5
	ip -n "$NS_A" addr add 192.168.78.1/24 dev "$VA.5"
	ip -n "$NS_A" addr add fd00:78::1/64 dev "$VA.5" nodad
	ip -n "$NS_A" link set "$VA.5" up
	send_pkts 4 --vlan 5 --src 192.168.78.2 --dst 192.168.78.1 valid bad-icrc
	send_pkts 6 --vlan 5 --src fd00:78::2 --dst fd00:78::1 valid bad-icrc
	expect_counter rxe_a rcvd_unknown_qp 2
	expect_counter rxe_a rcvd_malformed 2
	unload_rxe
}

# counter_above DEV NAME N: the counter is above N.
counter_above() {
	[ "$(counter "$1" "$2")" -gt "$3" ]
}

# start_flood 4|6 SECS: floods rxe_a in the background; returns once its
# packets are being counted.
start_flood() {
	local before
	before=$(counter rxe_a rcvd_unknown_qp)
	send_pkts "$1" --flood "$2" valid bad-icrc short:3 random:200 >/tmp/rxe-rs-flood.log 2>&1 &
	flood_pid=$!
	wait_for 10 counter_above rxe_a rcvd_unknown_qp $((before + 10)) || die_case "no packets counted under the flood"
	rdma statistic show link rxe_a/1
}

end_flood() {
	wait "$flood_pid" || die_case "flood failed: $(cat /tmp/rxe-rs-flood.log)"
	flood_pid=
	cat /tmp/rxe-rs-flood.log
}

case_delete_under_flood() {
	make_pair
	load_rxe
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	start_flood 4 8
	local _
	for _ in 1 2 3; do
		rdma_in "$NS_A" link del rxe_a
		expect_socks "$NS_A" 0
		rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
		sleep 0.3
	done
	end_flood
	rdma_in "$NS_A" link del rxe_a
	unload_rxe
}

case_unload_under_flood() {
	make_pair
	load_rxe
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	start_flood 6 5
	unload_rxe
	expect_socks "$NS_A" 0
	end_flood
}

case_netns_delete_under_flood() {
	make_pair
	load_rxe
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	start_flood 4 5
	ip netns del "$NS_A"
	wait_for 10 sh -c '! rdma link show rxe_a/1' || die_case "rxe_a outlived its namespace"
	end_flood
	unload_rxe
}

if ! command -v python3 >/dev/null; then
	t_fail "python3 missing, needed to craft packets (scripts/setup installs it)"
	t_done
	exit
fi
t_case "sockets come with the first device of a namespace, go with the last" case_sockets_follow_devices
t_case "each namespace gets its own sockets" case_two_namespaces
t_case "a deleted namespace takes its sockets along" case_namespace_deleted
t_case "a netdev moving namespaces leaves no sockets behind" case_netdev_moves
if [ "$have_c_rxe" = 1 ]; then
	t_case "EADDRINUSE where rdma_rxe holds the port" case_c_rxe_holds_the_port
	t_case "coexists with rdma_rxe in another namespace" case_coexists_with_c_rxe
else
	t_fail "EADDRINUSE where rdma_rxe holds the port: rdma_rxe not built in this kernel (config/base.config builds it: CONFIG_RDMA_RXE=m)"
	t_fail "coexists with rdma_rxe in another namespace: rdma_rxe not built in this kernel (config/base.config builds it: CONFIG_RDMA_RXE=m)"
fi
t_case "hardware counters: the C rxe's and ours" case_counters_like_c_rxe
t_case "malformed packets (IPv4, IPv6) are dropped and counted" case_malformed_dropped_and_counted
t_case "a valid packet to no QP is counted as such" case_valid_packet_to_no_qp
t_case "packets on a VLAN over the netdev count for its device" case_vlan
t_case "rdma link del under a packet flood" case_delete_under_flood
t_case "module unload under a packet flood" case_unload_under_flood
t_case "namespace deletion under a packet flood" case_netns_delete_under_flood
t_done
