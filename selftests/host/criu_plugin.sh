#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Host side: the CRIU plugin speaks the ABI of the built CRIU's own
# header (criu/include/criu-plugin.h): a C program compiled against it
# loads the plugin as CRIU does (dlopen, RTLD_LAZY, CR_PLUGIN_DESC),
# checks the descriptor (version, hooks in their slots), and calls it the
# way CRIU would for what is not rxe-rs's: each hook says -ENOTSUP, so
# that CRIU asks the next plugin. A restore of a dump that needs it but
# holds no image of its own, or a damaged one, is refused at init.
set -uo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
fail() { n=$((n + 1)); echo "not ok $n - $*"; }

plugin=$top/rust/ckpt/target/release/librxe_rs_plugin.so
criu_bin=$("$top/scripts/criu" --print-bin)
header=${criu_bin%/criu}/include/criu-plugin.h
if [ ! -f "$header" ]; then
	fail "criu plugin: CRIU's header at $header (scripts/setup builds CRIU)"
	exit 1
fi
if [ ! -f "$plugin" ]; then
	fail "criu plugin: $plugin built (make ckpt)"
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/load.c" <<'EOF'
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "criu-plugin.h"

#define CHECK(c, ...) do { if (!(c)) { printf(__VA_ARGS__); printf("\n"); return 1; } } while (0)

