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
BREAK_LOCKED_DROPPED='s|cargoExtraArgs = "--locked --workspace";|cargoExtraArgs = "--workspace";|'
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
for d in ["bpf", "datasets", "models", "tests/fuzz/corpus", "README.md", "benchmarks"]:
    need(f"{o['srcRoot']}/{d}" in o["srcFiles"], f"the package source lacks {d} (the build or its tests read it)")
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
broken locked-dropped "$BREAK_LOCKED_DROPPED" flake.nix outputs

# --- the deep stage: the real nixpkgs tree and the locked crane (../shared/reference/nix) --------
# What it proves: the flake evaluates against real nixpkgs and crane code (every attribute exists,
# every argument is accepted, no evaluation warnings), its derivations instantiate (dry-run of the
# package, the kernel and the dev shell), the dev shell does not need the kernel, and the package
# derivation's own build and check phases — their cargo command lines as evaluated, read from the
# derivation — run natively with the host's cargo on a copy of the derivation's filtered source.
# What it cannot prove: anything built by Nix (no binary cache here), the Nix toolchain (the
# host's cargo/rustc/clang run, not nixpkgs' ones, and the derivation's RUSTFLAGS and BPF_CLANG
# are not applied: they would rebuild every dependency), the Nix sandbox (no network, not root:
# only its missing HOME is reproduced). See tests/nix/README.md.
REF=${MIMIC_NIX_REFERENCE:-$ROOT/../shared/reference/nix}
DEEP="$NIXDIR/deep"
SYS=x86_64-linux
DEEP_TARGET=${CARGO_BUILD_BUILD_DIR:-${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/scx_mimic/target}}
DRVPY="$ROOT/tests/nix/drv.py"

