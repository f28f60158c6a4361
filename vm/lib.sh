# Shared helpers for the vm/ scripts (sourced, not run).
# Everything the lab downloads lives under $MIMIC_CACHE, never in the host's apt state.
MIMIC_CACHE=${MIMIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scx_mimic}
log() { printf '[%s] %s\n' "${0##*/}" "$*" >&2; }
die() { printf '[%s] error: %s\n' "${0##*/}" "$*" >&2; exit 2; }
# Run as root directly, otherwise through sudo (asked for only when something must be installed).
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
