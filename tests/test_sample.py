"""``genbench run --save-model`` and ``genbench sample``: parameters saved with orbax beside
the record, restored into a model rebuilt from the record's config."""

import jax
import numpy as np
import pytest
from flax import nnx
from record_factory import make_record

from genbench.cli import main
from genbench.config import to_dict
from genbench.results import write_record
from genbench.runner import build
from genbench.spec import resolve
from genbench.train.params import save_params


def _saved_run(out, model, dataset, shift=0.5):
    """A record of ``model`` on ``dataset`` whose saved parameters differ from a fresh
    model's (every float parameter moved by ``shift``), so a restore that does nothing fails."""
    small = {"model.hidden": [8], "model.latent_dim": 2} if model == "vae" else {}
    spec = resolve(model, dataset, None, small, 0)
    _, built = build(spec)
    params = nnx.state(built, nnx.Param)
    nnx.update(built, jax.tree.map(lambda p: p + shift if p.dtype.kind == "f" else p, params))
    record = make_record(model=model, dataset=dataset, config=to_dict(spec.config))
    record["dataset_version"] = spec.dataset_version
    name = f"{model}__{dataset}__s0__{record['run_id']}"
    record["params"] = save_params(built, out / f"{name}.params").name
    return write_record(record, out)


def _sample(path, capsys, *extra):
    assert main(["sample", str(path), *extra]) == 0
    return capsys.readouterr().out


def test_points_come_from_the_saved_parameters(tmp_path, capsys):
    path = _saved_run(tmp_path / "a", "vae", "ring8")
    points = np.loadtxt(_sample(path, capsys, "--n", "50").splitlines(), delimiter=",")
    assert points.shape == (50, 2) and np.isfinite(points).all()
    assert (
        np.loadtxt(_sample(path, capsys, "--n", "50").splitlines(), delimiter=",") == points
    ).all()
    other = _saved_run(tmp_path / "b", "vae", "ring8", shift=0.0)
    fresh = np.loadtxt(_sample(other, capsys, "--n", "50").splitlines(), delimiter=",")
    assert not np.allclose(fresh, points)


def test_images_are_a_png_grid_and_sequences_text(tmp_path, capsys):
    images = _saved_run(tmp_path / "img", "vae", "digits_binary")
    out = tmp_path / "grid.png"
    assert _sample(images, capsys, "--n", "16", "--out", str(out)).strip() == str(out)
    assert out.read_bytes().startswith(b"\x89PNG")
    text = _sample(_saved_run(tmp_path / "seq", "hmm", "markov"), capsys, "--n", "3")
    lines = text.splitlines()
    assert len(lines) == 3 and all(lines)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (lambda t, r: ["sample", str(r)], "no saved parameters"),
        (lambda t, r: ["sample", str(t)], "not a record file"),
        (lambda t, r: ["sample", str(r), "--n", "0"], "--n=0"),
        (lambda t, r: ["sample", str(r), "--out", str(t / "f" / "x.csv")], "not writable"),
    ],
    ids=["unsaved", "directory", "n-zero", "unwritable-out"],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, message):
    record = write_record(make_record(), tmp_path / "records")
    (tmp_path / "f").write_text("a file")
    before = sorted(tmp_path.rglob("*"))
    assert main(argv(tmp_path, record)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert sorted(tmp_path.rglob("*")) == before
