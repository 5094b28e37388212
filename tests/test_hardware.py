"""Peak FLOP/s: exact device kinds, per dtype; the CPU calibration only ever rises."""

import json

import pytest

from genbench.metrics import hardware


@pytest.mark.parametrize(
    ("kind", "float32", "bfloat16"),
    [
        ("NVIDIA L4", 60e12, 121e12),
        ("NVIDIA L40", 90.5e12, 181e12),
        ("NVIDIA L40S", 183e12, 362e12),
        ("NVIDIA H100 PCIe", 378e12, 756e12),
        ("NVIDIA H100 80GB HBM3", 494.7e12, 989.4e12),
        ("NVIDIA H200", 494.7e12, 989.4e12),
        ("NVIDIA A100-SXM4-40GB", 156e12, 312e12),
        ("Tesla T4", 8.1e12, None),
        ("TPU v5 lite", 197e12, 197e12),
        ("TPU v4", 275e12, 275e12),
    ],
)
def test_peaks_match_the_whole_device_kind(kind, float32, bfloat16):
    peak = hardware.device_peak(kind)
    assert (peak.float32, peak.bfloat16) == (float32, bfloat16)


@pytest.mark.parametrize("kind", ["NVIDIA L4X", "NVIDIA GeForce RTX 4090", "cpu"])
def test_unknown_devices_have_no_peak(kind):
    assert hardware.device_peak(kind) is None


def test_the_cpu_calibration_keeps_the_best_rate(tmp_path, monkeypatch):
    monkeypatch.setenv("GENBENCH_CACHE", str(tmp_path))
    rates = iter([2.0e11, 1.0e11, 3.0e11])
    monkeypatch.setattr(hardware, "measure_cpu_peak", lambda: next(rates))
    seen = []
    for _ in range(3):
        hardware._CALIBRATED.clear()  # a new process
        seen.append(hardware.calibrated_cpu_peak()[0])
    assert seen == [2.0e11, 2.0e11, 3.0e11]  # a slower measurement (under load) lowers nothing
    (entry,) = json.loads((tmp_path / hardware.CPU_PEAK_FILE).read_text()).values()
    assert entry["flops_per_s"] == 3.0e11 and len(entry["measured_on"]) == 10


def test_the_measured_cpu_peak_bounds_a_matmul_step():
    peak = hardware.measure_cpu_peak(size=256, calls=3)
    assert 1e8 < peak < 1e14
