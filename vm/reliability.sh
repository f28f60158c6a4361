#!/usr/bin/env bash
# Run the VM gate N times in a row and report the pass count (the gate must be reliable, not
# lucky). HOST_HOG=K also keeps K CPU hogs busy on the *host* meanwhile, to show how the
# emulated guest holds up when the host is loaded.
#   vm/reliability.sh [N]            e.g.  HOST_HOG=1 vm/reliability.sh 5
set -uo pipefail
cd "$(dirname "$0")/.."
N=${1:-5}; HOG=${HOST_HOG:-0}
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release
hogs=()
for _ in $(seq 1 "$HOG"); do (while :; do :; done) & hogs+=($!); done
trap '[ ${#hogs[@]} -gt 0 ] && kill "${hogs[@]}" 2>/dev/null' EXIT
pass=0
for i in $(seq 1 "$N"); do
  start=$(date +%s)
  if "$BIN/mimic" vm-test "${@:2}" > /tmp/mimic-reliability-$i.log 2>&1; then r=PASS; pass=$((pass+1)); else r=FAIL; fi
  res=$(grep -o 'results/vm-test-[0-9-]*/result.json' /tmp/mimic-reliability-$i.log | tail -1)
  echo "run $i/$N: $r in $(( $(date +%s) - start ))s  load=$(cut -d' ' -f1 /proc/loadavg)  $res"
  [ $r = FAIL ] && grep -E '^\s+- ' /tmp/mimic-reliability-$i.log | head -5
done
echo "reliability: $pass/$N passed (host hogs: $HOG)"
[ "$pass" = "$N" ]
