# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
#
# Shared helpers for the rxe-rs scripts: messages, paths, the kernel cache.

die() {
	echo "rxe-rs: error: $*" >&2
	exit 1
}

info() {
	echo "rxe-rs: $*" >&2
}

# Make tools installed by cargo and pip visible even in a minimal environment.
for _d in "$HOME/.cargo/bin" "${RXE_RS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rxe-rs}/venv-virtme-ng/bin"; do
	case ":$PATH:" in *":$_d:"*) ;; *) [ -d "$_d" ] && PATH="$_d:$PATH" ;; esac
done
export PATH
unset _d

export LIBCLANG_PATH="${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}"

top_dir() {
	cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd
}

# Where built kernels (and the VM runner's virtualenv) live: outside the
# clone, shared by every checkout.
cache_dir() {
	echo "${RXE_RS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rxe-rs}"
}

virtme_venv() {
	echo "$(cache_dir)/venv-virtme-ng"
}

rust_lib_src() {
	echo "/usr/src/rustc-$(rustc --version | awk '{ print $2 }')/library"
}

# The first Debian archive URI of the machine's own apt configuration (deb822
# .sources files or one-line .list files), never a host name of our own.
debian_mirror() {
	local f uri
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/ && $i ~ /debian\/?$/) { print $i; exit } }' "$f")
		[ -n "$uri" ] && { echo "${uri%/}"; return 0; }
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\// && $i !~ /security/ && $i ~ /debian\/?$/) { print $i; exit } }' "$f")
		[ -n "$uri" ] && { echo "${uri%/}"; return 0; }
	done
	return 1
}
