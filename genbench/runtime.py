"""Process set-up before jax is imported (platform, CPU device count) and the run environment."""

from __future__ import annotations

import functools
import os
import platform
import re
import subprocess
from pathlib import Path

# Host devices per process on CPU. One device per core splits the batch over
# the cores (DESIGN §3); it measured no faster for the small VAE here, so the
# default is 1 (see results/ for the measurement); --cpu-devices overrides it.
DEFAULT_CPU_DEVICES = 1
_FLAG = "--xla_force_host_platform_device_count"


BACKENDS = {"cpu": "cpu", "gpu": "cuda", "cuda": "cuda", "tpu": "tpu"}  # name -> JAX platform


def cpu_device_count(cpu_devices: int | None, xla_flags: str) -> int:
    """The host device count: ``--cpu-devices`` when given, else the count in the user's
    ``XLA_FLAGS``, else ``DEFAULT_CPU_DEVICES``."""
    if cpu_devices is not None:
        return cpu_devices
    found = re.findall(rf"{_FLAG}=(\d+)", xla_flags)
    return int(found[-1]) if found else DEFAULT_CPU_DEVICES


def configure(backend: str | None = None, cpu_devices: int | None = None) -> None:
    """Sets JAX's platform and the CPU device count; must run before jax is imported.

    A JAX user's environment is honoured: the device count of ``XLA_FLAGS`` stands
    unless ``cpu_devices`` is given (DESIGN §7).
    """
    if backend is not None:
        os.environ["JAX_PLATFORMS"] = BACKENDS[backend]
    flags = os.environ.get("XLA_FLAGS", "")
    count = cpu_device_count(cpu_devices, flags)
    flags = re.sub(rf"{_FLAG}=\d+", "", flags).strip()
    os.environ["XLA_FLAGS"] = f"{flags} {_FLAG}={count}".strip()
    usable_cpus()  # before jax sizes its thread pool from it


@functools.cache
def usable_cpus() -> int | None:
    """How many CPUs this process may run on (its affinity mask) when first asked, or None
    where the platform cannot tell.

    XLA:CPU sizes its thread pool from this count, and how a large matrix product is split
    over those threads changes its float32 rounding: a GAN pinned to one core
    (``taskset -c 0``) leaves the trajectory of the same seed run with two cores within
    1,000 steps. The record keeps the count so that a rerun can match it. Read once per
    process (``configure`` asks before jax starts), so a process pinned later still
    records the pool it started with."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity masks (macOS, Windows)
        return None


# The instruction-set extensions that choose the CPU kernels of Eigen's matrix products
# (dispatched at run time), so a record names the ones its host had.
CPU_ISA = ("avx512f", "avx512_bf16", "amx_tile", "avx2", "fma", "sse4_2", "asimd", "sve")


@functools.cache
def cpu_description() -> dict:
    """The host CPU's model name and its ``CPU_ISA`` extensions, from ``/proc/cpuinfo``
    (Linux; elsewhere ``platform.processor()`` and no extensions).

    The same config, seed, code, library versions and thread pool repeat a GAN's record
    where the products round the same way: records of the ring8 table made on one
    machine with jax 0.10.2 left their trajectory within 2,000 steps on another
    installation of the same versions on another machine (README, "The same numbers
    again"), and those records named neither the CPU nor numpy."""
    try:
        return cpuinfo_description(Path("/proc/cpuinfo").read_text())
    except OSError:
        return {"cpu_model": platform.processor(), "cpu_isa": ""}


def cpuinfo_description(text: str) -> dict:
    """``cpu_description`` of a ``/proc/cpuinfo`` text (x86's ``model name`` and ``flags``,
    or Arm's ``Model`` and ``Features``; the first processor's)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip(), value.strip())
    model = fields.get("model name") or fields.get("Model") or platform.processor()
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    return {"cpu_model": model, "cpu_isa": " ".join(f for f in CPU_ISA if f in flags)}


def check_backend(backend: str | None) -> None:
    """Raises ``ValueError`` (one line) when the requested backend has no device here.

    Imports jax, so it runs after ``configure``.
    """
    if backend is None:
        return
    import jax

    try:
        devices = jax.devices()
    except Exception as error:  # jax raises RuntimeError, or AssertionError with no plugin
        reason = str(error).split(":")[0] if str(error) else "jax found no such platform"
        raise ValueError(
            f"--backend {backend}: no {BACKENDS[backend]} device is available ({reason}); "
            f"install jax for it (pip install -e '.[{'cuda' if backend != 'tpu' else 'tpu'}]') "
            "or choose another backend"
        ) from None
    if not devices:
        raise ValueError(f"--backend {backend}: no {BACKENDS[backend]} device is available")


def initialize_distributed(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Joins a multi-process run with ``jax.distributed.initialize``.

    Every process then sees all devices of all processes in ``jax.devices()``,
    so the mesh of the shared step spans the processes. Records are written by
    process 0 only (``is_writer``). Must run before anything starts JAX's backend.

    Args:
      coordinator: ``HOST:PORT`` of process 0's coordinator service; ``None``
        lets JAX detect the cluster (SLURM, Open MPI, TPU pods).
      num_processes: processes in the run (with ``coordinator``).
      process_id: this process's index, ``0 .. num_processes - 1`` (with ``coordinator``).
    """
    import jax

    # CPU devices of different processes exchange data through a collectives
    # library; gloo (over TCP) needs nothing installed. Older jax defaulted to
    # none, which fails at the first cross-process collective. A user's choice stands.
    if "JAX_CPU_COLLECTIVES_IMPLEMENTATION" not in os.environ:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator, num_processes, process_id)


def is_writer() -> bool:
    """Whether this process writes records and tables (process 0 of a multi-host run)."""
    import jax

    return jax.process_index() == 0


@functools.cache
def git_revision() -> str | None:
    """The git revision of the genbench checkout, or None when not in a repository.

    Read once per process (``genbench.runner`` asks on import, at a command's start): a
    long suite records the code it runs, not a revision committed while it ran."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


@functools.cache
def git_dirty() -> bool | None:
    """Whether tracked files of the genbench checkout have uncommitted changes; None when
    not in a repository (an installed package) or git cannot tell. Read once per process,
    as ``git_revision``."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(out.stdout.strip())


def environment() -> dict:
    """Backend, devices, processes and library versions for the result record."""
    import flax
    import jax
    import jaxlib
    import numpy
    import optax

    from genbench import __version__, registry

    device = jax.devices()[0]
    return {
        "backend": jax.default_backend(),
        "device_kind": device.device_kind,
        "device_count": jax.device_count(),
        "process_count": jax.process_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jaxlib": jaxlib.__version__,
        "flax": flax.__version__,
        "optax": optax.__version__,
        "numpy": numpy.__version__,
        "genbench": __version__,
        "git_revision": git_revision(),
        "git_dirty": git_dirty(),  # a table marks rows that average such records
        "cpu_count": os.cpu_count(),
        "cpu_affinity": usable_cpus(),  # XLA:CPU's thread pool, which float rounding follows
        **cpu_description(),  # and the host's kernels
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "platform": platform.platform(),
        "plugins": registry.loaded_plugins(),  # which distributions provided entries
    }
