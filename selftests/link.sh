#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# `rdma link add/del` with rxe-rs: the device as rdma-core sees it (and as
# the C rxe shows it), the port following the netdev, GIDs following the
# addresses, removal with the netdev or the namespace, and refusals.

. "$(dirname "$0")/lib.sh"

cleanup() {
	del_pair
	ip link del rxttun 2>/dev/null
	ip link del rxtdummy 2>/dev/null
	modprobe -r "$RXE_MODULE" 2>/dev/null
	modprobe -r rdma_rxe 2>/dev/null
	true
}
trap cleanup EXIT

have_c_rxe=0
modinfo rdma_rxe >/dev/null 2>&1 && have_c_rxe=1

# The node GUID rdma-core prints for a MAC: modified EUI-64.
eui64() {
	local mac=$1
	IFS=: read -r a b c d e f <<<"$mac"
	printf '%02x%s:%sff:fe%s:%s%s\n' $((0x$a ^ 2)) "$b" "$c" "$d" "$e" "$f"
}

port_state() {
	rdma link show "$1/1" | sed -n 's/.* state \([A-Z_]*\) .*/\1/p'
}

gids_of() {
	cat /sys/class/infiniband/"$1"/ports/1/gids/* 2>/dev/null | grep -v '^0000:0000:0000:0000:0000:0000:0000:0000$'
}

setup() {
	make_pair
	load_rxe
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
}

teardown() {
	del_pair
	unload_rxe
}

case_shows_up() {
	setup
	# The netdev shows only from its own namespace.
	rdma_in "$NS_A" link show rxe_a/1 | grep -q "state ACTIVE physical_state LINK_UP netdev $VA" ||
		die_case "rdma link: $(rdma_in "$NS_A" link show rxe_a/1)"
	rdma link show rxe_a/1 | grep -q "netdev" && die_case "netdev shown outside its namespace"
	local mac guid
	mac=$(mac_of "$NS_A" "$VA")
	guid=$(eui64 "$mac")
	ibv_devices | grep -E "^\s+rxe_a\s+$(echo "$guid" | tr -d :)" ||
		die_case "ibv_devices: $(ibv_devices)"
	ibv_devinfo -d rxe_a | grep -q "node_guid:.*$guid" || die_case "node_guid"
	ibv_devinfo -d rxe_a | grep -q "transport:.*InfiniBand" || die_case "transport"
	ibv_devinfo -d rxe_a | grep -q "link_layer:.*Ethernet" || die_case "link_layer"
	ibv_devinfo -d rxe_a | grep -q "state:.*PORT_ACTIVE" || die_case "port state"
	[ "$(cat /sys/class/infiniband/rxe_a/parent)" = "$VA" ] || die_case "sysfs parent"
	teardown
}

# ibv_devinfo -v of an rxe-rs device and a C rxe device, less what differs
# by nature (names, GUIDs, GIDs) and what rxe-rs leaves out on purpose:
# memory windows, flush and atomic write, which it does not implement and
# so does not advertise (the capability-flag words, the MEM_WINDOW flags,
# max_mw, and the "Unknown flags" line where this ibv_devinfo shows the
# C rxe's flush and atomic-write bits). The case checks the memory-window
# lines on their own.
normalized_devinfo() {
	ibv_devinfo -v -d "$1" |
		grep -vE 'hca_id|node_guid|sys_image_guid|GID\[|^\s*$' |
		grep -vE 'device_cap_flags|MEM_WINDOW|max_mw:|Unknown flags' |
		sed 's/\s\+/ /g'
}

case_devinfo_matches_c_rxe() {
	make_pair
	modprobe rdma_rxe
	RXE_LINK_TYPE=rxe_rs RXE_MODULE_ARGS="link_type=rxe_rs" load_rxe
	rdma_in "$NS_A" link add rs_a type rxe_rs netdev "$VA"
	rdma_in "$NS_B" link add c_b type rxe netdev "$VB"
	normalized_devinfo rs_a >/tmp/rs.devinfo
	normalized_devinfo c_b >/tmp/c.devinfo
	cat /tmp/rs.devinfo
	diff -u /tmp/c.devinfo /tmp/rs.devinfo || die_case "ibv_devinfo -v differs from the C rxe's"
	[ "$(wc -l </tmp/rs.devinfo)" -gt 40 ] || die_case "short ibv_devinfo output"
	ibv_devinfo -v -d c_b | grep -q 'MEM_WINDOW' ||
		die_case "the C rxe no longer advertises memory windows: compare them again"
	! ibv_devinfo -v -d rs_a | grep -qE 'MEM_WINDOW|Unknown flags' ||
		die_case "rxe-rs advertises memory windows, flush or atomic write"
	ibv_devinfo -v -d rs_a | grep -qE 'max_mw:\s+0$' || die_case "rxe-rs max_mw is not 0"
	rdma_in "$NS_B" link del c_b
	del_pair
	unload_rxe
	modprobe -r rdma_rxe
}

case_port_follows_netdev() {
	setup
	ip -n "$NS_A" link set "$VA" down
	wait_for 5 test "$(port_state rxe_a)" = DOWN || die_case "port not DOWN: $(port_state rxe_a)"
	rdma link show rxe_a/1 | grep -q "physical_state DISABLED" || die_case "phys state: $(rdma link show rxe_a/1)"
	ip -n "$NS_A" link set "$VA" up
	wait_for 5 test "$(port_state rxe_a)" = ACTIVE || die_case "port not ACTIVE again"
	# Carrier loss on the peer side is a link change too.
	ip -n "$NS_B" link set "$VB" down
	wait_for 5 test "$(port_state rxe_a)" = DOWN || die_case "port not DOWN on carrier loss"
	ip -n "$NS_B" link set "$VB" up
	wait_for 5 test "$(port_state rxe_a)" = ACTIVE || die_case "port not ACTIVE after carrier"
	teardown
}

case_mtu_follows_netdev() {
	setup
	ibv_devinfo -d rxe_a | grep -q "active_mtu:.*1024" || die_case "active_mtu at 1500"
	ip -n "$NS_A" link set "$VA" mtu 9000
	ibv_devinfo -d rxe_a | grep -q "active_mtu:.*4096" || die_case "active_mtu at 9000: $(ibv_devinfo -d rxe_a | grep mtu)"
	ip -n "$NS_A" link set "$VA" mtu 1280
	ibv_devinfo -d rxe_a | grep -q "active_mtu:.*1024" || die_case "active_mtu at 1280"
	ip -n "$NS_A" link set "$VA" mtu 1200
	ibv_devinfo -d rxe_a | grep -q "active_mtu:.*1024" || die_case "active_mtu at 1200"
	ip -n "$NS_A" link set "$VA" mtu 1000
	ibv_devinfo -d rxe_a | grep -q "active_mtu:.*512" || die_case "active_mtu at 1000"
	ip -n "$NS_A" link set "$VA" mtu 400
	ibv_devinfo -d rxe_a | grep -q "active_mtu:.*256" || die_case "active_mtu at 400 (the floor)"
	teardown
}

case_gids_follow_addresses() {
	setup
	wait_for 5 sh -c "cat /sys/class/infiniband/rxe_a/ports/1/gids/* | grep -q '0000:0000:0000:0000:0000:ffff:c0a8:4d01'" ||
		die_case "no IPv4 GID: $(gids_of rxe_a)"
	wait_for 5 sh -c "cat /sys/class/infiniband/rxe_a/ports/1/gids/* | grep -q 'fd00:0077:0000:0000:0000:0000:0000:0001'" ||
		die_case "no IPv6 GID: $(gids_of rxe_a)"
	gids_of rxe_a | grep -q '^fe80:' || die_case "no link-local GID"
	ip -n "$NS_A" addr add 10.9.8.7/24 dev "$VA"
	wait_for 5 sh -c "cat /sys/class/infiniband/rxe_a/ports/1/gids/* | grep -q 'ffff:0a09:0807'" ||
		die_case "added address has no GID"
	ip -n "$NS_A" addr del 10.9.8.7/24 dev "$VA"
	wait_for 5 sh -c "! cat /sys/class/infiniband/rxe_a/ports/1/gids/* | grep -q 'ffff:0a09:0807'" ||
		die_case "deleted address keeps its GID"
	gids_of rxe_a
	teardown
}

case_del() {
	setup
	rdma_in "$NS_A" link del rxe_a
	rdma link show rxe_a/1 >/dev/null 2>&1 && die_case "still there after link del"
	ibv_devices | grep -q rxe_a && die_case "ibv_devices still lists it"
	# And the same name can be used again.
	rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
	teardown
}

case_netdev_unregister() {
	setup
	ip -n "$NS_A" link del "$VA"
	wait_for 5 sh -c '! rdma link show rxe_a/1' || die_case "device outlived its netdev"
	teardown
}

case_netns_delete() {
	setup
	ip netns del "$NS_A"
	wait_for 10 sh -c '! rdma link show rxe_a/1' || die_case "device outlived its namespace"
	teardown
}

case_refusals() {
	setup
	expect_fail "No such device" rdma_in "$NS_A" link add rxe_x type "$RXE_LINK_TYPE" netdev nosuch0
	expect_fail "File exists" rdma_in "$NS_B" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VB"
	expect_fail "File exists" rdma_in "$NS_A" link add rxe_c type "$RXE_LINK_TYPE" netdev "$VA"
	ip -n "$NS_A" link add link "$VA" name va.5 type vlan id 5
	expect_fail "Operation not permitted" rdma_in "$NS_A" link add rxe_v type "$RXE_LINK_TYPE" netdev va.5
	# Nothing half-made is left behind.
	[ "$(rdma link show | grep -c .)" = 1 ] || die_case "leftovers: $(rdma link show)"
	teardown
}

# Which netdev kinds the driver accepts: the same as the C rxe.
accepts() {
	local type=$1 dev=$2
	if rdma link add probe0 type "$type" netdev "$dev" >/dev/null 2>&1; then
		rdma link del probe0
		echo yes
	else
		echo no
	fi
}

case_netdev_kinds_like_c_rxe() {
	modprobe rdma_rxe
	RXE_LINK_TYPE=rxe_rs RXE_MODULE_ARGS="link_type=rxe_rs" load_rxe
	ip link add rxtdummy type dummy
	ip link set rxtdummy up
	ip link add link rxtdummy name rxtdummy.7 type vlan id 7
	ip link add link rxtdummy name rxtmacv type macvlan
	ip tuntap add mode tun rxttun
	ip link set lo up
	local dev c rs
	for dev in lo rxtdummy rxtdummy.7 rxtmacv rxttun; do
		c=$(accepts rxe "$dev")
		rs=$(accepts rxe_rs "$dev")
		echo "$dev: rdma_rxe=$c rxe-rs=$rs"
		[ "$c" = "$rs" ] || die_case "$dev: rdma_rxe says $c, rxe-rs says $rs"
	done
	ip link del rxttun
	ip link del rxtmacv
	ip link del rxtdummy
	unload_rxe
	modprobe -r rdma_rxe
}

t_case "device appears with rdma-core's view of it" case_shows_up
if [ "$have_c_rxe" = 1 ]; then
	t_case "ibv_devinfo -v equals the C rxe's" case_devinfo_matches_c_rxe
else
	t_fail "ibv_devinfo -v equals the C rxe's: rdma_rxe not built in this kernel (config/base.config builds it: CONFIG_RDMA_RXE=m)"
fi
t_case "port state follows the netdev" case_port_follows_netdev
t_case "active MTU follows the netdev" case_mtu_follows_netdev
t_case "GIDs follow IPv4 and IPv6 addresses" case_gids_follow_addresses
t_case "rdma link del removes the device" case_del
t_case "netdev unregister removes the device" case_netdev_unregister
t_case "namespace deletion removes the device" case_netns_delete
t_case "bad input is refused with an errno" case_refusals
if [ "$have_c_rxe" = 1 ]; then
	t_case "accepts the netdev kinds the C rxe accepts" case_netdev_kinds_like_c_rxe
else
	t_fail "accepts the netdev kinds the C rxe accepts: rdma_rxe not built in this kernel (config/base.config builds it: CONFIG_RDMA_RXE=m)"
fi
t_done
