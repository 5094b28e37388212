"""``genbench sample RECORD``: samples of a trained model, rebuilt from its record and the
parameters ``genbench run --save-model`` saved beside it.

Images come out as a PNG grid, sequences as text (one per line), other data (2-D points)
as CSV rows of coordinates.
"""

from __future__ import annotations

from pathlib import Path

from genbench import contract, registry
from genbench.errors import UsageError

SAMPLE_KEY = 0x5A4D  # the samples' key: fold_in(key(seed), SAMPLE_KEY), apart from the metrics'


def saved_params(record: dict, record_path: Path) -> Path:
    """The directory of the record's saved parameters.

    Raises:
      UsageError: the record names none, or the directory is gone.
    """
    if not record.get("params"):
        raise UsageError(
            f"{record_path} has no saved parameters; run it with genbench run --save-model"
        )
    directory = record_path.parent / record["params"]
    if not directory.is_dir():
        raise UsageError(f"{record_path}: its saved parameters {str(directory)!r} are missing")
    return directory


def trained_model(record: dict, params: Path):
    """``(dataset, model, view)`` of ``record`` with the saved state restored."""
    from flax import nnx

    from genbench.data.view import data_view
    from genbench.rebuild import spec_of
    from genbench.train.params import restore_params

    spec = spec_of(record)
    dataset = registry.resolve_factory(registry.get_dataset(spec.dataset))(spec.config.data)
    factory = registry.resolve_factory(registry.get_model(spec.model))
    model = factory(spec.config, dataset, nnx.Rngs(spec.seed))
    restore_params(model, params)
    return dataset, model, data_view(dataset, model.input_kind)


def _as_text(dataset, samples) -> str:
    """Sequences as text: each token its vocabulary entry (joined without spaces when the
    tokens are characters), one sequence per line."""
    vocabulary = dataset.vocabulary or [str(i) for i in range(dataset.levels)]
    sep = "" if contract.is_char_level(dataset) else " "
    return "".join(sep.join(vocabulary[int(t)] for t in row) + "\n" for row in samples)


def _as_png(samples, shape) -> bytes:
    from matplotlib.figure import Figure

    from genbench.results.plots import encode, tile

    figure = Figure(figsize=(6, 6), layout="constrained")
    ax = figure.subplots()
    ax.imshow(tile(samples, list(shape)), cmap="gray_r")
    ax.set_axis_off()
    return encode(figure)["png"]


def sample_file(record_path: Path, n: int, out: Path | None) -> tuple[bytes | str, Path | None]:
    """Draws ``n`` samples of the record's trained model.

    Args:
      record_path: one record file.
      n: how many samples (>= 1).
      out: the output file; None prints text (and, for images, writes ``<record>.png``).

    Returns:
      ``(content, where to write it or None to print)``.

    Raises:
      UsageError: not one record, no saved parameters, ``n`` < 1.
    """
    import jax

    from genbench.metrics.sample_quality import draw_samples, to_data_space
    from genbench.results import read_records

    if n < 1:
        raise UsageError(f"--n={n} must be >= 1")
    if not record_path.is_file():
        raise UsageError(f"{str(record_path)!r} is not a record file")
    (record,) = read_records([record_path])
    params = saved_params(record, record_path)
    dataset, model, view = trained_model(record, params)
    if not contract.has(model, "sample"):
        raise UsageError(f"model {record['model']!r} cannot sample")
    key = jax.random.fold_in(jax.random.key(record["seed"]), SAMPLE_KEY)
    raw = draw_samples(model, key, n, min(n, 1024))
    image = contract.image_shape(dataset)
    if image is not None:
        png = _as_png(to_data_space(raw, dataset, view), image)
        return png, out or record_path.with_suffix(".samples.png")
    if dataset.kind == "sequence":
        return _as_text(dataset, raw), out
    points = to_data_space(raw, dataset, view)
    return "".join(",".join(f"{v:.6g}" for v in row) + "\n" for row in points), out
