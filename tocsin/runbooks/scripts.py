"""aws:executeScript: the step's Python script in a separate process with time and memory limits.

The script runs in a fresh interpreter (``python -I``), so a script that
hangs, crashes or exhausts its memory fails its own step and leaves the
worker that started it unharmed. The interpreter starts in an empty
temporary folder without the server's environment variables, so it cannot
read TOCSIN_* settings such as the secret key. The interpreter reads the script, the
handler name and the input payload as JSON on standard input and writes the
handler's return value as JSON on standard output.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

# python3.6 to python3.99, as aws:executeScript names its Python runtimes.
PYTHON_RUNTIME = re.compile(r"^python3\.\d{1,2}$")
# Maximum size of a script's result as JSON, in bytes; a larger result fails the step.
MAX_RESULT_BYTES = 1024 * 1024

# The child limits its own address space before it runs the script, and keeps
# what the script prints in memory that the limit covers, so standard output
# carries only the result and standard error only the failure.
_BOOTSTRAP = """
import io, json, resource, sys
request = json.loads(sys.stdin.read())
limit = request["memory_bytes"]
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
out, err = sys.stdout, sys.stderr
sys.stdout = sys.stderr = io.StringIO()
try:
    namespace = {"__name__": "__runbook__"}
    exec(compile(request["script"], "<script>", "exec"), namespace)
    handler = namespace.get(request["handler"])
    if not callable(handler):
        raise NameError("the script defines no function named " + repr(request["handler"]))
    text = json.dumps({"result": handler(request["payload"], request["context"])}, default=str)
except BaseException as exc:
    sys.stdout = sys.stderr = None
    err.write(type(exc).__name__ + ": " + str(exc)[:2000])
    err.flush()
    sys.exit(1)
out.write(text)
"""


@dataclass(frozen=True)
class ScriptOutcome:
    """The handler's return value, or why the script failed."""

    result: Any = None
    error: str | None = None
    timed_out: bool = False


def scripts_allowed(accounts_setting: str, account_id: str) -> bool:
    """Return whether the automation_script_accounts setting lets ``account_id`` run scripts."""
    if accounts_setting == "*":
        return True
    return account_id in accounts_setting.split(",")


def scripts_disabled_message(account_id: str) -> str:
    return (
        f"aws:executeScript is disabled for account {account_id}: scripts run as the server's "
        "operating-system user, and the operator allows them only for the accounts in "
        "TOCSIN_AUTOMATION_SCRIPT_ACCOUNTS."
    )


def run_script(
    script: str,
    handler: str,
    payload: Any,
    context: dict[str, Any],
    *,
    timeout_seconds: float,
    memory_bytes: int,
) -> ScriptOutcome:
    """Run ``handler(payload, context)`` of ``script`` in a child interpreter."""
    request = json.dumps(
        {
            "script": script,
            "handler": handler,
            "payload": payload,
            "context": context,
            "memory_bytes": memory_bytes,
        },
        default=str,
    )
    try:
        with tempfile.TemporaryDirectory(prefix="tocsin-script-") as workdir:
            completed = subprocess.run(
                [sys.executable, "-I", "-c", _BOOTSTRAP],
                input=request.encode("utf-8"),
                capture_output=True,
                timeout=timeout_seconds,
                check=False,
                cwd=workdir,
                env=_child_environment(),
            )
    except subprocess.TimeoutExpired:
        logger.warning("script handler %s timed out after %s seconds", handler, timeout_seconds)
        return ScriptOutcome(
            error=f"The script did not finish within {timeout_seconds:g} seconds and was stopped.",
            timed_out=True,
        )
    stderr = completed.stderr[-4000:].decode("utf-8", "replace").strip()
    if completed.returncode != 0:
        if "MemoryError" in stderr or completed.returncode < 0:
            return ScriptOutcome(
                error=f"The script exceeded its memory limit of {memory_bytes // (1024 * 1024)} "
                f"MiB or was killed (exit code {completed.returncode}): {_last_line(stderr)}"
            )
        return ScriptOutcome(error=f"The script failed: {_last_line(stderr)}")
    if len(completed.stdout) > MAX_RESULT_BYTES:
        return ScriptOutcome(
            error=f"The script's result is larger than {MAX_RESULT_BYTES // 1024} KiB as JSON."
        )
    try:
        result = json.loads(completed.stdout)["result"]
    except (ValueError, KeyError, IndexError):
        return ScriptOutcome(error="The script's handler returned a value that is not JSON.")
    return ScriptOutcome(result=result)


def _child_environment() -> dict[str, str]:
    """Return the environment of a script: none of the server's settings or secrets.

    NOTE: the script still runs as the server's operating-system user and can
    read what that user can read, such as the data directory. Operators who
    do not trust every account's runbook authors limit scripts to trusted
    accounts with the automation_script_accounts setting.
    """
    return {
        name: os.environ[name] for name in ("PATH", "LANG", "LC_ALL", "TZ") if name in os.environ
    }


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no error output"
