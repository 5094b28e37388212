"""``genbench`` in a fresh process, as a user runs it (no inherited device flags)."""

import os
import subprocess
import sys

# The tests' programs are tiny and compiled once each: LLVM's optimisation passes cost more
# than they save (about a third of the suite's CPU time). Numerics are IEEE either way.
TEST_XLA_FLAGS = "--xla_backend_optimization_level=0"


def run_genbench(
    *args, cwd=None, timeout: int = 300, xla_flags: str | None = None, path: str | None = None
):
    """Runs ``python -m genbench ARGS`` in ``cwd`` and returns the ``CompletedProcess``.

    The tests' own ``XLA_FLAGS`` (four host devices) and ``JAX_PLATFORMS`` are not
    passed on; the child gets only the tests' compile options (``TEST_XLA_FLAGS``),
    or ``xla_flags`` instead, and ``path`` is put first on its ``PYTHONPATH`` (a plugin's
    modules).
    """
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([path, os.environ.get("PYTHONPATH", "")])
    env.pop("JAX_PLATFORMS", None)
    env["XLA_FLAGS"] = TEST_XLA_FLAGS if xla_flags is None else xla_flags
    return subprocess.run(
        [sys.executable, "-m", "genbench", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
