#!/usr/bin/env bash
# `make test`: every test the project has, in one run, with one closing line.
#   1. cargo tests of the whole workspace (release profile, the same build as the binaries)
#   2. nix-check: flake.nix / flake.lock checked as deeply as possible offline
#   3. vm-test: the scheduler gate in the sched_ext guest (name: vm_gate_*)
#   4. vm-test-faults --short: overload, kill -9, SIGSTOP, hotplug restart, bad inputs (vm_faults_*)
# Each step runs even if an earlier one failed; the exit code is non-zero if any failed.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
KERNEL_ENV=${MIMIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scx_mimic}/kernel/current.env
passed=0; failed=0; failures=()

step() { printf '\n===== %s =====\n' "$1"; }

step "cargo test --release --workspace"
log=$(mktemp)
cargo test --release --workspace 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
p=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s+=$1} END {print s+0}')
f=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s+=$1} END {print s+0}')
passed=$((passed + p)); failed=$((failed + f))
if [ "$rc" != 0 ] && [ "$f" = 0 ]; then failed=$((failed + 1)); failures+=("cargo test (exit $rc, build failure?)"); fi
[ "$f" != 0 ] && failures+=("cargo test: $f failed")
rm -f "$log"

step "nix-check"
if [ -x vm/nix-check.sh ]; then
  log=$(mktemp)
  vm/nix-check.sh 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
  p=$(grep -Ec '^nix-check: ok ' "$log"); f=$(grep -Ec '^nix-check: FAIL ' "$log")
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$rc" != 0 ]; then [ "$f" = 0 ] && failed=$((failed + 1)); failures+=("nix-check"); fi
  rm -f "$log"
fi

step "vm_gate_heuristic_and_broken (mimic vm-test)"
if "$BIN/mimic" vm-test --kernel-env "$KERNEL_ENV"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); failures+=("vm-test")
fi

step "vm_faults_short (mimic vm-test-faults --short)"
if "$BIN/mimic" vm-test-faults --short --kernel-env "$KERNEL_ENV" --models "$PWD/models"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1)); failures+=("vm-test-faults")
fi

echo
for x in "${failures[@]}"; do echo "FAILED: $x"; done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
