"""The readable tables (no jax): rounding to the error, widths, headline columns, markers."""

import re
from pathlib import Path

import pytest
from record_factory import make_record

from genbench.cli import main
from genbench.results import aggregate
from genbench.results.grid import VARIANT_CHARS, render
from genbench.results.rounding import rounded
from genbench.results.view import table_grids

RESULTS = Path(__file__).parents[1] / "results"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize(
    ("mean", "err", "shown"),
    [
        (2.146, 0.0002105, "2.14600 ± 0.00021"),
        (225250.3, 379.7, "225250 ± 380"),
        (0.5, 0.0996, "0.50 ± 0.10"),  # the error rounds up to one more digit: 0.100 -> 0.10
        (118.9512, 0.2592, "118.95 ± 0.26"),
        (5.0, 0.0, "5"),
        (1234567.0, None, "1.235e+06"),
    ],
)
def test_numbers_round_to_two_significant_digits_of_their_error(mean, err, shown):
    assert rounded(mean, err) == shown


def _printed(capsys, monkeypatch, *argv, columns=120):
    monkeypatch.setenv("COLUMNS", str(columns))
    assert main(list(argv)) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("columns", [120, 100])
def test_table_and_compare_of_committed_results_fit_the_width(capsys, monkeypatch, columns):
    smoke, sequences = str(RESULTS / "smoke"), str(RESULTS / "sequences")
    table = _printed(capsys, monkeypatch, "table", smoke, columns=columns)
    compared = _printed(capsys, monkeypatch, "compare", smoke, sequences, columns=columns)
    for text in (table, compared):
        assert max(len(line) for line in text.splitlines()) <= columns
    # Each family's headline: likelihood with its estimator, KL to the source, sample quality.
    sections = dict(re.findall(r"### (\w+)[^\n]*\n\n([^#]*)", table))
    assert "nll [iwae_k200]" in sections["ring8"] and "modes_captured" in sections["ring8"]
    assert "kl_to_source" in sections["ring8"]
    assert "frechet_distance" in sections["digits_binary"]
    assert "kl_rate_to_source" in sections["markov"] and "tokens/s" in sections["markov"]
    assert "step_ms" in sections["linear_gaussian"] and "bits_per_token" in sections["markov"]
    assert "### smiles:" in compared and f"A = {smoke}, B = {sequences}" in compared.replace(
        "\n  ", " "
    )
    assert "### smiles:" in compared and "validity" in compared and "× " not in compared


def test_all_shows_every_column_and_metrics_picks(capsys, monkeypatch):
    smoke = str(RESULTS / "smoke")
    everything = _printed(capsys, monkeypatch, "table", smoke, "--all")
    for name in ("elbo", "recall", "perplexity", "bits_per_dim [iwae_k200]", "compile_s"):
        assert name in everything, name
    assert "not shown for width" not in everything
    picked = _printed(capsys, monkeypatch, "table", smoke, "--metrics", "nll,step_ms")
    heads = [line for line in picked.splitlines() if line.startswith("| model")]
    shown = {c.strip() for h in heads for c in h.strip("|").split("|")}
    estimated = {"nll [iwae_k200]", "nll [vlb]", "nll [dequantized_bound]"}
    assert heads and shown == {"model", "variant", "n", "nll", "step_ms"} | estimated


def test_rich_output_fits_a_narrow_terminal_and_keeps_estimators(capsys, monkeypatch):
    text = _printed(
        capsys, monkeypatch, "table", str(RESULTS / "smoke"), "--format", "rich", columns=90
    )
    plain = ANSI.sub("", text)
    assert max(len(line) for line in plain.splitlines()) <= 90
    assert "[iwae_k200]" in plain and "┃" in plain


def test_unknown_metrics_is_one_line_and_exit_2(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["table", str(RESULTS / "smoke"), "--metrics", "no_such"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and len(captured.err.strip().splitlines()) == 1


def test_cells_show_their_n_where_it_differs_and_rows_mark_revisions():
    records = [make_record(seed=s, nll=1.0 + s) for s in range(3)]
    records[2]["metrics"]["nll"] = None  # one seed without the metric
    for record, revision in zip(records, ["aaa", "aaa", "bbb"], strict=True):
        record["env"] = {**record["env"], "git_revision": revision, "git_dirty": revision == "bbb"}
    (grid,) = table_grids(aggregate(records), 120)
    (row,) = grid.body
    nll = row[grid.head.index("nll [iwae_k10]")]
    assert nll == "1.50 ± 0.71 (n=2)" and row[grid.head.index("n")] == "3†*"
    assert any("different source revisions (aaa, bbb)" in n for n in grid.notes)
    assert any("uncommitted changes" in n for n in grid.notes)
    (same,) = table_grids(aggregate([make_record(seed=s) for s in range(2)]), 120)
    assert same.body[0][same.head.index("n")] == "2" and same.notes == []


def test_long_variants_are_abbreviated_with_a_legend():
    long_lr = 0.123456789012345678
    records = [make_record(lr=1e-3), make_record(lr=long_lr)]
    records[1]["config"]["model"]["hidden"] = "a-rather-long-value"
    (grid,) = table_grids(aggregate(records), 120)
    variants = [row[1] for row in grid.body]
    assert all(len(v) <= VARIANT_CHARS for v in variants) and "v1" in variants
    assert any(n.startswith("v1 = default") for n in grid.notes)
    assert any("a-rather-long-value" in n for n in grid.notes)
    md = render([grid], "md", 120)
    assert max(len(line) for line in md.splitlines()) <= 120
