"""Peak FLOP/s of the device a run uses: a table for accelerators, a calibration on CPU.

Utilisation (``mfu``, ``hfu``) divides a step's FLOP rate by this peak, so the
peak must be an upper bound of what the device can do, never a sample of what
it happened to do under load:

- accelerators: the vendors' dense (no sparsity) peaks, keyed by the exact
  device kind and the compute dtype;
- CPU: the best rate of several timed matrix products with each of XLA:CPU's
  dot libraries, cached per machine with its date and raised whenever a later
  process measures more (``calibrated_cpu_peak``).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import re
import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp

from genbench.atomic import atomic_write
from genbench.cache import cache_dir
from genbench.models.fast.cpu_dots import CPU_DOT_OPTIONS


@dataclass(frozen=True)
class DevicePeak:
    """Dense peak FLOP/s of one device per compute dtype (``None``: not supported)."""

    float32: float | None
    bfloat16: float | None


# Exact device kinds (as jax reports them) -> dense peaks from the vendors' data sheets.
# NVIDIA float32: TF32 tensor cores, which XLA uses for float32 matmuls at its default
# precision (V100 and T4 have none: their CUDA-core float32 peak). TPU float32: at the
# default precision a float32 matmul runs as bfloat16 passes on the MXU, so its peak is
# the bfloat16 one.
_NVIDIA_H100_SXM = DevicePeak(494.7e12, 989.4e12)
DEVICE_PEAKS: tuple[tuple[str, DevicePeak], ...] = (
    (r"NVIDIA H200( NVL)?", _NVIDIA_H100_SXM),
    (r"NVIDIA H100 PCIe", DevicePeak(378e12, 756e12)),
    (r"NVIDIA H100( 80GB HBM3| SXM5?.*)?", _NVIDIA_H100_SXM),
    (r"NVIDIA A100[- ].*|NVIDIA A100", DevicePeak(156e12, 312e12)),
    (r"NVIDIA L40S", DevicePeak(183e12, 362e12)),
    (r"NVIDIA L40", DevicePeak(90.5e12, 181e12)),
    (r"NVIDIA L4", DevicePeak(60e12, 121e12)),
    (r"NVIDIA A10", DevicePeak(62.5e12, 125e12)),
    (r"Tesla V100.*", DevicePeak(15.7e12, None)),
    (r"Tesla T4", DevicePeak(8.1e12, None)),
    (r"TPU v4", DevicePeak(275e12, 275e12)),
    (r"TPU v5 ?lite|TPU v5e", DevicePeak(197e12, 197e12)),
    (r"TPU v5p?", DevicePeak(459e12, 459e12)),
    (r"TPU v6 ?lite|TPU v6e", DevicePeak(918e12, 918e12)),
)

CPU_PEAK_FILE = "cpu_peak_flops.json"
CPU_MATMUL_SIZE = 1024  # large enough to run at the dot library's full rate on CPU
CPU_TIMED_CALLS = 12  # per dot library; the fastest counts


def device_peak(device_kind: str) -> DevicePeak | None:
    """The table's peaks of ``device_kind`` (matched whole, so ``NVIDIA L4`` is not an L40)."""
    for pattern, peak in DEVICE_PEAKS:
        if re.fullmatch(pattern, device_kind.strip()):
            return peak
    return None


def _best_matmul_rate(size: int, calls: int, options: dict) -> float:
    """The fastest of ``calls`` timed ``size``² float32 products with XLA options ``options``."""
    a = jax.random.normal(jax.random.key(0), (size, size), jnp.float32)
    try:
        matmul = jax.jit(lambda x: x @ x).lower(a).compile(compiler_options=options or None)
    except Exception:  # a jaxlib that does not know the option: its default library only
        matmul = jax.jit(lambda x: x @ x).lower(a).compile()
    matmul(a).block_until_ready()
    best = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        matmul(a).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def measure_cpu_peak(size: int = CPU_MATMUL_SIZE, calls: int = CPU_TIMED_CALLS) -> float:
    """The best float32 matmul FLOP/s of this process's CPU device over both dot libraries."""
    return max(_best_matmul_rate(size, calls, o) for o in CPU_DOT_OPTIONS.values())


def _machine_key() -> str:
    """What a CPU calibration depends on: processor, the CPUs this process may use (XLA's
    thread pool), host devices, jaxlib."""
    import jaxlib

    from genbench.runtime import usable_cpus

    processor = platform.processor() or platform.machine()
    cpus = f"{os.cpu_count()}/{usable_cpus()}"
    return f"{processor}|{cpus}|{jax.device_count()}|jaxlib {jaxlib.__version__}"


def _read_calibrations(path: Path) -> dict:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


_CALIBRATED: dict[str, tuple[float, str]] = {}


def calibrated_cpu_peak() -> tuple[float, str]:
    """This machine's CPU peak FLOP/s and the date it was measured.

    Measured once per process (``measure_cpu_peak``) and kept in
    ``$GENBENCH_CACHE/cpu_peak_flops.json`` per machine key: the peak is the
    best rate any process measured there, so a measurement under load lowers
    nothing.
    """
    key = _machine_key()
    if key in _CALIBRATED:
        return _CALIBRATED[key]
    path = cache_dir() / CPU_PEAK_FILE
    stored = _read_calibrations(path)
    fresh = measure_cpu_peak()
    previous = stored.get(key) or {}
    if fresh > float(previous.get("flops_per_s", 0.0)):
        today = datetime.date.today().isoformat()
        stored[key] = {"flops_per_s": fresh, "measured_on": today}
        # A read-only cache: this process's measurement still counts.
        with contextlib.suppress(OSError):
            atomic_write(path, json.dumps(stored, indent=1, sort_keys=True), make_parents=True)
        previous = stored[key]
    _CALIBRATED[key] = (float(previous["flops_per_s"]), str(previous["measured_on"]))
    return _CALIBRATED[key]


def peak_flops(dtype: str = "float32") -> tuple[float | None, str]:
    """Peak FLOP/s of the whole mesh for ``dtype`` compute, and where the number comes from.

    On accelerators the table value times the device count; on CPU the host
    devices share the same cores, so the calibrated rate of the machine.

    Returns:
      ``(peak or None, source)``; source is ``table_<dtype>``,
      ``cpu_calibrated_<date>`` or ``unknown_device``.
    """
    device = jax.devices()[0]
    if device.platform == "cpu":
        peak, measured_on = calibrated_cpu_peak()
        return peak, f"cpu_calibrated_{measured_on}"
    found = device_peak(device.device_kind)
    value = getattr(found, dtype, None) if found is not None else None
    if value is None:
        return None, "unknown_device"
    return value * jax.device_count(), f"table_{dtype}"
