#!/usr/bin/env bash
# Install what Tocsin needs into .venv, then serve on the embedded SQLite database
# with the ready example, which is created on the first start.
#
# Data is kept in .tocsin/ of this checkout unless TOCSIN_HOME names another folder.
# Extra arguments go to `tocsin serve`, for example --port 4600.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
export TOCSIN_HOME="${TOCSIN_HOME:-$root/.tocsin}"
exec "$root/.venv/bin/tocsin" serve --example "$@"
