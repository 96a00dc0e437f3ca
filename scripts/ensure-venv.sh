#!/usr/bin/env bash
# Create .venv with the project and its development tools. On a bare Debian the venv
# module lives in the python3-venv package, so install it first when it is missing.
set -euo pipefail
PY=${PYTHON:-python3}
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
  ver=$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  "$(dirname "$0")/ensure-system-packages.sh" "python${ver}-venv"
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
