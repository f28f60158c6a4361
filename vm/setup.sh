#!/usr/bin/env bash
# Install what the lab needs on a Debian 12 (bookworm) host, idempotently:
#   apt:  clang-19 (BPF, clang >= 18), libelf/libseccomp/zlib/zstd headers, pkg-config,
#         qemu-system-x86, busybox-static, udev (without it vng cannot return the guest's exit
#         code), kmod, stress-ng, bpftool, linux-perf, rt-tests, python3-venv
#   pip:  virtme-ng, into a venv under $MIMIC_CACHE (Debian 12 has none; PyPI's ships a static init)
# It never edits the host's apt sources (a suite they lack is offered through private lists under
# $MIMIC_CACHE, for one install). Prints nothing but a summary when all is present.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

APT_PKGS=(clang-19 llvm-19 libelf-dev libseccomp-dev zlib1g-dev libzstd-dev pkg-config
          qemu-system-x86 busybox-static udev kmod stress-ng bpftool linux-perf rt-tests
          python3-venv ca-certificates fonts-dejavu-core)
# Whether package $1 is installed.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
for p in "${APT_PKGS[@]}"; do
  installed "$p" || missing+=("$p")
done
APT=(apt-get)   # plus private-list options when a suite the host's sources lack is needed
# The first suite (e.g. bookworm-backports, without "/main") that `apt-cache policy` lists for
# package $1 — for its installed version only when $2 is 1 — leaving out dpkg's own status file.
policy_suite() {
  apt-cache "${APT[@]:1}" policy "$1" 2>/dev/null | awk -v installed="$2" '/^ \*\*\* /{mine=1; next} (mine || !installed) && /^ +[0-9]+ / && $2 !~ /dpkg\/status/ {split($3, a, "/"); print a[1]; exit} /^     [^ ]/{mine=0}'
}
# The suite (e.g. bookworm-backports) that installed package $1 came from, if apt knows it.
installed_suite() {
  policy_suite "$1" 1
}
# The backports suite an installed package's version says it came from ("…~bpo12+1": the
# backports of the release the host's sources give for it, e.g. bookworm-backports), when those
# sources no longer list that suite; nothing otherwise.
backports_suite() {
  local v release
  v=$(dpkg-query -W -f='${Version}' "$1" 2>/dev/null) || return 0
  [[ $v == *~bpo* ]] || return 0
  release=$(policy_suite "$1" 0)
  release=${release%-updates}; release=${release%-security}; release=${release%-backports}
  [ -z "$release" ] || echo "$release-backports"
}
# Offer suite $1 beside the host's sources, without touching them: apt reads the host's source
# files plus one for that suite, with its own lists and cache under $MIMIC_CACHE.
with_suite() {
  local dir="$MIMIC_CACHE/apt-host-$1" f
  private_apt "$dir" "$1"                       # sources.list for the suite, lists, cache
  mkdir -p "$dir/parts" && rm -f "$dir/parts"/*
  for f in /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] && ln -s "$f" "$dir/parts/"
  done
  [ -f /etc/apt/sources.list ] && ln -s /etc/apt/sources.list "$dir/parts/host.list"
  mv "$dir/sources.list" "$dir/parts/$1.list"
  APT=(apt-get -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$dir/parts"
       -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" -o APT::Sandbox::User=root)
  log "offering $1 beside the host's sources (private lists in $dir)"
  as_root "${APT[@]}" -o DPkg::Lock::Timeout=600 update -qq || log "warning: apt update with $1 reported errors"
}
# A dry run of `apt-get install ARGS…` (nothing is changed). Sets DRY_OK (1 if apt found a way),
# DRY_REMOVED (what it would remove), DRY_UNMET (the dependencies a failed run names: "Depends:
# NAME …"), DRY_BLOCKERS (the packages a failed run names on the left of its unmet
# dependencies: " NAME : Breaks: …", " NAME : Depends: …")
# and DRY_ERROR (its first "E:" line). A failed dry run is an answer, not the end of this script.
dry_run() {
  local out
  if out=$("${APT[@]}" -s -o Debug::NoLocking=1 install -y --no-install-recommends "$@" 2>&1); then DRY_OK=1; else DRY_OK=0; fi
  DRY_REMOVED=$(awk '$1=="Remv"{print $2}' <<<"$out" | sort -u)
  DRY_UNMET=$(grep -oE '(Pre)?Depends: [a-z0-9][a-z0-9.+-]*' <<<"$out" | awk '{print $2}' | sort -u || true)
  DRY_BLOCKERS=$(awk '/^ [a-z0-9][a-z0-9.+-]* : (Pre)?(Depends|Breaks|Conflicts): /{print $1}' <<<"$out" | sort -u)
  DRY_ERROR=$(grep -m1 '^E:' <<<"$out" || true)
}
# Whether the last dry run installs without removing anything.
dry_clean() { [ "$DRY_OK" = 1 ] && [ -z "$DRY_REMOVED" ]; }
# The installed packages the last dry run threatens: removed, or in the way of the install.
threatened() {
  local p
  for p in $DRY_REMOVED $DRY_BLOCKERS; do
    installed "$p" && echo "$p"
  done | sort -u
}

# apt must never remove or downgrade a package of the user's. A dry run first; if the plain
# install would remove one (say a qemu-utils from bookworm-backports, to make room for
# bookworm's older QEMU) or cannot go ahead because one is in its way, take the packages that cause
# it from the suite the threatened ones came from, with the dependencies apt says they need from
# there too (all of them, if that is not enough); if that still fails, stop and name the
# package. The real install runs with --no-remove (and without --allow-downgrades, so apt
# refuses any downgrade) whatever the dry run said.
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 hosts; install by hand: ${missing[*]}"
  log "installing with apt: ${missing[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  pkgs=("${missing[@]}")
  deps=()   # dependencies taken from the suite only because apt said so: marked automatic after
  dry_run "${pkgs[@]}"
  if ! dry_clean; then
    threat=$(threatened)
    if [ -n "$DRY_REMOVED" ]; then why="would remove"; else why="is blocked by"; fi
    suites=$(for p in $threat; do installed_suite "$p"; done | sort -u)
    if [ -z "$suites" ]; then
      # Their suite is not in the host's sources (here: a backports QEMU, no backports source).
      suites=$(for p in $threat; do backports_suite "$p"; done | sort -u)
      [ "$(echo "$suites" | grep -c .)" = 1 ] && with_suite "$suites"
    fi
    if [ "$(echo "$suites" | grep -c .)" = 1 ]; then
      log "installing ${missing[*]} from Debian's suite $why $(echo $threat) (installed from $suites): trying $suites"
      # Only the packages that cannot be installed alone cleanly (no removal, no failure) come from that suite
      # (pkg/suite), with what apt says they need from it; the rest, and what they pull in, stay
      # on the host's release — '-t SUITE' for all once upgraded systemd to install udev.
      pkgs=()
      for p in "${missing[@]}"; do
        dry_run "$p"
        if dry_clean; then pkgs+=("$p"); else pkgs+=("$p/$suites"); fi
      done
      for _ in 1 2 3 4 5 6; do
        dry_run "${pkgs[@]}"
        dry_clean && break
        added=0
        for d in $DRY_UNMET; do
          [[ " ${pkgs[*]} " == *" $d/$suites "* ]] && continue
          pkgs+=("$d/$suites"); deps+=("$d"); added=1
        done
        [ $added = 1 ] || break
      done
      if ! dry_clean; then
        pkgs=(-t "$suites" "${missing[@]}"); deps=()
        dry_run "${pkgs[@]}"
      fi
    fi
    if ! dry_clean; then
      [ -n "$DRY_REMOVED" ] && die "installing ${missing[*]} would remove your package(s) $(echo $DRY_REMOVED); nothing was changed. \
Install them in a way that keeps yours, e.g. 'apt-get install -t SUITE ${missing[*]}' with the suite your packages came from \
(apt-cache policy $(echo $DRY_REMOVED)), then run this again."
      die "apt cannot install ${missing[*]} beside your packages${threat:+ (in the way: $(echo $threat))}: ${DRY_ERROR:-its dry run failed}; nothing was changed. \
See 'apt-get install -s ${missing[*]}', then run this again."
    fi
  fi
  as_root env DEBIAN_FRONTEND=noninteractive "${APT[@]}" -o DPkg::Lock::Timeout=600 install -y \
    --no-install-recommends --no-remove "${pkgs[@]}"
  # What only a dependency needed stays marked as one (apt may remove it when nothing needs it).
  [ ${#deps[@]} -eq 0 ] || as_root apt-mark auto "${deps[@]}" >/dev/null
fi

VENV="$MIMIC_CACHE/venv"
VNG_VERSION=${VNG_VERSION:-}   # pin with VNG_VERSION=1.42 if a newer release misbehaves
if [ ! -x "$VENV/bin/vng" ]; then
  log "installing virtme-ng${VNG_VERSION:+==$VNG_VERSION} from PyPI into $VENV"
  mkdir -p "$MIMIC_CACHE"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "virtme-ng${VNG_VERSION:+==$VNG_VERSION}"
fi
log "ok: apt packages present, $("$VENV/bin/vng" --version 2>/dev/null) in $VENV"
