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
for _d in "$HOME/.cargo/bin" "$HOME/.local/bin"; do
	case ":$PATH:" in *":$_d:"*) ;; *) [ -d "$_d" ] && PATH="$_d:$PATH" ;; esac
done
if command -v python3 >/dev/null 2>&1; then
	_ub=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
	case ":$PATH:" in *":$_ub:"*) ;; *) [ -n "$_ub" ] && [ -d "$_ub" ] && PATH="$PATH:$_ub" ;; esac
fi
export PATH
unset _d _ub

export LIBCLANG_PATH="${LIBCLANG_PATH:-/usr/lib/llvm-19/lib}"

top_dir() {
	cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd
}

# Where built kernels live: outside the clone, shared by every checkout.
cache_dir() {
	echo "${RXE_RS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rxe-rs}"
}

rust_lib_src() {
	echo "/usr/src/rustc-$(rustc --version | awk '{ print $2 }')/library"
}
