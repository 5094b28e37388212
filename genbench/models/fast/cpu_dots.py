"""XLA:CPU's matrix-product library for the compiled training step (``train.cpu_dots``).

jaxlib 0.10 sends single dots to YNNPACK by default. For small dense networks
Eigen's multithreaded contraction was faster: the VAE and GAN benchmark steps
ran 7-16% faster on 2 cores with every dot left to XLA's Eigen emitter, while
the transformer's larger products were 4-9% slower (paired whole-step
comparisons; ``benchmarks/README.md``). The families' defaults are in
``genbench.models.fast.CPU_DOTS_BY_FAMILY``. The option is an experimental XLA
flag, so it is passed to the training step's compilation only, never set for
the process.
"""

from __future__ import annotations

# Compiler options per library: an empty YNNPACK fusion list leaves every dot to
# XLA's Eigen-based emitter.
CPU_DOT_OPTIONS: dict[str, dict[str, str]] = {
    "ynnpack": {},
    "eigen": {"xla_cpu_experimental_ynn_fusion_type": ""},
}


def cpu_dot_options(library: str, platform: str) -> dict[str, str]:
    """The compiler options that give a step compiled for ``platform`` the dot ``library``.

    Args:
      library: ``"ynnpack"`` (XLA's default) or ``"eigen"``.
      platform: the platform of the step's devices; only ``"cpu"`` takes options.

    Returns:
      XLA compiler options (empty: XLA's defaults).
    """
    return dict(CPU_DOT_OPTIONS[library]) if platform == "cpu" else {}
