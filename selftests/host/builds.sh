#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Host side: the module builds from a copy of the source in another
# directory against an explicit KDIR, through DKMS against the cached tree,
# and refuses a kernel tree without Rust with one clear message.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { n=$((n + 1)); echo "not ok $n - $*"; }
skip() { n=$((n + 1)); echo "ok $n - $1 # SKIP $2"; }
diag() { sed 's/^/# /' "$@" | tail -n 30; }

flavor=${RXE_RS_FLAVOR:-default}
kdir=$("$top/scripts/kernel" --flavor "$flavor" --print-kdir)
work=$(mktemp -d /tmp/rxe-rs-builds.XXXXXX)
trap 'rm -rf "$work"' EXIT

# A copy of the tracked source (what a tarball or DKMS gets).
copy=$work/src
mkdir -p "$copy"
(cd "$top" && git ls-files -z | xargs -0 cp --parents -t "$copy")

if (cd / && make -C "$copy" KDIR="$kdir") >"$work/oot.log" 2>&1 && [ -f "$copy/rdma_rxe_rs.ko" ]; then
	ok "make KDIR=<cached tree> from another directory"
else
	fail "make KDIR=<cached tree> from another directory"; diag "$work/oot.log"
fi

# A tree without Rust: a configured but Rust-less kernel directory.
norust=$work/norust
mkdir -p "$norust/include"
echo "CONFIG_MODULES=y" >"$norust/.config"
if (cd / && make -C "$copy" KDIR="$norust") >"$work/norust.log" 2>&1; then
	fail "refuses a kernel tree without Rust"
elif [ "$(grep -c 'not a kernel build tree with Rust support' "$work/norust.log")" = 1 ]; then
	ok "refuses a kernel tree without Rust, with one clear message"
else
	fail "refuses a kernel tree without Rust, with one clear message"; diag "$work/norust.log"
fi

if ! command -v dkms >/dev/null 2>&1; then
	fail "dkms build against the cached tree: dkms missing (scripts/setup installs it)"
	exit 1
fi
# make check as a user: a skip README.md lists.
if [ "$(id -u)" != 0 ]; then
	skip "dkms build against the cached tree" "dkms needs root"
	exit 0
fi
ver="0.0.$$"
sed -i "s/^PACKAGE_VERSION=.*/PACKAGE_VERSION=\"$ver\"/" "$copy/dkms.conf"
make -s -C "$copy" KDIR="$kdir" clean >/dev/null 2>&1
krel=$(cat "$kdir/include/config/kernel.release")
cleanup_dkms() { dkms remove "rxe-rs/$ver" --all >/dev/null 2>&1; rm -f "/usr/src/rxe-rs-$ver"; }
rm -rf "/usr/src/rxe-rs-$ver"
ln -s "$copy" "/usr/src/rxe-rs-$ver"
built=0
if dkms add "rxe-rs/$ver" >"$work/dkms.log" 2>&1 &&
	dkms build "rxe-rs/$ver" -k "$krel" --kernelsourcedir "$kdir" >>"$work/dkms.log" 2>&1; then
	ls /var/lib/dkms/rxe-rs/"$ver"/"$krel"/*/module/rdma_rxe_rs.ko* >/dev/null 2>&1 && built=1
fi
if [ "$built" = 1 ]; then
	ok "dkms build against the cached tree"
else
	fail "dkms build against the cached tree"; diag "$work/dkms.log"
	tail -n 20 "/var/lib/dkms/rxe-rs/$ver/build/make.log" 2>/dev/null | sed 's/^/# /'
fi
if dkms build "rxe-rs/$ver" -k "$krel" --kernelsourcedir "$norust" --force >"$work/dkms2.log" 2>&1; then
	fail "dkms build refuses a kernel without Rust"
elif grep -q 'not a kernel build tree with Rust support' "/var/lib/dkms/rxe-rs/$ver/build/make.log" "$work/dkms2.log" 2>/dev/null; then
	ok "dkms build refuses a kernel without Rust, saying why"
else
	fail "dkms build refuses a kernel without Rust, saying why"; diag "$work/dkms2.log"
fi
cleanup_dkms
