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
if [ ${#missing[@]} -gt 0 ]; then
  command -v apt-get >/dev/null || die "apt-get not found: this script supports Debian 12 hosts; install by hand: ${missing[*]}"
  log "installing with apt: ${missing[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
    --no-install-recommends "${missing[@]}"
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
