#!/usr/bin/env bash
# Check flake.nix / flake.lock as deeply as possible without a Nix binary cache or git hosts
# (see tests/nix/README.md). Prints "nix-check: ok NAME" / "nix-check: FAIL NAME: why" per check.
#
# Two stages: the stand-in checks (always), and the deep stage against the real nixpkgs tree and
# the locked crane in ../shared/reference/nix beside the checkout (MIMIC_NIX_REFERENCE overrides
# the folder; skipped, in one line, when it is not there): nix flake check --no-build, dry-run
# builds, the dev shell's closure, and the package derivation's own cargo command lines run
# natively on its filtered source. Each stage ends with self-tests that break a copy of the flake
# and require the stage to notice.
#
# Nix itself: Debian 12's nix (2.8) is too old for current nixpkgs, so Nix 2.26 is taken from
# Debian trixie's nix-bin through a private apt configuration, unpacked with dpkg-deb -x under
# $MIMIC_CACHE/nix and run through its own ld-linux with --library-path: the host's apt state,
# libraries and /nix are not touched (the store used is a chroot store under $MIMIC_CACHE).
set -uo pipefail
. "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
NIXDIR="$MIMIC_CACHE/nix"
NR="$NIXDIR/root"

fetch_nix() {
  [ -x "$NR/usr/bin/nix" ] && [ -f "$NR/.complete" ] && return 0
  log "fetching Nix (nix-bin) from Debian trixie into $NIXDIR"
  private_apt "$NIXDIR/apt" trixie
  timeout 600 apt-get "${ALT[@]}" update -qq 2>&1 | grep -v '^W:' >&2 || true
  # nix-bin's shared-library closure (the perl/pam/debconf parts are not needed to run nix).
  local pkgs
  pkgs=$(timeout 120 apt-cache "${ALT[@]}" depends --recurse --no-recommends --no-suggests --no-conflicts \
           --no-breaks --no-replaces --no-enhances nix-bin 2>/dev/null | grep -v '^ ' | grep -v '^<' | sort -u |
         grep -E '^(nix-bin|lib)' | grep -vE 'perl|libpam|libsemanage|libdebian-installer|libdebconfclient|libnewt|libslang|libtextwrap|libaudit|libgdbm|libdb5')
  [ -n "$pkgs" ] || die "could not resolve nix-bin in Debian trixie (network?)"
  local d; d=$(mktemp -d "$MIMIC_CACHE/nixdl.XXXXXX")
  (cd "$d" && timeout 900 apt-get "${ALT[@]}" download $pkgs >/dev/null 2>&1) || { rm -rf "$d"; die "downloading nix-bin and its libraries failed"; }
  rm -rf "$NR.new"; mkdir -p "$NR.new"
  for f in "$d"/*.deb; do timeout 300 dpkg-deb -x "$f" "$NR.new"; done
  rm -rf "$d" "$NR"; mv "$NR.new" "$NR"; touch "$NR/.complete"
}

# Run a nix tool (nix, nix-instantiate, …) from the unpacked tree, with a deadline.
NIX_DEADLINE=${NIX_DEADLINE:-900}
nixw() {
  local tool=$1; shift
  timeout "$NIX_DEADLINE" "$NR/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" \
    --library-path "$NR/usr/lib/x86_64-linux-gnu:$NR/lib/x86_64-linux-gnu" \
    --argv0 "$tool" "$NR/usr/bin/nix" "$@"
}

export NIX_CONFIG='experimental-features = nix-command flakes
build-users-group =
sandbox = false
substituters =
build-hook =
warn-dirty = false'
export NIX_STORE_DIR=/nix/store NIX_STATE_DIR="$NIXDIR/var" NIX_LOG_DIR="$NIXDIR/log" NIX_CONF_DIR="$NIXDIR/etc"
STORE="local?root=$NIXDIR/chroot"

ok=0; bad=0
# Breaks of flake.nix that both stages must catch (sed expressions; issue #17's findings).
BREAK_DUPLICATE_WORKSPACE='s|^\( *\)inherit cargoArtifacts;|\1inherit cargoArtifacts;\n\1cargoTestExtraArgs = "--workspace";|'
BREAK_DATASETS_DROPPED='\|^ *\./datasets$|d'
BREAK_KERNEL_IN_DEVSHELL='s|^\( *\)inherit (commonArgs) env hardeningDisable;|&\n\1KERNEL = "${kernel}/bzImage";|'
pass() { echo "nix-check: ok $1"; ok=$((ok+1)); }
fail() { echo "nix-check: FAIL $1: $2"; bad=$((bad+1)); }

# --- the checks, each on a flake folder --------------------------------------------------------
check_parse() { # dir
  local f err=""
  while IFS= read -r f; do
    out=$(nixw nix-instantiate --parse "$1/$f" 2>&1 >/dev/null) || err+="$f: $(echo "$out" | head -3) "
  done < <(cd "$1" && find . -name '*.nix' -not -path './target/*' -not -path './.git/*' | sort)
  [ -z "$err" ] || { echo "$err"; return 1; }
}

check_lock() { # dir
  timeout 60 python3 - "$1" <<'PY'
import json, re, sys, subprocess
d = sys.argv[1]
try:
    lock = json.load(open(f"{d}/flake.lock"))
except Exception as e:
    sys.exit(f"flake.lock: not valid JSON: {e}")
errs = []
if lock.get("version") != 7: errs.append(f"flake.lock: version {lock.get('version')} (expected 7)")
nodes = lock.get("nodes", {})
root = nodes.get(lock.get("root", "root"), {})
for name, ref in root.get("inputs", {}).items():
    node = nodes.get(ref)
    if node is None: errs.append(f"flake.lock: input {name} points at missing node {ref}"); continue
    lk = node.get("locked", {})
    for k in ("type", "owner", "repo", "rev", "narHash", "lastModified"):
        if k not in lk: errs.append(f"flake.lock: nodes.{ref}.locked.{k} missing")
    if "rev" in lk and not re.fullmatch(r"[0-9a-f]{40}", lk["rev"]): errs.append(f"flake.lock: nodes.{ref}.locked.rev is not a 40-hex commit")
    if "narHash" in lk and not re.fullmatch(r"sha256-[A-Za-z0-9+/]{43}=", lk["narHash"]): errs.append(f"flake.lock: nodes.{ref}.locked.narHash is not an SRI sha256")
    if "lastModified" in lk and not isinstance(lk["lastModified"], int): errs.append(f"flake.lock: nodes.{ref}.locked.lastModified is not an integer")
    if "original" not in node: errs.append(f"flake.lock: nodes.{ref}.original missing")
print("\n".join(errs)); sys.exit(1 if errs else 0)
PY
  [ $? = 0 ] || return 1
  # The lock's inputs must be exactly the flake's.
  local want have
  want=$(nixw nix-instantiate --eval --json -E "builtins.attrNames (import $1/flake.nix).inputs" 2>&1) || { echo "$want"; return 1; }
  have=$(timeout 60 python3 -c 'import json,sys; l=json.load(open(sys.argv[1])); print(json.dumps(sorted(l["nodes"][l["root"]]["inputs"])))' "$1/flake.lock")
  [ "$(echo "$want" | tr -d ' ')" = "$(echo "$have" | tr -d ' ')" ] || { echo "flake inputs $want != lock inputs $have"; return 1; }
}

check_metadata() { # dir
  local out
  out=$(cd "$1" && nixw nix flake metadata --json --offline --store "$STORE" "path:$1" 2>&1) || { echo "$out" | tail -3; return 1; }
  timeout 60 python3 -c '
import json,sys
m=json.loads(sys.stdin.read())
n=m["locks"]["nodes"]
assert n["nixpkgs"]["locked"]["rev"] and n["crane"]["locked"]["rev"], "inputs not locked"
' <<<"$out" || return 1
}

check_outputs() { # dir
  local out
  out=$(nixw nix-instantiate --eval --strict --json "$ROOT/tests/nix/outputs.nix" --arg flakeDir "$1" 2>&1) || { echo "$out" | grep -E 'error' -A3 | head -8; return 1; }
  timeout 60 python3 - "$ROOT/vm/kernel.config" "$1/Makefile" <(printf '%s' "$out") <<'PY'
import json, re, sys
o = json.load(open(sys.argv[3]))
errs = []
def need(cond, msg):
    if not cond: errs.append(msg)
need(o["systems"] == ["x86_64-linux"], f"systems {o['systems']}")
need({"kernel", "scx_mimic", "default"} <= set(o["packages"]), f"packages {o['packages']}")
need("default" in o["devShells"], "no devShells.default")
for tool in ["virtme-ng", "qemu", "virtiofsd", "busybox", "stress-ng", "perf", "rt-tests", "bpftools", "libbpf", "clang", "pkg-config"]:
    need(tool in o["devShellPackages"], f"dev shell lacks {tool}")
makefile = open(sys.argv[2]).read()
for app in ["vm-test", "train", "bench"]:
    need(o["apps"].get(app, {}).get("type") == "app", f"apps.{app} missing or not an app")
# Each app runs the Makefile target of its name: it must exist.
for app in o["apps"]:
    need(re.search(rf"^{re.escape(app)}:", makefile, re.M) is not None, f"apps.{app} runs make {app}, a target the Makefile lacks")
need({"kernel", "scx_mimic", "vm-gate"} <= set(o["checks"]), f"checks {o['checks']}")
need(o["vmGateFeatures"] == ["kvm"], "checks.vm-gate must require the kvm system feature")
need(o["formatter"] == "nixfmt-tree", f"formatter {o['formatter']} (nix fmt wants a tree formatter: nixfmt-tree)")
# The apps: described, make run with an existing shell, the kernel only where a guest boots.
for app, script in o["appScripts"].items():
    need(o["appDescriptions"].get(app), f"apps.{app} has no meta.description")
    need(re.search(r"make SHELL=\S+/bin/bash ", script) is not None, f"apps.{app} must run make with SHELL=<nix bash> (/bin/bash does not exist on NixOS)")
    boots = app in ("vm-test", "bench")
    need(("export KERNEL=" in script) == boots, f"apps.{app}: {'needs' if boots else 'must not build'} the flake's kernel")
need("RUSTLAND=" in o["appScripts"].get("bench", "") and "scx_rustscheds/bin/scx_rustland" in o["appScripts"].get("bench", ""), "apps.bench must pass nixpkgs' scx_rustland (scx.rustscheds) as RUSTLAND")
need("MIMIC_PYTHON=" in o["appScripts"].get("train", ""), "apps.train must give tools/sklearn-compare.sh a python with scikit-learn (MIMIC_PYTHON)")
need("--models " in o["vmGateScript"], "checks.vm-gate passes no --models: the model cases would be skipped")
# The dev shell opens without building the kernel.
for k, v in o["devShellArgs"].items():
    need("stub-linux-" not in v, f"devShells.default.{k} names the kernel: nix develop would build it")
# Cargo flags: --locked kept (crane's default is replaced by cargoExtraArgs), none given twice.
need("--locked" in (o["cargoExtraArgs"] or "--locked").split(), "cargoExtraArgs drops crane's default --locked")
flags = (o["cargoExtraArgs"] or "").split() + o["cargoTestExtraArgs"].split()
need(len(flags) == len(set(flags)), f"cargo test would get a flag twice: {flags}")
for d in ["bpf", "datasets", "models", "tests/fuzz/corpus"]:
    need(f"{o['srcRoot']}/{d}" in o["srcFiles"], f"the package source lacks {d}/ (the build or its tests read it)")
want = [m.group(1) for m in re.finditer(r"^CONFIG_([A-Z0-9_]+)=y", open(sys.argv[1]).read(), re.M)]
need(sorted(o["kernelForced"]) == sorted(want), f"kernel forces {sorted(o['kernelForced'])}, vm/kernel.config lists {sorted(want)}")
need(all(v == "override:50:y" for v in o["kernelForced"].values()), "every kernel option must be mkForce yes")
need(o["scxEnv"].get("BPF_CLANG", "").endswith("/bin/clang"), "BPF_CLANG must be the clang executable")
need("-C link-args=-lelf" in o["scxEnv"].get("RUSTFLAGS", "") and "relocation-model=pic" in o["scxEnv"].get("RUSTFLAGS", ""), "RUSTFLAGS must link libelf/zlib/zstd with pic")
need(o["scxHardeningDisable"] == ["zerocallusedregs"], "hardeningDisable must be [zerocallusedregs]")
need(set(o["scxBuildInputs"]) >= {"elfutils", "zlib", "zstd", "libseccomp"}, f"buildInputs {o['scxBuildInputs']}")
print("\n".join(errs)); sys.exit(1 if errs else 0)
PY
}

run_all() { # dir label
  local c why
  for c in parse lock metadata outputs; do
    if why=$(check_$c "$1" 2>&1); then pass "$c$2"; else fail "$c$2" "$(echo "$why" | tr '\n' ' ' | cut -c1-400)"; fi
  done
}

fetch_nix
nixw nix --version >/dev/null 2>&1 || die "the unpacked nix does not run"
log "$(nixw nix --version)"
run_all "$ROOT" ""

# --- self-test: each check must catch a deliberately broken copy ------------------------------
broken() { # name, sed expression on a file, file, check that must fail
  local t; t=$(mktemp -d)
  (cd "$ROOT" && cp -r flake.nix flake.lock Makefile vm "$t"/)
  sed -i "$2" "$t/$3"
  if cmp -s "$ROOT/$3" "$t/$3"; then
    fail "self-test-$1" "the break '$2' matched nothing in $3 (update the self-test)"
  elif why=$(check_$4 "$t" 2>&1); then
    fail "self-test-$1" "check '$4' did not notice: $2 on $3"
  else
    pass "self-test-$1 (caught: $(echo "$why" | tr '\n' ' ' | cut -c1-120))"
  fi
  rm -rf "$t"
}
broken syntax-error 's/outputs =/outputs = = /' flake.nix parse
broken bad-attribute 's/linuxKernel.kernels.linux_6_12.override/linuxKernel.kernels.linux_6_12_typo.override/' flake.nix outputs
broken missing-app 's/bench = mkApp {/benchX = mkApp {/' flake.nix outputs
broken kernel-option-dropped 's/lib.kernel.yes) kernelOptions/lib.kernel.yes) (builtins.removeAttrs kernelOptions [ "SCHED_CLASS_EXT" ])/' flake.nix outputs
broken kernel-option-as-module 's/lib.mkForce lib.kernel.yes/lib.mkForce lib.kernel.module/' flake.nix outputs
broken missing-make-target 's/^bench: /benchX: /' Makefile outputs
broken lock-without-narhash '/"narHash": "sha256-yNJd/d' flake.lock lock
broken duplicate-workspace "$BREAK_DUPLICATE_WORKSPACE" flake.nix outputs
broken datasets-dropped "$BREAK_DATASETS_DROPPED" flake.nix outputs
broken kernel-in-devshell "$BREAK_KERNEL_IN_DEVSHELL" flake.nix outputs

echo "nix-check: $ok passed, $bad failed"
[ "$bad" = 0 ]
