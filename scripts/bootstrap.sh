#!/usr/bin/env bash
# Create or refresh the project's virtual environment in .venv.
#
# Reinstalls only when pyproject.toml changed since the last install, so the
# start and test commands stay fast after the first run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"

python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    for candidate in python3.13 python3.12 python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            python="$candidate"
            break
        fi
    done
fi
if [[ -z "$python" ]]; then
    echo "bootstrap: Python 3.11 or newer is required; set PYTHON to its path" >&2
    exit 1
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "bootstrap: creating $venv with $python" >&2
    "$python" -m venv "$venv"
fi

stamp="$venv/.tocsin-installed"
wanted="$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$wanted" ]]; then
    echo "bootstrap: installing Tocsin and its dependencies into $venv" >&2
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e "$root[dev]"
    echo "$wanted" >"$stamp"
fi
