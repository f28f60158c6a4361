#!/usr/bin/env bash
# Resolve and prepare the guest kernel; print the path of an env file describing it.
#
#   KERNEL=/path/to/bzImage   use your own kernel (needs CONFIG_SCHED_CLASS_EXT=y, BTF, 9p);
#                             its config is taken from KERNEL_CONFIG or a `config`/`.config` beside it
#   KERNEL_VERSION=7.3.1+bpo-amd64
#                             pin a Debian trixie-backports kernel (the default is the newest
#                             amd64 one, resolved now: backports roll over and old ones vanish)
#
# The Debian kernel is fetched through a private apt configuration (own sources.list, lists and
# cache under $MIMIC_CACHE/apt), so the host's apt sources are never changed; the .debs are
# unpacked with dpkg-deb -x and the module tree is cut to the six modules virtme-ng loads (with
# all of them, guest udev loads dozens and boot goes from ~25 s to ~90 s under TCG).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
K="$MIMIC_CACHE/kernel"; mkdir -p "$K"
ENV_OUT="$K/current.env"

write_env() { # image release pkgversion config source
  local tmp; tmp=$(mktemp "$K/.env.XXXXXX")
  printf 'KERNEL_IMAGE=%q\nKERNEL_RELEASE=%q\nKERNEL_PKG_VERSION=%q\nKERNEL_CONFIG=%q\nKERNEL_SOURCE=%q\n' \
    "$1" "$2" "$3" "$4" "$5" > "$tmp"
  mv -f "$tmp" "$ENV_OUT"; echo "$ENV_OUT"
}

# Check a kernel config against vm/kernel.config: "## sched_ext" options must be =y, the others
# =y or =m (a module is fine: virtme-ng loads it).
check_config() { # config file
  [ -f "$1" ] || { log "warning: no kernel config found; cannot check for sched_ext"; return 0; }
  local section="" line opt
  while IFS= read -r line; do
    case "$line" in
      "## "*) section=${line#\#\# }; continue;;
      CONFIG_*=y) opt=${line%%=*};;
      *) continue;;
    esac
    if [ "$section" = sched_ext ]; then
      grep -q "^$opt=y" "$1" || die "kernel config $1 lacks $opt=y: this kernel cannot run sched_ext schedulers"
    else
      grep -q "^$opt=[ym]" "$1" || die "kernel config $1 lacks $opt (=y or =m): virtme-ng cannot boot it"
    fi
  done < "$(dirname "$0")/kernel.config"
}

if [ -n "${KERNEL:-}" ]; then
  [ -f "$KERNEL" ] || die "KERNEL=$KERNEL: no such file (point it at a bzImage)"
  cfg=${KERNEL_CONFIG:-}
  for c in "$(dirname "$KERNEL")/config" "$(dirname "$KERNEL")/.config" "$(dirname "$KERNEL")/../../../.config"; do
    [ -z "$cfg" ] && [ -f "$c" ] && cfg=$c
  done
  check_config "${cfg:-/nonexistent}"
  write_env "$(readlink -f "$KERNEL")" "" "" "${cfg:+$(readlink -f "$cfg")}" "user"
  exit 0
fi

mkdir -p "$K/debs"
private_apt "$K/apt" trixie-backports
MIRROR=$APT_MIRROR

KV=${KERNEL_VERSION:-}
if [ -z "$KV" ]; then
  log "resolving the newest trixie-backports amd64 kernel from $MIRROR"
  apt-get "${ALT[@]}" update -qq 2>&1 | grep -v '^W:' >&2 || true
  PKGV=$(apt-cache "${ALT[@]}" policy linux-image-amd64 2>/dev/null | awk '/Candidate:/{print $2}')
  if [ -n "$PKGV" ] && [ "$PKGV" != "(none)" ]; then
    KV=$(apt-cache "${ALT[@]}" show "linux-image-amd64=$PKGV" | grep -o 'linux-image-[^ ,]*-amd64' | head -1 | sed 's/^linux-image-//')
    [ -n "$KV" ] || die "could not map linux-image-amd64=$PKGV to a kernel release"
  else
    # Offline: fall back to the newest kernel prepared earlier, and say so.
    last=$(ls -td "$K"/root-*/.complete 2>/dev/null | head -1)
    [ -n "$last" ] || die "could not resolve linux-image-amd64 in trixie-backports (network? mirror $MIRROR) and no kernel is cached"
    KV=$(basename "$(dirname "$last")"); KV=${KV#root-}
    log "warning: cannot reach trixie-backports; using the cached kernel $KV"
  fi
fi
case "$KV" in *-amd64) ;; *) die "KERNEL_VERSION=$KV: expected a release like 7.3.1+bpo-amd64 (amd64 flavour: the cloud one has no 9p)";; esac

R="$K/root-$KV"; M="$R/usr/lib/modules/$KV"
if [ ! -f "$M/vmlinuz" ] || [ ! -f "$R/.complete" ]; then
  ls "$K/apt/lists" 2>/dev/null | grep -q Packages || apt-get "${ALT[@]}" update -qq
  log "downloading linux-base/binary/modules-$KV"
  (cd "$K/debs" && apt-get "${ALT[@]}" download "linux-base-$KV" "linux-binary-$KV" "linux-modules-$KV") >&2 \
    || die "could not download kernel $KV from trixie-backports (pinned version gone from the archive? unset KERNEL_VERSION)"
  T=$(mktemp -d "$K/unpack.XXXXXX"); trap 'rm -rf "$T"' EXIT
  for d in "$K"/debs/linux-{base,binary,modules}-"$KV"_*.deb; do dpkg-deb -x "$d" "$T"; done
  S="$T/usr/lib/modules/$KV"
  N=$(mktemp -d "$K/root.XXXXXX"); NM="$N/usr/lib/modules/$KV"; mkdir -p "$NM"
  cp "$S"/{vmlinuz,config,modules.builtin,modules.builtin.modinfo,modules.order} "$NM/" 2>/dev/null || \
    cp "$S"/{vmlinuz,config,modules.builtin,modules.builtin.modinfo} "$NM/"
  for m in fs/netfs/netfs fs/9p/9p net/9p/9pnet net/9p/9pnet_virtio drivers/virtio/virtio_mmio fs/overlayfs/overlay; do
    mkdir -p "$NM/kernel/$(dirname $m)"
    cp "$S/kernel/$m".ko* "$NM/kernel/$(dirname $m)/" 2>/dev/null || log "note: module $m not in $KV (built in?)"
  done
  ln -sfn usr/lib "$N/lib"
  /sbin/depmod -a -b "$N" "$KV"
  # the exact Debian package version, recorded in every result file
  dpkg-deb -f "$K"/debs/linux-binary-"$KV"_*.deb Version | tail -1 > "$N/.pkgversion"
  touch "$N/.complete"
  rm -rf "$R"; mv "$N" "$R"
  rm -f "$K"/debs/linux-{binary,modules}-"$KV"_*.deb   # 100+ MB; the trimmed tree is what we keep
fi
check_config "$M/config"
write_env "$M/vmlinuz" "$KV" "$(cat "$R/.pkgversion" 2>/dev/null)" "$M/config" "debian trixie-backports"
