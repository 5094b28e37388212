"""peak_memory_bytes: an accelerator's allocator peak, or the compiled step's footprint on CPU."""

from types import SimpleNamespace

import jax

from genbench.metrics import throughput


class FakeDevice:
    """A device whose ``memory_stats()`` returns ``stats`` (None as on XLA:CPU)."""

    def __init__(self, stats):
        self.stats = stats

    def memory_stats(self):
        return self.stats


def test_the_busiest_accelerator_counts():
    devices = [
        FakeDevice({"bytes_in_use": 5, "peak_bytes_in_use": 700}),
        FakeDevice({"bytes_in_use": 9, "peak_bytes_in_use": 900}),
    ]
    assert throughput.device_peak_bytes(devices) == 900


def test_devices_without_statistics_give_none():
    assert throughput.device_peak_bytes([FakeDevice(None), FakeDevice({})]) is None


def test_on_cpu_the_step_footprint_less_donated_bytes():
    analysis = SimpleNamespace(
        argument_size_in_bytes=1000,
        output_size_in_bytes=300,
        temp_size_in_bytes=50,
        alias_size_in_bytes=200,
    )
    step_fn = SimpleNamespace(memory_analysis=lambda: analysis)
    assert all(d.memory_stats() is None for d in jax.local_devices())  # XLA:CPU: no statistics
    assert throughput.peak_memory_bytes(step_fn) == 1000 + 300 + 50 - 200


def test_an_accelerator_peak_wins_over_the_footprint(monkeypatch):
    monkeypatch.setattr(
        throughput.jax, "local_devices", lambda: [FakeDevice({"peak_bytes_in_use": 12345})]
    )
    step_fn = SimpleNamespace(memory_analysis=lambda: None)
    assert throughput.peak_memory_bytes(step_fn) == 12345
