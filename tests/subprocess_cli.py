"""``genbench`` in a fresh process, as a user runs it (no inherited device flags)."""

import os
import subprocess
import sys


def run_genbench(
    *args, cwd=None, timeout: int = 300, xla_flags: str | None = None, path: str | None = None
):
    """Runs ``python -m genbench ARGS`` in ``cwd`` and returns the ``CompletedProcess``.

    The tests' own ``XLA_FLAGS`` (four host devices) and ``JAX_PLATFORMS`` are not
    passed on; ``xla_flags`` sets the child's ``XLA_FLAGS`` instead, and ``path`` is put
    first on its ``PYTHONPATH`` (a plugin's modules).
    """
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([path, os.environ.get("PYTHONPATH", "")])
    env.pop("XLA_FLAGS", None)
    env.pop("JAX_PLATFORMS", None)
    if xla_flags is not None:
        env["XLA_FLAGS"] = xla_flags
    return subprocess.run(
        [sys.executable, "-m", "genbench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
