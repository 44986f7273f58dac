#!/usr/bin/env bash
# Install what the tests need into .venv, then run the format check, the
# linter, the type checker and the whole test suite on SQLite and PostgreSQL.
#
# Extra arguments go to pytest. Test files run in parallel processes, one per
# CPU unless TOCSIN_TEST_PROCESSES sets the number (0 runs them in this
# process). Each file stays in one process, so module fixtures are built once.
# PostgreSQL tests use 127.0.0.1:5432 (database test, user postgres). Without
# that server they skip, or fail when CI=true.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$root/scripts/bootstrap.sh"
cd "$root"

echo "== ruff format --check" >&2
.venv/bin/ruff format --check tocsin tests bench
echo "== ruff check" >&2
.venv/bin/ruff check tocsin tests bench
echo "== mypy (strict)" >&2
.venv/bin/mypy
echo "== pytest" >&2
exec .venv/bin/pytest -n "${TOCSIN_TEST_PROCESSES:-auto}" --dist loadfile "$@"
