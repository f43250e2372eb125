#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Loading and unloading rdma_rxe_rs: plain, with devices attached (20
# times), beside the C rdma_rxe with the link type set apart, and refused
# with one clear message when the link type is taken or invalid.

. "$(dirname "$0")/lib.sh"

cleanup() {
	del_pair
	modprobe -r "$RXE_MODULE" 2>/dev/null
	modprobe -r rdma_rxe 2>/dev/null
	true
}
trap cleanup EXIT

case_plain() {
	load_rxe
	grep -q "^$RXE_MODULE " /proc/modules || die_case "not loaded"
	dmesg | tail -n 5 | grep -q "$RXE_MODULE: loaded, link type \"$RXE_LINK_TYPE\"" ||
		die_case "no 'loaded' line in dmesg"
	unload_rxe
	grep -q "^$RXE_MODULE " /proc/modules && die_case "still loaded"
	true
}

case_unload_with_devices() {
	make_pair
	local i
	for i in $(seq 1 20); do
		load_rxe
		rdma_in "$NS_A" link add rxe_a type "$RXE_LINK_TYPE" netdev "$VA"
		rdma_in "$NS_B" link add rxe_b type "$RXE_LINK_TYPE" netdev "$VB"
		rdma link show rxe_a/1 >/dev/null || die_case "iteration $i: rxe_a missing"
		rdma link show rxe_b/1 >/dev/null || die_case "iteration $i: rxe_b missing"
		unload_rxe
		if rdma link show 2>/dev/null | grep -q 'rxe_[ab]/'; then
			die_case "iteration $i: devices left after unload"
		fi
		ip -n "$NS_A" link show "$VA" >/dev/null || die_case "iteration $i: netdev gone"
	done
	echo "20 load/attach/unload cycles"
	del_pair
}

case_taken_link_type() {
	modinfo rdma_rxe >/dev/null 2>&1 || { echo "no rdma_rxe"; return 1; }
	modprobe rdma_rxe
	local since out
	since=$(dmesg | wc -l)
	if out=$(modprobe "$RXE_MODULE" link_type=rxe 2>&1); then
		die_case "loaded although rdma_rxe holds link type rxe"
	fi
	echo "modprobe refused: $out"
	dmesg | tail -n +"$((since + 1))" | grep -q 'RDMA link type "rxe" is already registered' ||
		die_case "no clear message in dmesg"
	[ "$(dmesg | tail -n +"$((since + 1))" | grep -c "$RXE_MODULE")" -le 2 ] || die_case "more than one message"
	modprobe -r rdma_rxe
}

case_beside_c_rxe() {
	make_pair
	modprobe rdma_rxe
	modprobe "$RXE_MODULE" link_type=rxe_rs
	rdma_in "$NS_A" link add rs_a type rxe_rs netdev "$VA"
	rdma_in "$NS_B" link add c_b type rxe netdev "$VB"
	rdma link show rs_a/1 >/dev/null || die_case "rs_a missing"
	rdma link show c_b/1 >/dev/null || die_case "c_b missing"
	# Each module owns its own: unloading ours takes rs_a only.
	modprobe -r "$RXE_MODULE"
	rdma link show rs_a/1 >/dev/null 2>&1 && die_case "rs_a survived its module"
	rdma link show c_b/1 >/dev/null || die_case "c_b went with the wrong module"
	rdma_in "$NS_B" link del c_b
	modprobe -r rdma_rxe
	del_pair
}

case_bad_link_type() {
	local bad
	for bad in "Bad" "rxe%d" "0rxe" "$(printf 'a%.0s' $(seq 1 40))"; do
		if modprobe "$RXE_MODULE" link_type="$bad" 2>/dev/null; then
			modprobe -r "$RXE_MODULE"
			die_case "loaded with link_type=$bad"
		fi
	done
	dmesg | tail -n 20 | grep -q "link_type .* is not valid" || die_case "no clear message"
}

t_case "load and unload" case_plain
t_case "unload with devices attached, 20 times" case_unload_with_devices
if modinfo rdma_rxe >/dev/null 2>&1; then
	t_case "refuses a link type rdma_rxe holds" case_taken_link_type
	t_case "lives beside rdma_rxe with link_type set apart" case_beside_c_rxe
else
	t_fail "refuses a link type rdma_rxe holds: rdma_rxe not built in this kernel (config/base.config builds it: CONFIG_RDMA_RXE=m)"
	t_fail "lives beside rdma_rxe with link_type set apart: rdma_rxe not built in this kernel (config/base.config builds it: CONFIG_RDMA_RXE=m)"
fi
t_case "refuses an invalid link_type" case_bad_link_type
t_done
