#!/usr/bin/env bash
# Run tools/sklearn_compare.py in a venv with scikit-learn and pyarrow (from PyPI, under
# $MIMIC_CACHE). If PyPI cannot be reached and the venv is not there yet, say so and skip.
set -uo pipefail
MIMIC_CACHE=${MIMIC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/scx_mimic}
V="$MIMIC_CACHE/sklearn-venv"
# MIMIC_PYTHON: a python that already has scikit-learn and pyarrow (the Nix train app sets it).
if [ -n "${MIMIC_PYTHON:-}" ]; then exec "$MIMIC_PYTHON" "$(dirname "$0")/sklearn_compare.py" "$@"; fi
if [ ! -x "$V/bin/python" ] || ! "$V/bin/python" -c 'import sklearn, pyarrow' 2>/dev/null; then
  python3 -m venv "$V" && "$V/bin/pip" install -q --disable-pip-version-check scikit-learn pyarrow numpy || {
    echo "sklearn-compare: cannot install scikit-learn from PyPI (offline?): comparison skipped" >&2; exit 0; }
fi
exec "$V/bin/python" "$(dirname "$0")/sklearn_compare.py" "$@"
