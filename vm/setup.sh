#!/usr/bin/env bash
# Install what the lab needs on a Debian 12 (bookworm) host, idempotently:
#   apt:  clang-19 (BPF, clang >= 18), libelf/libseccomp/zlib/zstd headers, pkg-config,
#         qemu-system-x86, busybox-static, udev (without it vng cannot return the guest's exit
#         code), kmod, stress-ng, bpftool, linux-perf, rt-tests, python3-venv
#   pip:  virtme-ng, into a venv under $MIMIC_CACHE (Debian 12 has none; PyPI's ships a static init)
# It never edits the host's apt sources. Prints nothing but a summary when all is present.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

APT_PKGS=(clang-19 llvm-19 libelf-dev libseccomp-dev zlib1g-dev libzstd-dev pkg-config
          qemu-system-x86 busybox-static udev kmod stress-ng bpftool linux-perf rt-tests
          python3-venv ca-certificates fonts-dejavu-core)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The suite (e.g. bookworm-backports) that installed package $1 came from, if apt knows it.
installed_suite() {
  apt-cache policy "$1" 2>/dev/null | awk '/^ \*\*\* /{mine=1; next} mine && /^ +[0-9]+ / && $2 !~ /dpkg\/status/ {split($3, a, "/"); print a[1]; exit} /^     [^ ]/{mine=0}'
}
# The packages `apt-get install ARGS…` would remove (a dry run: nothing is changed).
would_remove() {
  apt-get -s -o Debug::NoLocking=1 install -y --no-install-recommends "$@" 2>/dev/null | awk '$1=="Remv"{print $2}' | sort -u
}

# apt must never remove or downgrade a package of the user's. A dry run first; if the plain
# install would remove something (say a qemu-utils from bookworm-backports, to make room for
# bookworm's older QEMU), take the packages from the suite the threatened ones came from; if
# that still removes something, stop and name it. The real install runs with --no-remove (and
# without --allow-downgrades, so apt refuses any downgrade) whatever the dry run said.
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 hosts; install by hand: ${missing[*]}"
  log "installing with apt: ${missing[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  target=()
  removed=$(would_remove "${missing[@]}")
  if [ -n "$removed" ]; then
    suites=$(for p in $removed; do installed_suite "$p"; done | sort -u)
    if [ "$(echo "$suites" | grep -c .)" = 1 ]; then
      log "installing ${missing[*]} from Debian's suite would remove $(echo $removed) (installed from $suites): trying $suites"
      target=(-t "$suites")
      removed=$(would_remove "${target[@]}" "${missing[@]}")
    fi
    [ -z "$removed" ] || die "installing ${missing[*]} would remove your package(s) $(echo $removed); nothing was changed. \
Install them in a way that keeps yours, e.g. 'apt-get install -t SUITE ${missing[*]}' with the suite your packages came from \
(apt-cache policy $(echo $removed)), then run this again."
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
    --no-install-recommends --no-remove "${target[@]}" "${missing[@]}"
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