# zstd for the archives: the host's, or Debian trixie's unpacked beside nix (same private apt).
zstd_cmd() {
  if command -v zstd >/dev/null; then ZSTD=(zstd); return 0; fi
  if [ ! -x "$NR/usr/bin/zstd" ]; then
    log "fetching zstd from Debian trixie into $NIXDIR"
    private_apt "$NIXDIR/apt" trixie
    timeout 600 apt-get "${ALT[@]}" update -qq 2>&1 | grep -v '^W:' >&2 || true
    local d; d=$(mktemp -d "$NIXDIR/zstddl.XXXXXX")
    (cd "$d" && timeout 300 apt-get "${ALT[@]}" download zstd liblz4-1 liblzma5 >/dev/null 2>&1) || { rm -rf "$d"; return 1; }
    for f in "$d"/*.deb; do timeout 120 dpkg-deb -x "$f" "$NR"; done; rm -rf "$d"
  fi
  ZSTD=("$NR/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" --library-path "$NR/usr/lib/x86_64-linux-gnu:$NR/lib/x86_64-linux-gnu" "$NR/usr/bin/zstd")
}

# Unpack the nixpkgs tree once (keyed by archive name and size) as a one-commit git repository
# (a git+file: input is copied into the store once; a path: input on every evaluation), and add
# crane to the store: its store path then is the locked input's, which resolves offline.
deep_setup() {
  local np cr key t
  np=$(ls "$REF"/nixpkgs-*.tar.zst 2>/dev/null | head -1); cr=$(ls "$REF"/crane-*.tar.zst 2>/dev/null | head -1)
  [ -n "$np" ] && [ -n "$cr" ] || return 3
  zstd_cmd || { echo "no zstd (apt install zstd)"; return 1; }
  key="$(basename "$np" .tar.zst)-$(stat -c %s "$np")"
  NIXPKGS="$DEEP/ref/$key/nixpkgs"
  if [ ! -f "$DEEP/ref/$key/.complete" ]; then
    log "unpacking $(basename "$np") into $DEEP/ref (once)"
    rm -rf "$DEEP/ref"; mkdir -p "$DEEP/ref/$key"
    timeout 900 "${ZSTD[@]}" -dc -q "$np" | timeout 900 tar -C "$DEEP/ref/$key" -x || { echo "cannot unpack $np"; return 1; }
    [ -f "$NIXPKGS/default.nix" ] || { echo "$np holds no nixpkgs/ tree"; return 1; }
    ( cd "$NIXPKGS" && export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null \
        GIT_AUTHOR_DATE=2026-07-15T00:00:00Z GIT_COMMITTER_DATE=2026-07-15T00:00:00Z &&
      timeout 300 git init -q && timeout 600 git add -A -f &&
      timeout 600 git -c user.name=nix-check -c user.email=nix-check@localhost commit -q --no-verify -m reference ) ||
      { echo "cannot make $NIXPKGS a git repository"; return 1; }
    touch "$DEEP/ref/$key/.complete"
  fi
  t=$(mktemp -d)
  timeout 300 "${ZSTD[@]}" -dc -q "$cr" | timeout 300 tar -C "$t" -x || { rm -rf "$t"; echo "cannot unpack $cr"; return 1; }
  CRANE=$(nixw nix-store --store "$STORE" --add-fixed --recursive sha256 "$t/source" 2>&1) || { rm -rf "$t"; echo "$CRANE"; return 1; }
  rm -rf "$t"
  NIXF=(--store "$STORE" --offline --no-write-lock-file --override-input nixpkgs "git+file://$NIXPKGS")
}

# A copy of the flake as a Nix user's checkout gives it: git's tracked files, as in the work tree.
deep_flake() { # dest
  rm -rf "$1"; mkdir -p "$1"
  if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$ROOT" && timeout 120 git ls-files -z --cached | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
      timeout 300 xargs -0 -r cp --parents -t "$1")
  else
    (cd "$ROOT" && timeout 300 tar -c --exclude=./.git --exclude=./target --exclude=./results . | tar -C "$1" -x)
  fi
}

# Each run adds its flake copies and .drv files to the store (the same ones again when nothing
# changed): past 2 GiB, everything but the flake's inputs (nixpkgs, crane) is collected.
deep_gc() { # flake dir
  local kb roots; kb=$(timeout 120 du -sk "$NIXDIR/chroot/nix/store" 2>/dev/null | cut -f1)
  [ "${kb:-0}" -gt $((2 * 1024 * 1024)) ] || return 0
  log "deep stage: the Nix store holds $((kb / 1024)) MiB: collecting garbage (nixpkgs and crane are kept)"
  roots=$(nixw nix flake archive --json --dry-run "${NIXF[@]}" "path:$1" 2>/dev/null |
          timeout 60 python3 -c 'import json,sys; print(" ".join(i["path"] for i in json.load(sys.stdin)["inputs"].values()))') &&
    [ -n "$roots" ] || { log "warning: cannot tell the flake's inputs: no garbage collected"; return 0; }
  rm -rf "$DEEP/gcroots"; mkdir -p "$DEEP/gcroots"
  local r; for r in $roots; do nixw nix-store --store "$STORE" --add-root "$DEEP/gcroots/${r##*-}-${r:11:8}" --realise "$r" >/dev/null || return 0; done
  nixw nix-store --store "$STORE" --gc >/dev/null 2>&1 || log "warning: nix-store --gc failed"
}

# Run nix on a flake folder; keep its standard output in $NIXOUT; fail on errors and on any warning
# but the override's "not writing modified lock file".
nixf() { # dir, nix args… (the flake reference is path:dir; "#attr" arguments get it prefixed)
  local dir=$1 a args=() err rc warn; shift
  for a in "$@"; do case "$a" in "#"*) args+=("path:$dir$a");; *) args+=("$a");; esac; done
  err=$(mktemp)
  NIXOUT=$(nixw nix "${args[@]}" "${NIXF[@]}" 2>"$err"); rc=$?
  warn=$(grep -E '^(evaluation )?warning:' "$err" | grep -v 'not writing modified lock file')
  if [ $rc != 0 ]; then
    grep -E '^error|error:' -A2 "$err" | grep -v '^--$' | head -6; [ $rc = 124 ] && echo "(timed out)"
    rm -f "$err"; return 1
  fi
  # `nix build --dry-run` tells what it would build on standard error.
  [ "${args[0]}" = build ] && NIXOUT+=$'\n'$(cat "$err")
  rm -f "$err"
  [ -z "$warn" ] || { echo "$warn" | head -5; return 1; }
}

check_deep_flake_check() { nixf "$1" flake check --no-build "path:$1"; }

# (A check prints its one-line summary as "= text"; anything else it prints is why it failed.)
check_deep_dry_run() { # dir, attribute
  nixf "$1" build --dry-run "#$2" || return 1
  local n; n=$(grep -Eo 'these [0-9]+ derivations will be built' <<<"$NIXOUT" | grep -Eo '[0-9]+')
  echo "= ${n:-0} derivations to build"
}

# The dev shell's derivation closure must not hold the kernel, nor its generated config.
check_deep_devshell() { # dir
  nixf "$1" eval --json "#packages.$SYS.kernel" --apply 'k: [ k.drvPath k.configfile.drvPath ]' || return 1
  local kernel; kernel=$(tr -d '[]"' <<<"$NIXOUT" | tr ',' ' ' | tail -1)
  nixf "$1" eval --raw "#devShells.$SYS.default.drvPath" || return 1
  local shell closure k; shell=$(tail -1 <<<"$NIXOUT")
  closure=$(nixw nix-store --store "$STORE" --query --requisites "$shell" 2>&1) || { echo "$closure" | tail -3; return 1; }
  for k in $kernel; do
    [[ $k == /nix/store/*.drv ]] || { echo "not a derivation: $k"; return 1; }
    if grep -qxF "$k" <<<"$closure"; then
      echo "the dev shell's closure holds $(basename "$k"): nix develop would build the guest kernel"
      return 1
    fi
  done
}

# The deps derivation runs on crane's dummy source, which cannot be made without building here:
# its cargo command lines are only checked to parse (cargo stops at a rejected flag before --help).
check_deep_deps_args() { # dir
  nixf "$1" derivation show "#packages.$SYS.scx_mimic.cargoArtifacts" || return 1
  local lines line sub rest out n=0
  lines=$(printf '%s' "$NIXOUT" | timeout 60 python3 "$DRVPY" cargo-lines) || { echo "$lines"; return 1; }
  while IFS= read -r line; do
    read -r _ sub rest <<<"$line"
    # cargoWithProfile adds --release (CARGO_PROFILE=release, crane's default)
    out=$(cd /tmp && timeout 60 cargo "$sub" --release $rest --help 2>&1 >/dev/null) || { echo "cargo $sub $rest: $out" | head -2; return 1; }
    [ -z "$out" ] || { echo "cargo $sub $rest: $(head -1 <<<"$out")"; return 1; }
    n=$((n+1))
  done <<<"$lines"
  [ "$n" -gt 0 ] || { echo "no cargo command line found in the deps derivation"; return 1; }
  echo "= its $n cargo command lines parse"
}

# Every cargo command line of both derivations keeps --locked (crane's default, lost when
# cargoExtraArgs is set without it): the build must use Cargo.lock's versions.
check_deep_locked() { # dir
  nixf "$1" derivation show "#packages.$SYS.scx_mimic" "#packages.$SYS.scx_mimic.cargoArtifacts" || return 1
  local n; n=$(printf '%s' "$NIXOUT" | timeout 60 python3 "$DRVPY" locked 2>&1) || { echo "$n"; return 1; }
  echo "= all $n cargo command lines of the package and its deps"
}

# The package derivation's build and check phases, as evaluated, run natively on its source.
# Cargo's intermediate artifacts go to the shared target folder (its build-dir: the registry
# dependencies are not rebuilt), its final ones (what it copies to target/release/: mimic,
# scx_mimic) to a folder of the copy's own, so a checkout's binaries are never replaced by the
# copy's while, say, a VM test of that checkout runs them.
deep_env() {
  export CARGO_BUILD_BUILD_DIR="$DEEP_TARGET" CARGO_TARGET_DIR="$DEEP/out" CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" \
    RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}" NIX_BUILD_CORES="$(nproc)" HOME=/homeless-shelter
}
# Cargo names a workspace crate's artifacts by its path relative to the workspace root, and judges
# them fresh by file times: the copy and any checkout sharing the target folder build the same
# units. So that neither takes the other's build for its own (a checkout's edited crate older than
# the copy's build, or the copy's unchanged files older than a checkout's build), the fingerprints
# of the local crates (workspace and path dependencies) are dropped before the copy is built and
# after: they are rebuilt (30-60 s), the registry dependencies are not. Under cargo's lock.
forget_local_units() {
  local names fp="$DEEP_TARGET/release/.fingerprint"
  names=$(cd "$DEEP/src" && deep_env && host=$(timeout 60 rustc -vV | sed -n 's/^host: //p') &&
          timeout 120 cargo metadata --format-version 1 --locked --offline --filter-platform "$host" 2>"$DEEP/logs/metadata.err" |
          timeout 60 python3 -c 'import json,sys; print(" ".join(sorted({p["name"] for p in json.load(sys.stdin)["packages"] if p["source"] is None})))') ||
    { echo "cargo metadata failed in $DEEP/src: $(head -3 "$DEEP/logs/metadata.err")"; return 1; }
  [ -n "$names" ] || { echo "no local crates found in $DEEP/src"; return 1; }
  mkdir -p "$fp"; touch "$DEEP_TARGET/release/.cargo-lock"
  timeout 900 flock -w 890 "$DEEP_TARGET/release/.cargo-lock" bash -c 'cd "$1" && shift && for n; do rm -rf ./"$n"-*; done' _ "$fp" $names ||
    { echo "could not take cargo's lock on $DEEP_TARGET/release"; return 1; }
}
run_phase() { # phase-file, log
  ( cd "$DEEP/src" && deep_env &&
    timeout "${DEEP_PHASE_DEADLINE:-2700}" nice bash -c '
      . "$1/lib/setupHooks/cargoHelperFunctionsHook.sh"
      . "$1/lib/setupHooks/configureCargoCommonVarsHook.sh"
      configureCargoCommonVars >/dev/null
      runHook() { :; }   # drv.py phases refused a derivation with hooks around the phases
      set -euo pipefail
      eval "$(cat "$2")"' _ "$NIXDIR/chroot$CRANE" "$1" ) >"$2" 2>&1
}
check_deep_phases() { # dir, label
  nixf "$1" derivation show "#packages.$SYS.scx_mimic" || return 1
  local p="$DEEP/phases$2" src why
  rm -rf "$p"
  why=$(printf '%s' "$NIXOUT" | timeout 60 python3 "$DRVPY" phases "$p" 2>&1) || { echo "$why"; return 1; }
  src=$(cat "$p/src")
  # The filtered source is a plain store path that evaluation has already added to the store.
  nixw nix path-info --store "$STORE" "$src" >/dev/null 2>&1 || { echo "$src is not in the store"; return 1; }
  why=$(timeout 600 python3 "$DRVPY" mirror "$NIXDIR/chroot$src" "$DEEP/src" "$ROOT" 2>&1) || { echo "$why"; return 1; }
  mkdir -p "$DEEP/logs"
  [ -n "$2" ] || forget_local_units || return 1
  local ph t0 rc summary=""
  for ph in buildPhase checkPhase; do
    t0=$(date +%s)
    run_phase "$p/$ph" "$DEEP/logs/$ph$2.log"; rc=$?
    if [ $rc != 0 ]; then
      echo "$ph ($(grep -E '^\++ .*cargo (build|test|check)' "$DEEP/logs/$ph$2.log" | tail -1 | sed 's/^+* //')) failed$([ $rc = 124 ] && echo ' (timed out)'):"
      grep -E '^error|FAILED|panicked|cannot be used|unexpected argument' "$DEEP/logs/$ph$2.log" | head -4
      echo "(log: $DEEP/logs/$ph$2.log)"
      return 1
    fi
    summary+="$ph $(( $(date +%s) - t0 ))s, "
  done
  local np nf
  np=$(grep -Eo '[0-9]+ passed' "$DEEP/logs/checkPhase$2.log" | awk '{s+=$1} END {print s+0}')
  nf=$(grep -Eo '[0-9]+ failed' "$DEEP/logs/checkPhase$2.log" | awk '{s+=$1} END {print s+0}')
  [ "$np" -gt 0 ] && [ "$nf" = 0 ] || { echo "checkPhase ran $np passing and $nf failing tests"; return 1; }
  echo "= ${summary}$np tests passed"
}

# The first line each check's caller prints: why a check failed (or what a self-test caught).
oneline() { tr '\n' ' ' | sed 's/  */ /g' | cut -c1-${1:-400}; }

deep_check() { # name, function, args…
  local name=$1 out rc sum; shift
  out=$("$@" 2>&1); rc=$?
  sum=$(sed -n 's/^= //p' <<<"$out" | tail -1)
  if [ $rc = 0 ]; then pass "$name${sum:+ ($sum)}"; else fail "$name" "$(grep -v '^= ' <<<"$out" | oneline)"; fi
}

deep_broken() { # name, sed expression on flake.nix, check function
  local d="$DEEP/flake-broken" why
  deep_flake "$d"; sed -i "$2" "$d/flake.nix"
  if cmp -s "$ROOT/flake.nix" "$d/flake.nix"; then
    fail "self-test-deep-$1" "the break '$2' matched nothing in flake.nix (update the self-test)"
  elif why=$("$3" "$d" -broken 2>&1); then
    fail "self-test-deep-$1" "the deep check '$3' did not notice: $2"
  else
    pass "self-test-deep-$1 (caught: $(grep -v '^= ' <<<"$why" | oneline 200))"
  fi
}

deep_stage() {
  local rc t0 t1 what attr F="$DEEP/flake"; t0=$(date +%s)
  mkdir -p "$DEEP"
  deep_setup >"$DEEP/setup.out"; rc=$?
  if [ $rc = 3 ]; then
    echo "nix-check: deep stage skipped: no nixpkgs-*.tar.zst and crane-*.tar.zst in $REF"; return 0
  fi
  [ $rc = 0 ] || { fail deep-setup "$(oneline <"$DEEP/setup.out")"; return 0; }
  log "deep stage: $(basename "$(dirname "$NIXPKGS")"), crane $CRANE, cargo target $DEEP_TARGET"
  deep_flake "$F"
  deep_gc "$F"
  deep_check deep-flake-check check_deep_flake_check "$F"
  for what in package:packages.$SYS.scx_mimic kernel:packages.$SYS.kernel devshell:devShells.$SYS.default; do
    deep_check "deep-dry-run-${what%%:*}" check_deep_dry_run "$F" "${what#*:}"
  done
  deep_check deep-devshell-without-kernel check_deep_devshell "$F"
  deep_check deep-deps-cargo-args check_deep_deps_args "$F"
  deep_check deep-cargo-locked check_deep_locked "$F"
  t1=$(date +%s)
  deep_check deep-package-phases check_deep_phases "$F" ""
  log "deep stage: the package's phases took $(( $(date +%s) - t1 ))s"
  deep_broken duplicate-workspace "$BREAK_DUPLICATE_WORKSPACE" check_deep_phases
  deep_broken datasets-dropped "$BREAK_DATASETS_DROPPED" check_deep_phases
  deep_broken kernel-in-devshell "$BREAK_KERNEL_IN_DEVSHELL" check_deep_devshell
  deep_broken locked-dropped "$BREAK_LOCKED_DROPPED" check_deep_locked
  rm -rf "$DEEP/flake-broken"
  [ ! -d "$DEEP/src" ] || forget_local_units >/dev/null || log "warning: could not drop the copy's crate fingerprints in $DEEP_TARGET"
  log "deep stage: $(( $(date +%s) - t0 ))s"
}
deep_stage

echo "nix-check: $ok passed, $bad failed"
[ "$bad" = 0 ]
