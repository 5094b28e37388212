"""How many seeds one program trains when ``--parallel-seeds`` names no size.

A seed group's program maps the shared step over a seed axis. Where a family's step
is already compute-bound on one seed, the group saves only the fixed costs of the
loop and the operations, and loses more: its products become batched products over
the seed axis, and the optimiser's updates stream every seed's state where one seed's
stays in cache (``benchmarks/README.md``, "seeds in parallel": XLA:CPU's profile of
each case). So on CPU the GAN and the transformer train in small groups by default;
an explicit size (``--parallel-seeds S``, ``--seed-chunk K``) is taken as given.
"""

from __future__ import annotations

# platform -> {model family -> the most seeds per program when no size is given},
# from benchmarks/test_parallel_seeds.py on 2 CPU cores (seeds per second of a group
# over sequential runs): the gan2d PacGAN2 step 1.05x at 2 seeds, 0.94x at 5, 0.88x at
# 10; the Markov transformer 0.93x at 2. The digits VAE (1.19x at 5, 1.21x at 10) and
# the families not measured train as whole groups.
WHOLE_GROUP_LIMITS: dict[str, dict[str, int]] = {"cpu": {"gan": 2, "transformer": 1}}


def whole_group_limit(family: str, platform: str | None = None) -> int | None:
    """The most seeds of ``family`` one program trains on ``platform`` by default.

    Args:
      family: a registered model name.
      platform: a JAX platform; None: JAX's default backend.

    Returns:
      The limit, or None where whole groups train as one program.
    """
    if platform is None:
        import jax

        platform = jax.default_backend()
    return WHOLE_GROUP_LIMITS.get(platform, {}).get(family)
