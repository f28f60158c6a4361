# scx_mimic lab. `make vm-test` and `make test` install what they need (apt packages via sudo
# when not root, virtme-ng into a venv, the guest kernel into $(MIMIC_CACHE)).
#
# Variables:
#   KERNEL=/path/bzImage      boot your own sched_ext kernel instead of Debian's backports one
#   KERNEL_VERSION=7.3.4+deb13-amd64   pin the Debian trixie-backports kernel (default: newest)
#   VM_ACCEL=auto|kvm|tcg     how to run the guest (auto probes KVM, falls back to TCG)
#   VM_CPUS=2 VM_MEM=2G       guest size;  VM_VERBOSE=1  show the guest kernel's console
#   MIMIC_CACHE=~/.cache/scx_mimic     downloads, venv, kernel
#   CARGO_TARGET_DIR          shared cargo target folder (default ./target)
#   BENCH_QUICK=1 BENCH_REPS=4   `make bench`: quick mode (3 reps, 5 s latency runs), repetitions
#                             (both rounded up to a multiple of the number of schedulers)
#   VM_TIME_LIMIT=SECS VM_SILENCE_LIMIT=300   the guest watchdog (see README)
#   REPS=40                   `make trace-overhead`: repetitions of each side
#   OVERHEAD_BENCH="..." OVERHEAD_OUT=file   its benchmark (prints Time: or Total time:) and result

SHELL := /bin/bash
export MIMIC_CACHE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/scx_mimic
TARGET_DIR := $(or $(CARGO_TARGET_DIR),$(CURDIR)/target)
CARGO ?= cargo
KERNEL_ENV := $(MIMIC_CACHE)/kernel/current.env
# The Nix apps (`nix run .#vm-test`) set MIMIC_PREBUILT to the flake's bin folder: binaries and
# tools then come from Nix, and nothing is built or installed here.
ifdef MIMIC_PREBUILT
BIN := $(MIMIC_PREBUILT)
SETUP := true
BUILD := true
else
BIN := $(TARGET_DIR)/release
SETUP := vm/setup.sh
BUILD := $(CARGO) build --release --workspace
endif

.PHONY: all setup kernel build vm-test vm-test-faults vm-check unit-test nix-check test trace trace-overhead train inspect bench bench-model scx-rustland fuzz clean help

all: build

help:
	@sed -n '1,15p' Makefile; echo; grep -E '^[a-z-]+:.*## ' Makefile | sed 's/:.*## /\t/'

setup: ## install host packages (apt) and virtme-ng (venv)
	@$(SETUP)

kernel: setup ## fetch/prepare the guest kernel (or check KERNEL=...)
	@vm/kernel.sh >/dev/null

build: setup ## build scx_mimic and mimic (release; one profile for everything)
	@[ -n "$(MIMIC_PREBUILT)" ] || command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs) first" >&2; exit 2; }
	$(BUILD)

vm-test: build kernel ## boot the sched_ext guest, run the scheduler gate, write results/vm-test-*/result.json
	$(BIN)/mimic vm-test --kernel-env $(KERNEL_ENV)

vm-test-faults: build kernel ## overload, nice, renamed kworker, kill -9, SIGSTOP, hotplug, bad inputs in the guest → results/vm-test-faults-*/
	$(BIN)/mimic vm-test-faults --kernel-env $(KERNEL_ENV) --models $(CURDIR)/models $(if $(SHORT),--short)

# Workload mix for `make trace` (vm/workloads/$(MIX).toml) and the dataset it writes.
MIX ?= mixed
DATASET ?= $(CURDIR)/datasets/$(MIX)

trace: build kernel ## record EEVDF's decisions under vm/workloads/$(MIX).toml into datasets/$(MIX)/
	@mkdir -p $(CURDIR)/datasets
	$(BIN)/mimic vm-run --kernel-env $(KERNEL_ENV) --rw $(CURDIR)/datasets -- \
	  $(BIN)/mimic trace --out $(DATASET) --mix $(MIX) --workloads $(CURDIR)/vm/workloads

