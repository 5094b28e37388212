"""How many seeds of a group fit on a device, from the compiled program's memory analysis.

A seed group's program holds every seed's parameters, optimiser state and activations
(the data is shared), so its footprint grows about linearly with the number of seeds.
After the group's call is compiled, ``check_fits`` compares XLA's analysis of it with
what the device has free; a group that does not fit raises ``GroupTooLarge`` with the
number of seeds that would, and the caller trains the group in chunks of that size
(``genbench.seed_runs.run_group``). The explicit alternative is ``--seed-chunk K``.
"""

from __future__ import annotations

import os

import jax

# Room left for what the analysis does not see (the runtime, evaluation, fragmentation).
FREE_FRACTION = 0.9


class GroupTooLarge(Exception):
    """A seed group whose compiled call needs more memory than its device has free.

    Attributes:
      fits: the largest number of seeds estimated to fit (at least 1).
      needed, free: the call's bytes per device and the device's free bytes.
    """

    def __init__(self, fits: int, needed: int, free: int):
        super().__init__(
            f"the seed group needs {needed / 2**20:.0f} MiB per device, "
            f"{free / 2**20:.0f} MiB are free: {fits} seeds at a time fit"
        )
        self.fits, self.needed, self.free = fits, needed, free


def program_bytes(analysis) -> int | None:
    """Bytes a compiled program needs on each device (arguments, outputs and temporaries,
    less the outputs that reuse donated arguments), from its ``memory_analysis()``."""
    if analysis is None:
        return None
    total = (
        analysis.argument_size_in_bytes
        + analysis.output_size_in_bytes
        + analysis.temp_size_in_bytes
        - analysis.alias_size_in_bytes
    )
    return int(total)


def free_bytes(devices) -> int | None:
    """The least memory free on any of ``devices``, times ``FREE_FRACTION``.

    Accelerators report ``bytes_limit`` and ``bytes_in_use`` (``memory_stats()``); a
    CPU reports nothing, and its free memory is the host's available physical memory.
    None where neither is known.
    """
    free = []
    for device in devices:
        stats = device.memory_stats() or {}
        if "bytes_limit" in stats:
            free.append(stats["bytes_limit"] - stats.get("bytes_in_use", 0))
        elif device.platform == "cpu" and (host := _host_available()) is not None:
            free.append(host)
    return int(min(free) * FREE_FRACTION) if free else None


def _host_available() -> int | None:
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return None


def seeds_that_fit(needed: int, seeds: int, free: int) -> int:
    """How many of ``seeds`` fit in ``free`` bytes when all of them need ``needed`` (the
    footprint taken as linear in the number of seeds); at least 1, at most ``seeds``."""
    per_seed = needed / seeds
    return max(1, min(seeds, int(free // per_seed)))


def check_fits(step, devices, free: int | None = None) -> None:
    """Raises ``GroupTooLarge`` where the compiled call of ``step`` (a ``SeedGroupStep``)
    needs more than the free memory of ``devices`` (``free_bytes``, unless given).

    A group of one seed, or a call or device whose memory is unknown, always passes.
    """
    seeds = step.parallel_seeds
    needed = program_bytes(step.memory_analysis())
    free = free_bytes(devices) if free is None else free
    if seeds < 2 or needed is None or free is None or needed <= free:
        return
    raise GroupTooLarge(seeds_that_fit(needed, seeds, free), needed, free)


def local_devices(mesh) -> list[jax.Device]:
    """The devices of ``mesh`` that this process addresses."""
    return [d for d in mesh.devices.flat if d.process_index == jax.process_index()]
