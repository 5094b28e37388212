"""``genbench`` in a fresh process, as a user runs it (no inherited device flags)."""

import os
import subprocess
import sys

# The tests' programs are small and compiled once each: LLVM's full optimisation costs more
# than it saves. Level 1, not 0: at 0 a convolution's loops run 20x slower (the conv GAN's
# 20 steps took 15 s instead of 0.7 s), and the suite took 660 s against 600 s at level 1 on
# 2 quiet cores. XLA:CPU's older elemental emitters compile about 30 % faster than its fusion
# emitters (62 model and GAN tests: 160 s against 225 s). Numerics are IEEE either way.
_FAST_COMPILE = "--xla_backend_optimization_level=1"
_ELEMENTAL_EMITTERS = "--xla_cpu_use_fusion_emitters=false"
_PROBED = "GENBENCH_TEST_XLA_FLAGS"  # the probe's answer, inherited by workers and children


def _test_xla_flags() -> str:
    """The compile options, with the emitter flag only where this jaxlib knows it (an
    unknown XLA flag aborts the process): probed once per test session in a child."""
    if _PROBED not in os.environ:
        probe = subprocess.run(
            [sys.executable, "-c", "import jax; jax.devices()"],
            env={**os.environ, "XLA_FLAGS": _ELEMENTAL_EMITTERS, "JAX_PLATFORMS": "cpu"},
            capture_output=True,
            timeout=120,
        )
        known = probe.returncode == 0
        os.environ[_PROBED] = f"{_FAST_COMPILE} {_ELEMENTAL_EMITTERS}" if known else _FAST_COMPILE
    return os.environ[_PROBED]


TEST_XLA_FLAGS = _test_xla_flags()


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
