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
