#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# The kernel's own tools/testing/selftests/rdma scripts, run against
# rdma_rxe_rs: each script is copied with its module name replaced by
# $RXE_MODULE, and run with the scripts' own TAP lines reported case by
# case.

. "$(dirname "$0")/lib.sh"

kdir=${RXE_RS_KDIR:-}
src=$kdir/tools/testing/selftests/rdma
if [ -z "$kdir" ] || [ ! -d "$src" ]; then
	t_fail "kernel rdma selftests: no kernel tree with tools/testing/selftests/rdma (RXE_RS_KDIR=$kdir; scripts/vm passes the test kernel's)"
	t_done
	exit
fi

work=/tmp/rxe-rs-kselftest
rm -rf "$work"
mkdir -p "$work/rdma" "$work/kselftest"
cp "$kdir"/tools/testing/selftests/kselftest/ktap_helpers.sh "$work/kselftest/"

# Why a script skipped a case without saying so, where we know it: the
# reason README.md lists under "Skips". Another skip is reported as the
# script gave it, which make check counts as a failure.
skip_reason() {
	case "$1: $2" in
	"rxe_netns_names.sh: move with requested destination name succeeds")
		echo "this iproute2's rdma tool cannot move and rename a device in one command ($(rdma -V 2>&1 | head -n 1))"
		;;
	esac
}

for f in "$src"/*.sh; do
	name=$(basename "$f")
	sed -e "s/\brdma_rxe\b/$RXE_MODULE/g" "$f" >"$work/rdma/$name"
	chmod +x "$work/rdma/$name"
	since=$("$TOP_DIR/scripts/dmesg-check" --seq)
	out=$("$work/rdma/$name" 2>&1)
	rc=$?
	if [ "$rc" = 4 ]; then
		t_skip "$name" "the script skipped itself: $(echo "$out" | grep -i skip | head -n 1)"
		continue
	fi
	if ! "$TOP_DIR/scripts/dmesg-check" --since-seq "$since" >/tmp/rxe-rs-kst.log 2>&1; then
		rc=1
		out="$out
$(cat /tmp/rxe-rs-kst.log)"
	fi
	# A script that speaks TAP gets one line per subtest.
	sub=$(printf '%s\n' "$out" | grep -E '^(not )?ok [0-9]+ ' || true)
	if [ -n "$sub" ]; then
		while IFS= read -r line; do
			case "$line" in
			"not ok "*) t_fail "$name: ${line#not ok * }" ;;
			*"# SKIP"*)
				desc=${line#ok * }
				why=${line##*# SKIP}
				why=${why# }
				[ -n "${why// /}" ] || why=
				# Scripts skip a case silently when the host's tools lack a
				# feature; say which where we know it.
				known=
				[ -n "$why" ] || known=$(skip_reason "$name" "${desc%% # SKIP*}")
				t_skip "$name: ${desc%% # SKIP*}" "${known:-the script skipped it: ${why:-no reason given}}"
				;;
			*) t_ok "$name: ${line#ok * }" ;;
			esac
		done <<<"$sub"
	fi
	if [ "$rc" = 0 ] && ! printf '%s\n' "$sub" | grep -q '^not ok'; then
		t_ok "$name: exits cleanly, kernel log clean"
	else
		t_fail "$name: exits cleanly, kernel log clean (exit $rc)"
		printf '%s\n' "$out" | t_diag
	fi
	modprobe -r "$RXE_MODULE" 2>/dev/null
done
t_done
