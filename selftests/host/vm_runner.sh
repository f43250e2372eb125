#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Host side: the VM runner passes the command's status through, and the
# kernel-log check catches every kind of report it is meant to.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { n=$((n + 1)); echo "not ok $n - $*"; }

vmflag=()
[ "${RXE_RS_FLAVOR:-default}" = debug ] && vmflag=(--debug)

"$top/scripts/vm" "${vmflag[@]}" -- sh -c 'exit 3' >/tmp/rxe-rs-vm3.log 2>&1
rc=$?
if [ "$rc" = 3 ]; then ok "vm: exits with the command's status (3)"; else fail "vm: exits with the command's status (got $rc)"; sed 's/^/# /' /tmp/rxe-rs-vm3.log | tail -20; fi

sample=$(mktemp)
for report in \
	"------------[ cut here ]------------" \
	"WARNING: CPU: 0 PID: 1 at drivers/x.c:1 f+0x1/0x2" \
	"BUG: KASAN: slab-use-after-free in f+0x1/0x2" \
	"BUG: kernel NULL pointer dereference, address: 0000000000000000" \
	"Oops: general protection fault, probably for non-canonical address" \
	"WARNING: possible circular locking dependency detected" \
	"refcount_t: underflow; use-after-free." \
	"list_del corruption. prev->next should be ffff, but was ffff" \
	"unreferenced object 0xffff888003ae2e00 (size 64):" \
	"rust_kernel: panicked at rust/x.rs:1:1:"; do
	printf '[    1.0] ok line\n[    2.0] %s\n' "$report" >"$sample"
	if "$top/scripts/dmesg-check" --file "$sample" >/dev/null 2>&1; then
		fail "dmesg-check misses: $report"
	else
		ok "dmesg-check catches: ${report:0:40}"
	fi
done
printf '[    1.0] rdma_rxe_rs: loaded, link type "rxe"\n[    2.0] infiniband rxe0: set active\n' >"$sample"
if "$top/scripts/dmesg-check" --file "$sample" >/dev/null 2>&1; then ok "dmesg-check passes a clean log"; else fail "dmesg-check flags a clean log"; fi
printf '[    1.0] traps: ib_write_bw[655] general protection fault ip:7f4444537472 sp:7ffed64e7ea0 error:0 in librdmacm.so.1.3.44.0[a472,7f4444531000+15000]\n' >"$sample"
if "$top/scripts/dmesg-check" --file "$sample" >/dev/null 2>&1; then ok "dmesg-check passes a user process's fault"; else fail "dmesg-check flags a user process's fault"; fi
printf '[    1.0] traps: x[1] general protection fault ip:1\n[    2.0] Oops: general protection fault, probably for non-canonical address\n' >"$sample"
if "$top/scripts/dmesg-check" --file "$sample" >/dev/null 2>&1; then fail "dmesg-check misses a kernel fault after a user one"; else ok "dmesg-check catches a kernel fault after a user one"; fi
printf '[    1.0] WARNING: old\n[    2.0] clean\n' >"$sample"
if "$top/scripts/dmesg-check" --since 1 --file "$sample" >/dev/null 2>&1; then ok "dmesg-check --since skips older lines"; else fail "dmesg-check --since skips older lines"; fi
rm -f "$sample"
