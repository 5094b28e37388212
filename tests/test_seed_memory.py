"""A seed group too large for its devices is split into chunks that fit (issue 13, item 5)."""

from types import SimpleNamespace

import jax
import pytest
from test_parallel_seeds import assert_same_metrics, specs_of

from genbench.seed_runs import run_group
from genbench.train import seed_memory
from genbench.train.seed_group import SeedGroupStep
from genbench.train.seed_memory import GroupTooLarge, check_fits, program_bytes, seeds_that_fit


def analysis(arguments, outputs=0, temporaries=0, aliased=0):
    return SimpleNamespace(
        argument_size_in_bytes=arguments,
        output_size_in_bytes=outputs,
        temp_size_in_bytes=temporaries,
        alias_size_in_bytes=aliased,
    )


def test_program_bytes_and_the_seeds_that_fit():
    assert program_bytes(analysis(100, 40, 60, 40)) == 160  # donated outputs count once
    assert program_bytes(None) is None
    assert seeds_that_fit(needed=1000, seeds=10, free=450) == 4
    assert seeds_that_fit(needed=1000, seeds=10, free=50) == 1  # one seed always runs
    assert seeds_that_fit(needed=1000, seeds=10, free=5000) == 10


def test_check_fits_raises_with_the_seeds_that_fit():
    step = SimpleNamespace(parallel_seeds=8, memory_analysis=lambda: analysis(8000))
    with pytest.raises(GroupTooLarge) as raised:
        check_fits(step, jax.devices(), free=3000)
    assert raised.value.fits == 3 and "3 seeds at a time fit" in str(raised.value)
    check_fits(step, jax.devices(), free=8000)  # fits: nothing raised
    one = SimpleNamespace(parallel_seeds=1, memory_analysis=lambda: analysis(8000))
    check_fits(one, jax.devices(), free=10)  # a single seed is never split


def test_a_cpu_reports_its_hosts_free_memory():
    free = seed_memory.free_bytes(jax.devices()[:1])
    assert isinstance(free, int) and free > 0


def test_a_group_that_does_not_fit_runs_in_chunks_with_the_same_records(monkeypatch):
    specs = specs_of("vae", seeds=(0, 1, 2, 3))
    devices = jax.devices()[:1]
    whole = run_group(specs, devices=devices, measure_throughput=False)
    # A device with room for 2.5 seeds of a footprint of 1000 bytes a seed.
    compiled_sizes = []

    def footprint(step):
        compiled_sizes.append(step.parallel_seeds)
        return analysis(1000 * step.parallel_seeds)

    monkeypatch.setattr(SeedGroupStep, "memory_analysis", footprint)
    monkeypatch.setattr(seed_memory, "free_bytes", lambda devices: 2500)
    chunked = run_group(specs, devices=devices, measure_throughput=False)
    assert compiled_sizes == [4, 2, 2]  # the group of 4 did not fit, its halves did
    assert [r.seed for r in chunked] == [0, 1, 2, 3]
    assert all(r.status == "ok" for r in chunked)
    for split, one in zip(chunked, whole, strict=True):
        assert split.run_key == one.run_key
        assert_same_metrics(split.metrics, one.metrics)
