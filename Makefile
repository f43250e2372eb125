# SPDX-License-Identifier: GPL-2.0
#
# rxe-rs: Soft-RoCE (RXE) in Rust, as an out-of-tree kernel module.
#
#   make                 build rdma_rxe_rs.ko against KDIR (default: the cached test kernel),
#                        the test module the VM tests load (make kmod), their packet
#                        tool (make tools) and the checkpointer rxe-ckpt (make ckpt)
#   make install         install the module (modules_install), rxe-ckpt and its CRIU plugin
#                        (PREFIX=/usr/local, DESTDIR)
#   make check           set up, build, and run every test (host and VM); the CI entry point
#   make soak            the migration soak: the verified workload moved 100 times, 3 runs
#   make demo            boot the VM, two namespaces, one rxe-rs device in each
#   make bench           perftest and UDP, rxe-rs against the C rdma_rxe (BENCH_ROUNDS=3;
#                        BENCH_PROFILE=1 also counts instructions per function)
#   make kernel          build the cached test kernel (FLAVOR=debug for KASAN/lockdep/kmemleak)
#   make -s kdir         print the cached kernel tree's path
#   make CLIPPY=1        build with clippy
#   make setup           install what the build and the tests need
#   make host-test       cargo tests of the host crates (protocol, rxe-ckpt, tcgprof), rustfmt check
#   make clean

SRC := $(realpath $(dir $(lastword $(MAKEFILE_LIST))))
FLAVOR ?= default

ifeq ($(origin KDIR),undefined)
KDIR := $(shell $(SRC)/scripts/kernel --flavor $(FLAVOR) --print-kdir)
KDIR_IS_OURS := 1
endif

# A tree built by scripts/kernel says how it was compiled (LLVM=-19 for the
# debug flavour). Another clang-built tree gets LLVM=1 unless told otherwise.
-include $(KDIR)/rxe-rs.mk
ifeq ($(LLVM),)
ifneq ($(shell grep -s '^CONFIG_CC_IS_CLANG=y' $(KDIR)/.config),)
LLVM := 1
endif
endif

# LLVM=-19 (or LLVM=/path/to/llvm/bin/) names the compiler and linker the
# tree was built with, as the kernel's Makefile reads it. DKMS appends
# CC=clang LD=ld.lld to the make command for a clang-built kernel, which
# would name other tools, or none (Debian has clang-19 but no clang), so
# the names go to the kernel's make explicitly.
ifneq ($(filter-out 1,$(LLVM)),)
LLVM_TOOLS := $(if $(filter %/,$(LLVM)),CC=$(LLVM)clang LD=$(LLVM)ld.lld,$(if $(filter -%,$(LLVM)),CC=clang$(LLVM) LD=ld.lld$(LLVM)))
endif

KMAKE = $(MAKE) -C $(KDIR) M=$(SRC) $(if $(LLVM),LLVM=$(LLVM)) $(LLVM_TOOLS) $(if $(CLIPPY),CLIPPY=$(CLIPPY))

.PHONY: all modules kmod tools ckpt install clean kernel kdir setup check demo bench soak host-test fmt-check vm

PREFIX ?= /usr/local

all: modules kmod tools ckpt

modules:
ifdef KDIR_IS_OURS
	@test -f $(KDIR)/.rxe-rs-built || { echo "rxe-rs: no cached kernel for FLAVOR=$(FLAVOR): run 'make kernel$(if $(filter debug,$(FLAVOR)), FLAVOR=debug)' (or 'make check', which builds it)"; exit 1; }
endif
	@test -d $(KDIR) || { echo "rxe-rs: kernel build tree $(KDIR) does not exist"; exit 1; }
	@grep -qs '^CONFIG_RUST=y' $(KDIR)/.config && test -f $(KDIR)/rust/libkernel.rmeta || \
		{ echo "rxe-rs: $(KDIR) is not a kernel build tree with Rust support (needs CONFIG_RUST=y and a built rust/); rdma_rxe_rs is written in Rust"; exit 1; }
	$(KMAKE) modules

# The kernel verbs test module selftests/kverbs.sh loads, against the same tree.
kmod:
	$(MAKE) -C $(SRC)/selftests/kmod KDIR=$(KDIR) $(if $(LLVM),LLVM=$(LLVM)) $(LLVM_TOOLS)

# The VM tests' packet tool (selftests/flood: Rust, on the protocol crate).
tools:
	cd $(SRC)/selftests/flood && cargo build --offline --quiet --release

# The checkpointer (rust/ckpt: library and CLI, on the protocol crate) and
# its CRIU plugin (rust/ckpt/criu).
ckpt:
	cd $(SRC)/rust/ckpt && cargo build --offline --quiet --release --workspace --lib --bins --examples

# CRIU loads its plugins from /usr/lib/criu (Debian's CRIU, and a CRIU
# built from source without PLUGINDIR), or from its --libdir.
CRIU_PLUGIN_DIR ?= /usr/lib/criu

install: modules ckpt
	$(KMAKE) modules_install
	install -D -m 0755 $(SRC)/rust/ckpt/target/release/rxe-ckpt $(DESTDIR)$(PREFIX)/bin/rxe-ckpt
	install -D -m 0644 $(SRC)/rust/ckpt/target/release/librxe_rs_plugin.so $(DESTDIR)$(CRIU_PLUGIN_DIR)/rxe_rs_plugin.so

clean:
	-$(KMAKE) clean
	-$(MAKE) -C $(SRC)/selftests/kmod KDIR=$(KDIR) $(if $(LLVM),LLVM=$(LLVM)) $(LLVM_TOOLS) clean
	rm -rf $(SRC)/rust/proto/target $(SRC)/rust/tcgprof/target $(SRC)/rust/ckpt/target $(SRC)/selftests/flood/target

kernel:
	$(SRC)/scripts/kernel --flavor $(FLAVOR)

kdir:
	@test -n "$(KDIR)" || { echo "rxe-rs: no kernel source yet: run 'make setup'" >&2; exit 1; }
	@echo $(KDIR)

setup:
	$(SRC)/scripts/setup

check:
	$(SRC)/scripts/check

demo:
	$(SRC)/scripts/demo

bench:
	$(SRC)/scripts/bench

# The long soak of live migration, outside make check (about half an
# hour under TCG): the verified workload moved 100 times in one run, plainly
# and under netem 5% loss, three runs in a row (SOAK_MOVES, SOAK_RUNS);
# then its server migrated by CRIU 20 times back and forth between two
# namespaces in one run, three runs in a row (SOAK_CRIU_MOVES).
SOAK_MOVES ?= 100
SOAK_RUNS ?= 3
SOAK_CRIU_MOVES ?= 20
SOAK_LOOP = for i in $$(seq 1 $(SOAK_RUNS)); do echo "soak: run $$i of $(SOAK_RUNS)"; RXE_RS_LOAD_MOVES=$(SOAK_MOVES) T_ONLY="verified workload" $(SRC)/selftests/run migrate.sh || exit 1; done; \
	for i in $$(seq 1 $(SOAK_RUNS)); do echo "soak: CRIU run $$i of $(SOAK_RUNS)"; RXE_RS_CRIU_MOVES=$(SOAK_CRIU_MOVES) T_ONLY="live:" $(SRC)/selftests/run criu.sh || exit 1; done
soak: modules ckpt
	$(SRC)/scripts/vm --timeout $$(( $(SOAK_RUNS) * ($(SOAK_MOVES) + $(SOAK_CRIU_MOVES)) * 30 + 900 )) -- bash -c '$(SOAK_LOOP)'

host-test:
	$(SRC)/scripts/host-test
