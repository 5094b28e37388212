"""Test set-up: four host devices, forced once before jax is imported.

Strict dtype promotion (equinox's habit) is not switched on: optax's Adam
raises a float to an int32 step count, which strict promotion refuses.
"""

import os
import re
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

# Start the backend now, with those four devices: an in-process CLI call (``main([...])``)
# sets XLA_FLAGS to its own CPU default, which must not reach a backend started later.
import jax  # noqa: E402

assert jax.device_count() == 4
