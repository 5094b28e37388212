"""``RunSpec``: what identifies a run, resolved and validated without importing jax."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from genbench import registry
from genbench.config import RunConfig, apply_overrides, follow_model, to_dict, validate
from genbench.errors import UsageError, choices


@dataclass(frozen=True)
class RunSpec:
    """A fully resolved run: names, preset, seed and the frozen config."""

    model: str
    dataset: str
    preset: str | None
    seed: int
    config: RunConfig
    suite: str | None = None

    @property
    def dataset_version(self) -> str:
        return registry.get_dataset(self.dataset).version

    @property
    def run_key(self) -> str:
        """The stable hash that identifies this run (what ``--resume`` matches)."""
        from genbench.results.records import run_key

        config = to_dict(self.config)
        versions = registry.plugin_versions(self.model, self.dataset)
        return run_key(self.model, self.dataset, self.dataset_version, config, self.seed, versions)


def group_key(spec: RunSpec) -> str:
    """The key shared by the runs that differ only in their seed."""
    return dataclasses.replace(spec, seed=0).run_key


def seed_groups(
    specs: Sequence[RunSpec],
    size: int | None = None,
    whole_limit: Callable[[str], int | None] | None = None,
) -> list[list[RunSpec]]:
    """``specs`` grouped by ``group_key`` (in order of first appearance), each group cut
    into chunks of at most ``size`` seeds.

    Args:
      specs: the runs.
      size: the most seeds per chunk; None: whole groups.
      whole_limit: with ``size`` None, the most seeds per chunk of a model family's
        group (``genbench.train.seed_limits.whole_group_limit``; None from it: whole).

    Raises:
      UsageError: ``size`` below 1.
    """
    if size is not None and size < 1:
        raise UsageError(f"--parallel-seeds={size} must be >= 1")
    groups: dict[str, list[RunSpec]] = {}
    for spec in specs:
        groups.setdefault(group_key(spec), []).append(spec)
    chunks = []
    for group in groups.values():
        limit = whole_limit(group[0].model) if size is None and whole_limit else None
        step = size or limit or len(group)
        chunks += [group[i : i + step] for i in range(0, len(group), step)]
    return chunks


def run_batches(specs: Sequence[RunSpec], parallel_seeds: int | None) -> list[list[RunSpec]]:
    """What a suite or ``genbench run`` trains at a time: each spec alone when
    ``parallel_seeds`` is None, else its seed groups of at most ``parallel_seeds`` seeds
    (0: whole groups, cut at the family's limit on this platform,
    ``genbench.train.seed_limits``)."""
    from genbench.train.seed_limits import whole_group_limit

    if parallel_seeds is None:
        return [[spec] for spec in specs]
    return seed_groups(specs, parallel_seeds or None, whole_group_limit)


def shard_groups(specs: list[RunSpec], index: int, count: int) -> list[RunSpec]:
    """Share ``index`` of ``count`` of a suite split by seed group (all of a group's seeds
    land in one shard, so that they can train together)."""
    return [s for s in specs if int(group_key(s), 16) % count == index]


def parse_shard(text: str) -> tuple[int, int]:
    """Parses ``I/N`` (0 <= I < N) for ``--shard``.

    Raises:
      UsageError: not of the form I/N with 0 <= I < N.
    """
    index, sep, count = text.partition("/")
    try:
        i, n = int(index), int(count)
    except ValueError:
        i, n = -1, 0
    if not sep or not 0 <= i < n:
        raise UsageError(f"--shard={text!r} must be I/N with 0 <= I < N, e.g. 0/4")
    return i, n


def shard(specs: list[RunSpec], index: int, count: int) -> list[RunSpec]:
    """The deterministic share ``index`` of ``count`` of a suite, by run key.

    Every process computes the same split without a coordinator, so N
    processes (or machines on a shared filesystem, or array jobs of a
    scheduler) run each spec exactly once between them.
    """
    return [s for s in specs if int(s.run_key, 16) % count == index]


def resolve(
    model: str,
    dataset: str,
    preset: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    seed: int = 0,
    suite: str | None = None,
) -> RunSpec:
    """Builds and validates the config of a run: defaults, then the preset, then overrides.

    Raises:
      UsageError: unknown model, dataset, preset or key; wrong type; bad range.
    """
    model_entry = registry.get_model(model)
    dataset_entry = registry.get_dataset(dataset)
    config = RunConfig(model=model_entry.config(), data=dataset_entry.config())
    config = apply_overrides(config, model_entry.defaults)
    if preset is not None:
        if preset not in model_entry.presets:
            allowed = choices(model_entry.presets) or "(none)"
            raise UsageError(f"unknown preset {preset!r} for model {model!r}; allowed: {allowed}")
        config = apply_overrides(config, model_entry.presets[preset].overrides)
    config = follow_model(apply_overrides(config, overrides or {}))
    chosen = {**(model_entry.presets[preset].overrides if preset else {}), **(overrides or {})}
    if "train.inner_steps" not in chosen:
        config = _default_inner_steps_that_divide(config)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"seed={seed!r} must be an integer >= 0")
    validate(config)
    unknown = sorted(set(config.eval.groups) - set(registry.metrics()))
    if unknown:
        raise UsageError(
            f"eval.groups names no metric group {', '.join(map(repr, unknown))}; "
            f"allowed: {choices(registry.metrics())}"
        )
    return RunSpec(model, dataset, preset, seed, config, suite)


def _default_inner_steps_that_divide(config: RunConfig) -> RunConfig:
    """``config`` with a default ``train.inner_steps`` lowered to the largest divisor of
    ``train.steps`` (and of ``train.checkpoint_every``, when set) that does not exceed it.

    The family defaults are the call lengths their benchmarks found fastest; a run that
    asks for another number of steps (``--set train.steps=40``) keeps the longest call
    that fits rather than failing on a value it never set. An ``inner_steps`` that a
    preset or an override sets is kept, and checked by ``validate``.
    """
    train = config.train
    if train.steps < 1 or train.inner_steps < 1 or train.checkpoint_every < 0:
        return config  # validate names the bad value
    length = math.gcd(train.steps, train.checkpoint_every)
    inner = max(d for d in range(1, min(train.inner_steps, length) + 1) if length % d == 0)
    if inner == train.inner_steps:
        return config
    return dataclasses.replace(config, train=dataclasses.replace(train, inner_steps=inner))


_SUITE_KEYS = {"description", "seeds", "defaults", "run", "published", "parallel_seeds"}
_RUN_KEYS = {"model", "dataset", "preset", "set", "seeds"}
_PUBLISHED_KEYS = {"model", "dataset", "label", "source", "metrics"}


def _read_suite(name_or_path: str) -> tuple[str, dict]:
    """(suite name, parsed TOML) of a registered suite or a ``.toml`` file."""
    import tomllib
    from pathlib import Path

    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise UsageError(f"suite file {str(path)!r} does not exist")
        suite_name = path.stem
    else:
        path, suite_name = registry.get_suite(name_or_path).path, name_or_path
    try:
        content = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"suite file {str(path)!r} is not valid TOML: {error}") from None
    _check_keys(content, _SUITE_KEYS, f"suite {suite_name!r}")
    return suite_name, content


def load_published(name_or_path: str) -> list[dict]:
    """A suite's ``[[published]]`` reference numbers, to print beside its own.

    Each entry has ``model``, ``dataset``, ``label`` (e.g. ``PacGAN2``),
    ``source`` (the paper and table) and ``metrics``: name -> value or
    ``[mean, std]``.

    Raises:
      UsageError: unknown fields or non-numeric values.
    """
    suite_name, content = _read_suite(name_or_path)
    entries = content.get("published", [])
    for index, entry in enumerate(entries):
        where = f"suite {suite_name!r} published entry {index + 1}"
        _check_keys(entry, _PUBLISHED_KEYS, where)
        if set(entry) != _PUBLISHED_KEYS:
            raise UsageError(f"{where} needs {choices(_PUBLISHED_KEYS)}")
        for name, value in entry["metrics"].items():
            values = value if isinstance(value, list) else [value]
            if not 1 <= len(values) <= 2 or not all(
                isinstance(v, int | float) and not isinstance(v, bool) for v in values
            ):
                raise UsageError(f"{where}: metrics.{name} must be a number or [mean, std]")
    return entries


def load_parallel_seeds(name_or_path: str) -> int | None:
    """A suite's ``parallel_seeds`` field: None (off, the default), 0 for ``true`` (each
    group of runs that differ only in their seed trains as one program), or the most
    seeds per program.

    Raises:
      UsageError: a value that is neither a boolean nor an integer >= 1.
    """
    suite_name, content = _read_suite(name_or_path)
    value = content.get("parallel_seeds", False)
    if isinstance(value, bool):
        return 0 if value else None
    if not isinstance(value, int) or value < 1:
        raise UsageError(f"suite {suite_name!r}: parallel_seeds must be true, false or >= 1")
    return value


def group_size(parallel_seeds: int | None, seed_chunk: int | None) -> int | None:
    """The most seeds one program trains, from ``--parallel-seeds`` and ``--seed-chunk``.

    Args:
      parallel_seeds: None (seeds run one after the other), 0 (whole groups) or a size.
      seed_chunk: None or the most seeds per program (a group that does not fit in
        memory is split into chunks of this many).

    Returns:
      None when seeds run one after the other, 0 for whole groups, else the size.

    Raises:
      UsageError: a size below 1, or ``seed_chunk`` without ``parallel_seeds``.
    """
    for name, value in (("--parallel-seeds", parallel_seeds), ("--seed-chunk", seed_chunk)):
        if value is not None and value < (0 if name == "--parallel-seeds" else 1):
            raise UsageError(f"{name}={value} must be >= 1")
    if parallel_seeds is None:
        if seed_chunk is not None:
            raise UsageError("--seed-chunk splits parallel seed groups: add --parallel-seeds")
        return None
    sizes = [v for v in (parallel_seeds, seed_chunk) if v]
    return min(sizes) if sizes else 0


def load_suite(
    name_or_path: str, seeds: int | None = None, overrides: Mapping[str, Any] | None = None
) -> list[RunSpec]:
    """The runs of a suite (a registered name or a TOML file), one spec per run and seed.

    The file holds ``description``, ``seeds`` (a count N: runs use seeds 0..N-1; or a
    list of seeds), an optional ``[defaults]`` table of overrides for every run, and ``[[run]]``
    tables with ``model``, ``dataset`` and optional ``preset``, ``set`` (a
    table of overrides) and ``seeds``: a count, or a list of the seeds to run
    (``seeds = [2]`` takes one trial of a table on to a longer schedule).

    Args:
      name_or_path: a registered suite name or a path to a ``.toml`` file.
      seeds: overrides the seeds of every run with 0..seeds-1.
      overrides: ``section.field`` overrides applied to every run, after its own.

    Raises:
      UsageError: unknown suite, malformed TOML, unknown fields, duplicate runs,
        or any run that does not resolve.
    """
    suite_name, content = _read_suite(name_or_path)
    runs = content.get("run", [])
    if not isinstance(runs, list) or not runs:
        raise UsageError(f"suite {suite_name!r} has no [[run]] tables")
    suite_seeds = _seed_list(content.get("seeds", 1), f"suite {suite_name!r}")
    specs, seen = [], set()
    for index, entry in enumerate(runs):
        where = f"suite {suite_name!r} run {index + 1}"
        _check_keys(entry, _RUN_KEYS, where)
        if "model" not in entry or "dataset" not in entry:
            raise UsageError(f"{where} needs model and dataset")
        run_overrides = {**content.get("defaults", {}), **entry.get("set", {}), **(overrides or {})}
        if seeds:
            run_seeds = list(range(seeds))
        else:
            run_seeds = _seed_list(entry["seeds"], where) if "seeds" in entry else suite_seeds
        for seed in run_seeds:
            spec = resolve(
                entry["model"],
                entry["dataset"],
                entry.get("preset"),
                run_overrides,
                seed,
                suite_name,
            )
            identity = (spec.model, spec.dataset, repr(spec.config), spec.seed)
            if identity in seen:
                raise UsageError(f"{where} duplicates an earlier run of the suite")
            seen.add(identity)
            specs.append(spec)
    return specs


def _seed_list(value: Any, where: str) -> list[int]:
    """The seeds a suite's ``seeds`` field names: a count N (0..N-1) or a list of seeds."""

    def is_seed(item: Any) -> bool:
        return isinstance(item, int) and not isinstance(item, bool) and item >= 0

    if is_seed(value) and value >= 1:
        return list(range(value))
    listed = isinstance(value, list) and value and all(map(is_seed, value))
    if listed and len(set(value)) == len(value):
        return list(value)
    raise UsageError(
        f"{where}: seeds must be a count >= 1 or a list of distinct seeds >= 0, not {value!r}"
    )


def _check_keys(table: Any, allowed: set[str], where: str) -> None:
    if not isinstance(table, dict):
        raise UsageError(f"{where} must be a table")
    unknown = set(table) - allowed
    if unknown:
        raise UsageError(
            f"unknown field {sorted(unknown)[0]!r} in {where}; allowed: {choices(allowed)}"
        )