train: build ## regenerate models/ from datasets/ (offline), plus the scikit-learn comparison
	$(BIN)/mimic train $(CURDIR)/datasets --out $(CURDIR)/models
	@tools/sklearn-compare.sh $(CURDIR)/models $(CURDIR)/datasets

FUZZ_RUNS ?= 1000000
fuzz: ## fuzz the model loader (cargo-fuzz, nightly) for FUZZ_RUNS inputs; new finds join the corpus
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	$(CARGO) +nightly fuzz run --fuzz-dir tests/fuzz model_loader tests/fuzz/corpus/model_loader -- -runs=$(FUZZ_RUNS) -max_len=65536

# The published scx_rustland, built once from crates.io as the outside peer of `make bench`
# (its own target folder: its profile differs from ours, sharing would rebuild both).
RUSTLAND_VERSION ?= 1.1.4
RUSTLAND_ROOT := $(MIMIC_CACHE)/scx_rustland-$(RUSTLAND_VERSION)
RUSTLAND := $(RUSTLAND_ROOT)/bin/scx_rustland

scx-rustland: setup ## build the published scx_rustland $(RUSTLAND_VERSION) from crates.io into $(MIMIC_CACHE)
	@[ -n "$(MIMIC_PREBUILT)" ] || [ -x $(RUSTLAND) ] || { \
	  echo "building scx_rustland $(RUSTLAND_VERSION) from crates.io (once; log: $(RUSTLAND_ROOT).log)"; \
	  BPF_CLANG=clang-19 CARGO_TARGET_DIR=$(MIMIC_CACHE)/scx_rustland-target \
	    $(CARGO) install scx_rustland --version $(RUSTLAND_VERSION) --locked --root $(RUSTLAND_ROOT) > $(RUSTLAND_ROOT).log 2>&1; }

# BENCH_QUICK=1: 3 repetitions, 5 s latency runs. BENCH_REPS=N otherwise (4); both rounded up to a
# multiple of the number of schedulers (a balanced order: see README).
bench: build kernel ## benchmark EEVDF vs heuristic vs model (vs scx_rustland) in one boot → results/bench-*/
	@$(MAKE) --no-print-directory scx-rustland || echo "scx_rustland did not build (see $(RUSTLAND_ROOT).log): benchmarking without it"
	$(BIN)/mimic bench --kernel-env $(KERNEL_ENV) --models $(CURDIR)/models --rustland $(RUSTLAND)

bench-model: ## criterion benchmark of flat-tree inference (median ns per decision)
	$(CARGO) bench -p scx_mimic --bench predict

REPS ?= 40
OVERHEAD_BENCH ?= hackbench -g 4 -l 200
OVERHEAD_OUT ?= $(CURDIR)/datasets/overhead.json
trace-overhead: build kernel ## measure the tracer's cost on hackbench in the guest → datasets/overhead.json
	$(BIN)/mimic vm-run --kernel-env $(KERNEL_ENV) --rw $(dir $(OVERHEAD_OUT)) -- \
	  $(BIN)/mimic trace-overhead --reps $(REPS) --benchmark "'$(OVERHEAD_BENCH)'" --out $(OVERHEAD_OUT)

vm-check: kernel build ## check kernel config, vng and KVM/TCG
	$(BIN)/mimic vm-check --kernel-env $(KERNEL_ENV)

unit-test: build ## cargo tests (release profile: nothing is built twice)
	$(CARGO) test --release --workspace

nix-check: ## check flake.nix/flake.lock as deeply as possible without a Nix cache
	@vm/nix-check.sh

test: build kernel ## unit tests + nix-check + the VM gate + fault checks (short); ends with "N passed, N failed"
	@tests/run-all.sh

clean:
	$(CARGO) clean
