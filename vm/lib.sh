# Shared helpers for the vm/ scripts (sourced, not run).
# Everything the lab downloads lives under $MIMIC_CACHE, never in the host's apt state.
MIMIC_CACHE=${MIMIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scx_mimic}
log() { printf '[%s] %s\n' "${0##*/}" "$*" >&2; }
die() { printf '[%s] error: %s\n' "${0##*/}" "$*" >&2; exit 2; }
# Run as root directly, otherwise through sudo (asked for only when something must be installed).
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Set up a private apt configuration for Debian suite $2 under folder $1 (own sources.list, lists
# and cache; the host's apt sources and status are never touched) and put the apt options in the
# ALT array:  private_apt "$MIMIC_CACHE/apt-trixie" trixie;  apt-get "${ALT[@]}" update
private_apt() {
  local dir=$1 suite=$2 mirror keyring=${DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
  mirror=${DEBIAN_MIRROR:-$( { awk '/^URIs:/{print $2}' /etc/apt/sources.list.d/*.sources 2>/dev/null;
                              awk '$1=="deb"{print $2}' /etc/apt/sources.list 2>/dev/null; } | grep -m1 '/debian/\?$' || true)}
  mirror=${mirror:-http://deb.debian.org/debian}
  [ -f "$keyring" ] || die "$keyring missing (apt install debian-archive-keyring)"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  echo "deb [signed-by=$keyring] $mirror $suite main" > "$dir/sources.list"
  APT_MIRROR=$mirror
  ALT=(-o Dir::Etc::SourceList="$dir/sources.list" -o Dir::Etc::SourceParts=/nonexistent
       -o Dir::State::Lists="$dir/lists" -o Dir::Cache="$dir/cache" -o Dir::State::status=/dev/null
       -o Debug::NoLocking=1 -o APT::Get::List-Cleanup=0 -o APT::Sandbox::User=root)
}
