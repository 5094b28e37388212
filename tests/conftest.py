"""Test set-up: four host devices, forced once before jax is imported.

Strict dtype promotion (equinox's habit) is not switched on: optax's Adam
raises a float to an int32 step count, which strict promotion refuses.
"""

import os
import re
import shutil
import tempfile

from subprocess_cli import TEST_XLA_FLAGS

_FLAG = "--xla_force_host_platform_device_count"
os.environ["XLA_FLAGS"] = (
    re.sub(rf"{_FLAG}=\d+", "", os.environ.get("XLA_FLAGS", "")) + f" {_FLAG}=4 {TEST_XLA_FLAGS}"
).strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")

# The feature classifier of the sample-quality metrics is cached once per test session,
# away from the user's cache.
os.environ["GENBENCH_CACHE"] = tempfile.mkdtemp(prefix="genbench-test-cache-")

# Compiled programs are shared by every process of one test run (xdist workers and the
# CLI's subprocesses inherit this environment) through JAX's persistent compilation cache:
# the tests compile the same steps and metrics again and again, and a cache hit returns
# the very executable, so numbers do not change. A size limit turns on JAX's file lock,
# so that processes never read an entry another one is still writing.
# The process that sets the directory (pytest's main process; xdist workers inherit it)
# removes it when the session ends.
_XLA_CACHE = None
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    _XLA_CACHE = tempfile.mkdtemp(prefix="genbench-test-xla-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _XLA_CACHE
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0.1")
os.environ.setdefault("JAX_COMPILATION_CACHE_MAX_SIZE", str(4 * 2**30))

# Start the backend now, with those four devices: an in-process CLI call (``main([...])``)
# sets XLA_FLAGS to its own CPU default, which must not reach a backend started later.
import jax  # noqa: E402

assert jax.device_count() == 4


def pytest_sessionfinish(session):
    if _XLA_CACHE is not None:
        shutil.rmtree(_XLA_CACHE, ignore_errors=True)