/* What CRIU exports to its plugins (it is linked -rdynamic; so is this). */
static int images_fd = -1, inventory;
int criu_get_image_dir(void) { return images_fd; }
int add_inventory_plugin(const char *name) { (void)name; return 0; }
bool check_and_remove_inventory_plugin(const char *name, size_t n) { (void)name; (void)n; return inventory; }
void print_on_level(unsigned int level, const char *fmt, ...)
{
	va_list ap;

	printf("criu log %u: ", level);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

int main(int argc, char **argv)
{
	images_fd = open(argv[3], O_RDONLY | O_DIRECTORY);
	CHECK(images_fd >= 0, "open the images directory");
	void *h = dlopen(argv[1], RTLD_LAZY);
	CHECK(h, "dlopen: %s", dlerror());
	cr_plugin_desc_t *d = dlsym(h, "CR_PLUGIN_DESC");
	CHECK(d, "no CR_PLUGIN_DESC");
	CHECK(d->version == CRIU_PLUGIN_VERSION, "version %#x", d->version);
	CHECK(d->max_hooks == CR_PLUGIN_HOOK__MAX, "max_hooks %u", d->max_hooks);
	CHECK(d->name && !strcmp(d->name, "rxe_rs"), "name %s", d->name);
	int want[] = { CR_PLUGIN_HOOK__DUMP_EXT_FILE, CR_PLUGIN_HOOK__RESTORE_EXT_FILE,
		       CR_PLUGIN_HOOK__HANDLE_DEVICE_VMA, CR_PLUGIN_HOOK__UPDATE_VMA_MAP,
		       CR_PLUGIN_HOOK__RESUME_DEVICES_LATE, CR_PLUGIN_HOOK__CHECKPOINT_DEVICES };
	for (int i = 0; i < CR_PLUGIN_HOOK__MAX; i++) {
		int set = 0;
		for (unsigned j = 0; j < sizeof(want) / sizeof(want[0]); j++)
			set |= want[j] == i;
		CHECK(!d->hooks[i] == !set, "hook %d %s", i, set ? "missing" : "unexpected");
	}
	CHECK(d->init(CR_PLUGIN_STAGE__DUMP) == 0, "init(DUMP) failed");

	struct stat st;
	CHECK(stat("/dev/null", &st) == 0, "stat /dev/null");
	CR_PLUGIN_HOOK__HANDLE_DEVICE_VMA_t *vma = d->hooks[CR_PLUGIN_HOOK__HANDLE_DEVICE_VMA];
	CHECK(vma(-1, &st) == -ENOTSUP, "HANDLE_DEVICE_VMA(/dev/null) claimed it");
	CR_PLUGIN_HOOK__CHECKPOINT_DEVICES_t *ckpt = d->hooks[CR_PLUGIN_HOOK__CHECKPOINT_DEVICES];
	CHECK(ckpt(getpid()) == -ENOTSUP, "CHECKPOINT_DEVICES(a process with no RDMA) did not say -ENOTSUP");
	CR_PLUGIN_HOOK__DUMP_EXT_FILE_t *ext = d->hooks[CR_PLUGIN_HOOK__DUMP_EXT_FILE];
	CHECK(ext(0, 7) == -ENOTSUP, "DUMP_EXT_FILE(stdin) claimed it");
	d->exit(CR_PLUGIN_STAGE__DUMP, 0);

	/* A restore whose dump did not name the plugin claims nothing. */
	for (inventory = 0; inventory < 1; inventory++) {
		CHECK(d->init(CR_PLUGIN_STAGE__RESTORE) == 0, "init(RESTORE) failed");
		CR_PLUGIN_HOOK__RESTORE_EXT_FILE_t *rext = d->hooks[CR_PLUGIN_HOOK__RESTORE_EXT_FILE];
		CHECK(rext(7) == -ENOTSUP, "RESTORE_EXT_FILE claimed a file (inventory %d)", inventory);
		CR_PLUGIN_HOOK__UPDATE_VMA_MAP_t *map = d->hooks[CR_PLUGIN_HOOK__UPDATE_VMA_MAP];
		uint64_t off = 0;
		int fd = -1;
		CHECK(map("/dev/zero", 0x10000, 0, &off, &fd) == -ENOTSUP && fd == -1,
		      "UPDATE_VMA_MAP claimed /dev/zero (inventory %d)", inventory);
		CR_PLUGIN_HOOK__RESUME_DEVICES_LATE_t *late = d->hooks[CR_PLUGIN_HOOK__RESUME_DEVICES_LATE];
		CHECK(late(getpid()) == -ENOTSUP, "RESUME_DEVICES_LATE claimed a task (inventory %d)", inventory);
		d->exit(CR_PLUGIN_STAGE__RESTORE, 0);
	}
	/*
	 * One that did is refused at init, before CRIU makes a task, when
	 * the dump holds no image of the plugin's, or a damaged one.
	 */
	inventory = 1;
	CHECK(d->init(CR_PLUGIN_STAGE__RESTORE) != 0, "init(RESTORE) passed without an image");
	int img = openat(images_fd, "rxe-rs-42.img", O_WRONLY | O_CREAT, 0600);
	CHECK(img >= 0 && write(img, "not an image", 12) == 12 && close(img) == 0, "write an image");
	CHECK(d->init(CR_PLUGIN_STAGE__RESTORE) != 0, "init(RESTORE) passed with a damaged image");
	printf("descriptor and hooks as CRIU %s's header says\n", argv[2]);
	return 0;
}
EOF
# The header alone: its directory has headers that shadow the C library's.
cp "$header" "$work/"
if ! cc -Wall -Werror -rdynamic -I"$work" -o "$work/load" "$work/load.c" -ldl >"$work/cc.log" 2>&1; then
	fail "criu plugin: the loader builds against CRIU's header"
	sed 's/^/# /' "$work/cc.log"
	exit 1
fi
mkdir "$work/images"
if out=$("$work/load" "$plugin" "$("$criu_bin" --version | sed -n 's/^Version: //p')" "$work/images" 2>&1) &&
	grep -q 'restore refused: the dump needs the plugin but holds no rxe-rs image' <<<"$out" &&
	grep -q 'restore refused: rxe-rs-42.img: ' <<<"$out"; then
	ok "criu plugin: loads as CRIU loads it; descriptor and hooks match CRIU's header; says -ENOTSUP for what is not its own; refuses at init a restore with no image or a damaged one"
	echo "# ${out##*$'\n'}"
else
	fail "criu plugin: loads as CRIU loads it; descriptor and hooks match CRIU's header; says -ENOTSUP for what is not its own; refuses at init a restore with no image or a damaged one"
	printf '%s\n' "$out" | sed 's/^/# /'
fi
