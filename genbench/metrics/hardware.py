"""Peak FLOP/s of the device a run uses: a table for accelerators, a measurement on CPU."""

from __future__ import annotations

import functools
import statistics
import time

import jax

# Dense float32 peak FLOP/s per device (TF32 tensor cores where XLA uses them for f32
# matmuls by default), from the vendors' data sheets; the first matching prefix wins.
F32_PEAK_FLOPS = {
    "NVIDIA H200": 494.7e12,
    "NVIDIA H100": 494.7e12,
    "NVIDIA A100": 156e12,
    "NVIDIA L4": 60e12,
    "NVIDIA A10": 62.5e12,
    "Tesla V100": 15.7e12,
    "Tesla T4": 8.1e12,
    "TPU v5 lite": 197e12,
    "TPU v5": 459e12,
    "TPU v4": 275e12,
    "TPU v6": 918e12,
}


@functools.cache
def measured_cpu_peak_flops(size: int = 1024, calls: int = 10) -> float:
    """Median FLOP/s of a jitted ``size`` x ``size`` float32 matmul on the default device."""
    a = jax.random.normal(jax.random.key(0), (size, size))
    matmul = jax.jit(lambda x: x @ x)
    matmul(a).block_until_ready()
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        matmul(a).block_until_ready()
        times.append(time.perf_counter() - start)
    return 2 * size**3 / statistics.median(times)


def peak_flops() -> tuple[float | None, str]:
    """Peak FLOP/s of the whole mesh and where the number comes from.

    On accelerators the table value times the device count; on CPU the host
    devices share the same cores, so the measured matmul rate of the process.
    """
    device = jax.devices()[0]
    if device.platform == "cpu":
        return measured_cpu_peak_flops(), "measured_matmul"
    for prefix, value in F32_PEAK_FLOPS.items():
        if device.device_kind.startswith(prefix):
            return value * jax.device_count(), "table_f32"
    return None, "unknown_device"
