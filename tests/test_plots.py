"""``genbench plot``: which figures records give, the files written, bad input."""

import csv
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from record_factory import make_record, sampled_records

from genbench.cli import main
from genbench.results import read_records, write_record
from genbench.results.plots import density, supported

RESULTS = Path(__file__).parents[1] / "results"
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def sampled(tmp_path_factory):
    out = tmp_path_factory.mktemp("sampled")
    sampled_records(out)
    return out


def test_every_kind_is_drawn_as_png_and_svg(sampled, tmp_path, capsys):
    assert supported(read_records([sampled])) == ["samples", "density", "curves", "throughput"]
    out = tmp_path / "figures"
    assert main(["plot", str(sampled), "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(Path(p).name for p in printed)
    stems = {n.rsplit(".", 1)[0] for n in names}
    assert stems == {"samples_digits", "density", "curves", "throughput"}
    for name in names:
        data = (out / name).read_bytes()
        if name.endswith(".png"):
            assert data.startswith(PNG) and len(data) > 5000
        else:
            assert ET.fromstring(data).tag.endswith("svg")
    # The density figure draws each group's samples and the source's contours.
    svg = (out / "density.svg").read_text()
    assert svg.count("ring8: vae") == 2 and svg.count("grid25: vae") == 2


def test_old_records_give_curves_and_throughput_only(tmp_path, capsys):
    # results/sequences predates stored samples (schema version 1)
    assert supported(read_records([RESULTS / "sequences"])) == ["curves", "throughput"]
    out = str(tmp_path / "o")
    assert main(["plot", str(RESULTS / "sequences"), "--kind", "density", "--out", out]) == 2
    assert "cannot give density" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (lambda t: ["plot", str(t / "empty")], "no records found"),
        (lambda t: ["plot", str(t / "records"), "--kind", "violin"], "invalid choice"),
        (lambda t: ["plot", str(t / "records"), "--out", str(t / "file" / "sub")], "not writable"),
    ],
    ids=["no-records", "unknown-kind", "unwritable-out"],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys, argv, message):
    (tmp_path / "empty").mkdir()
    throughput = {"step_ms": 2.0, "train_examples_per_s": 500.0}
    write_record(make_record(throughput=throughput), tmp_path / "records")
    (tmp_path / "file").write_text("not a directory")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(argv(tmp_path)) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_density_contours_come_from_the_rebuilt_source(sampled):
    from genbench.rebuild import source_log_density
    from genbench.results.plots import ok_with_variants

    records = ok_with_variants(read_records([sampled]))
    (bare,) = density(records)
    (contoured,) = density(records, source_log_density)
    # The contours are drawn as extra paths: ring8 and grid25 each get theirs.
    extra = contoured.files["svg"].count(b"<path") - bare.files["svg"].count(b"<path")
    assert extra >= 2 * 3


def test_periodic_evaluations_give_one_panel_per_metric_and_the_mean_over_seeds(tmp_path, capsys):
    from genbench.results.eval_curves import evaluations, mean_and_sd_curve

    def history(seed):
        evaluated = {"high_quality_frac": 0.5 + 0.1 * seed, "modes_captured": 8}
        bookkeeping = {"high_quality_frac_se": 0.01, "modes_n": 2500.0, "nll": float("nan")}
        return [
            {"step": s, "loss": 1.0, "time": 0.1 * s, "metrics": {**evaluated, **bookkeeping}}
            for s in (10, 20)
        ] + [{"step": 30, "loss": 1.0, "time": 3.0}]  # a step without an evaluation

    records = [make_record(seed=s, history=history(s)) for s in (0, 1)]
    runs = [evaluations(r) for r in records]
    assert runs[1] == {s: {"high_quality_frac": 0.6, "modes_captured": 8.0} for s in (10, 20)}
    steps, mean, sd = mean_and_sd_curve(runs, "high_quality_frac")
    assert steps == [10, 20] and mean == pytest.approx([0.55] * 2)
    assert sd == pytest.approx([0.1 / 2**0.5] * 2)
    for record in records:
        write_record(record, tmp_path / "records")
    assert "evaluations" in supported(read_records([tmp_path / "records"]))
    out = tmp_path / "figures"
    assert (
        main(["plot", str(tmp_path / "records"), "--kind", "evaluations", "--out", str(out)]) == 0
    )
    svg = (out / "evaluations_ring8.svg").read_text()
    assert "high_quality_frac" in svg and "modes_captured" in svg and "_se" not in svg
    assert (out / "evaluations_ring8.png").read_bytes().startswith(PNG)
    # the points drawn, as numbers: a row per seed and evaluated step, no bookkeeping columns
    rows = list(csv.DictReader((out / "evaluations_ring8.csv").read_text().splitlines()))
    assert [(r["seed"], r["step"]) for r in rows] == [
        ("0", "10"),
        ("0", "20"),
        ("1", "10"),
        ("1", "20"),
    ]
    assert [float(r["high_quality_frac"]) for r in rows] == pytest.approx([0.5, 0.5, 0.6, 0.6])
    assert set(rows[0]) == {"run", "seed", "step", "high_quality_frac", "modes_captured"}
    # records without periodic evaluations cannot give the figure
    assert "evaluations" not in supported(read_records([RESULTS / "sequences"]))
