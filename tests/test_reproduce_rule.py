"""``genbench reproduce``'s verdict rule, the s.e. conversion, value selection and the file loader
(pure functions: no runs)."""

import math

import pytest
from scipy.stats import norm
from scipy.stats import t as student_t

from genbench.errors import UsageError
from genbench.reproduce import critical_z, effective_se, judge, load, paper_se, parse, select_value
from genbench.reproduce.files import Selection, shipped
from genbench.reproduce.matching import build_specs, newest_per_seed
from genbench.reproduce.verdict import trials_to_settle


def test_paper_se_converts_a_standard_deviation_over_n_trials():
    assert paper_se(0.8, "se", 10) == 0.8
    for sd, n in [(2.0, 4), (0.9, 10), (1.0, 1)]:
        assert paper_se(sd, "sd", n) == pytest.approx(sd / math.sqrt(n))
        assert paper_se(sd, "sd", n) <= sd
    assert paper_se(None, "se", 10) == 0.0
    with pytest.raises(ValueError):
        paper_se(1.0, "var", 10)


@pytest.mark.parametrize("n_cells", [1, 3, 24])
def test_critical_z_is_two_sided_95_percent_bonferroni(n_cells):
    z = critical_z(n_cells)
    # Both tails together hold 5 % / N.
    assert 2 * norm.sf(z) == pytest.approx(0.05 / n_cells)
    assert z > critical_z(n_cells + 1) - 1  # grows with N
    if n_cells == 24:
        assert round(z, 2) == 3.08  # the issue's value for PacGAN Table 1


def test_effective_se_scales_ours_by_students_t_over_the_normal_quantile():
    ratio = student_t.ppf(0.975, 4) / norm.ppf(0.975)
    assert effective_se(0.5, 5) == pytest.approx(0.5 * ratio)
    assert round(ratio, 2) == 1.42  # five trials: a 42 % wider interval than the normal one
    assert effective_se(0.5, 2) > effective_se(0.5, 5) > 0.5  # fewer trials, wider
    assert effective_se(0.5, 10_000) == pytest.approx(0.5, rel=1e-3)
    assert effective_se(0.5, 1) == 0.0  # one trial: no spread to scale


def _half(se_ours, n, se_p, n_cells):
    return critical_z(n_cells) * math.hypot(effective_se(se_ours, n), se_p)


def test_verdict_match_inconclusive_differs():
    n_cells, se_p = 24, 0.1
    # match: within, and as precise as the paper (scaled se_ours <= 2 se_p).
    ok = judge(ours=7.95, se_ours=0.1, n=5, paper=7.9, se_p=se_p, n_cells=n_cells)
    assert ok.verdict == "match" and not ok.by_tolerance
    assert ok.half_width == pytest.approx(_half(0.1, 5, se_p, n_cells))
    # inconclusive: within only because our s.e. is wide.
    wide = judge(ours=8.5, se_ours=0.5, n=5, paper=7.9, se_p=se_p, n_cells=n_cells)
    assert wide.verdict == "inconclusive"
    assert abs(8.5 - 7.9) <= wide.half_width
    needed, sd = wide.trials_needed, 0.5 * math.sqrt(5)
    assert effective_se(sd / math.sqrt(needed), needed) <= 2 * se_p
    assert effective_se(sd / math.sqrt(needed - 1), needed - 1) > 2 * se_p
    # differs: outside the combined, corrected interval.
    far = judge(ours=6.3, se_ours=0.1, n=5, paper=7.9, se_p=se_p, n_cells=n_cells)
    assert far.verdict == "differs" and abs(6.3 - 7.9) > far.half_width


def test_verdict_boundary_and_bonferroni_count():
    se_ours, n, se_p = 0.05, 5, 0.05
    half = _half(se_ours, n, se_p, 24)
    assert judge(1.0 + 0.999 * half, se_ours, n, 1.0, se_p, 24).verdict == "match"
    assert judge(1.0 + 1.001 * half, se_ours, n, 1.0, se_p, 24).verdict == "differs"
    # The same gap with fewer cells (a smaller z) no longer fits.
    assert judge(1.0 + 0.999 * half, se_ours, n, 1.0, se_p, 1).verdict == "differs"


def test_verdict_with_one_trial_needs_the_tolerance():
    by_tol = judge(ours=1.90, se_ours=0.3, n=1, paper=1.88, se_p=0.0, n_cells=2, tolerance=0.05)
    assert by_tol.verdict == "match" and by_tol.by_tolerance
    outside = judge(ours=2.00, se_ours=0.3, n=1, paper=1.88, se_p=0.0, n_cells=2, tolerance=0.05)
    assert outside.verdict == "differs" and outside.half_width == 0.05  # the tolerance's reach
    # one trial, no tolerance, within the paper's own band: cannot tell (2 trials needed)
    alone = judge(ours=1.0, se_ours=0.0, n=1, paper=1.0, se_p=0.1, n_cells=2)
    assert alone.verdict == "inconclusive" and alone.trials_needed == 2
    assert trials_to_settle(0.3, 5, 0.0) is None  # no paper ± : no number of trials settles it


def test_select_value_final_and_best_on_validation():
    history = [
        {"step": 250, "metrics": {"next_token_xent": 2.1, "nll": 2.3}},
        {"step": 500, "loss": 1.9},  # a training-loss entry: no evaluation
        {"step": 750, "next_token_xent": 1.6, "nll": 1.8},  # metrics at the entry's top level
        {"step": 1000, "metrics": {"next_token_xent": 1.7, "nll": 1.75}},
    ]
    record = {"metrics": {"next_token_xent": 1.7, "nll": 1.75}, "history": history}
    assert select_value(record, "nll", Selection("final")) == 1.75
    best = Selection("best_on_validation", "next_token_xent", "min")
    assert select_value(record, "next_token_xent", best) == 1.6
    assert select_value(record, "nll", best) == 1.8  # the metric at the selected evaluation
    highest = Selection("best_on_validation", "next_token_xent", "max")
    assert select_value(record, "nll", highest) == 2.3
    assert select_value({"metrics": {}, "history": []}, "nll", best) is None


def test_newest_record_of_a_seed_wins():
    old = {"seed": 0, "created_at": "2026-01-01T00:00:00+00:00", "run_id": "a"}
    new = {"seed": 0, "created_at": "2026-02-01T00:00:00+00:00", "run_id": "b"}
    other = {"seed": 1, "created_at": "2025-01-01T00:00:00+00:00", "run_id": "c"}
    assert newest_per_seed([new, other, old]) == [new, other]


GOOD = """
description = "a test reproduction"
trials = 3
[citation]
authors = ["A. Author", "B. Author"]
title = "A paper"
year = 2020
table = "Table 1"
paper = "https://example.org/paper"
code = "https://example.org/code"
[[protocol]]
choice = "steps"
value = "20"
source = "the paper, section 1"
[[row]]
name = "ring8 VAE"
model = "vae"
dataset = "ring8"
set = { "train.steps" = 20 }
cells = [ { metric = "nll", value = 2.0, pm = 0.3, pm_kind = "sd", n = 9 } ]
[quick]
seeds = 2
set = { "train.steps" = 10 }
"""


def test_a_good_file_loads_into_frozen_dataclasses():
    repro = parse("good", "good.toml", GOOD)
    assert repro.trials == 3 and repro.n_cells == 1 and repro.selection.kind == "final"
    (row,) = repro.rows
    assert row.overrides == {"train.steps": 20} and row.cells[0].pm_kind == "sd"
    assert repro.citation.authors == ("A. Author", "B. Author")
    with pytest.raises(AttributeError):
        repro.trials = 5  # frozen
    specs = build_specs(repro, quick=True, seeds=None)
    assert [s.seed for s in specs] == [0, 1] and specs[0].config.train.steps == 10
    assert [s.seed for s in build_specs(repro, quick=False, seeds=None)] == [0, 1, 2]


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ('title = "A paper"\n', "", "citation.title is missing"),
        ('pm_kind = "sd"', 'pm_kind = "var"', "cell 1.pm_kind must be 'se' or 'sd'"),
        ("pm = 0.3, ", "", "cell 1.tolerance is missing (the paper gives no ±"),
        ("trials = 3", 'trials = "3"', "top level.trials must be an integer"),
        ("seeds = 2", "seeds = 0", "quick.seeds must be > 0"),
        ("seeds = 2", "seeds = 1", "cell 1.tolerance is missing (a variant runs one trial"),
        ('model = "vae"', 'model = "vae"\ncolour = "red"', "has unknown field 'colour'"),
        ("[citation]", "[citation", "is not valid TOML"),
        ("value = 2.0", "value = true", "cell 1.value must be a number"),
    ],
)
def test_a_malformed_file_is_one_line_naming_file_and_field(old, new, fragment):
    assert old in GOOD
    with pytest.raises(UsageError) as error:
        parse("bad", "bad.toml", GOOD.replace(old, new, 1))
    message = str(error.value)
    assert "\n" not in message and message.startswith("reproduction file bad.toml")
    assert fragment in message


def test_unknown_reproduction_lists_the_shipped_ones():
    with pytest.raises(UsageError, match="unknown reproduction 'nope'; allowed: .*pacgan-table1"):
        load("nope")


# Names that another branch (datasets, eval.every, nanoGPT's metric) adds.
PENDING = ("eval.every", "mnist_dynamic", "next_token_xent")


@pytest.mark.parametrize("name", sorted(shipped()))
def test_every_shipped_reproduction_loads_and_resolves(name):
    repro = load(name)
    assert repro.protocol and all(p.source for p in repro.protocol)
    assert repro.citation.paper.startswith("https://")
    pending = []
    for quick in (True, False):
        try:
            specs = build_specs(repro, quick, seeds=1)
        except UsageError as error:
            if not any(p in str(error) for p in PENDING):
                raise
            pending.append(str(error))
            continue
        assert specs and all(s.suite == name for s in specs)
    if pending:
        pytest.skip(f"needs a name that is not merged yet: {pending[0]}")
    if name.startswith("pacgan-table1"):
        assert repro.n_cells == 24 and len(repro.rows) == 8
        assert {s.config.train.batch_size // s.config.model.pack for s in specs} == {100}


def test_the_rule_gives_the_issues_count_on_the_committed_gan2d_records():
    """Issue 12: the rule applied to results/gan2d (the CPU preset `pacgan`, five seeds)
    against PacGAN's Table 1 gives 7 match, 5 inconclusive and 12 differs."""
    from collections import Counter
    from pathlib import Path

    from genbench.reproduce import compare_cells, rows_records
    from genbench.results import read_records

    text = shipped()["pacgan-table1"].read_text(encoding="utf-8")
    head, rest = text.split("[defaults]", 1)
    gan2d = head + '[defaults]\n"model.loss" = "non_saturating"\n\n' + rest[rest.index("[quick]") :]
    gan2d = gan2d.replace('preset = "pacgan-paper"', 'preset = "pacgan"')
    gan2d = gan2d.replace(', "model.batchnorm_statistics" = "slot"', "")  # gan2d's: the batch
    repro = parse("gan2d", "gan2d.toml", gan2d.replace("trials = 10", "trials = 5"))
    records = read_records([Path(__file__).resolve().parents[1] / "results" / "gan2d"])
    found = rows_records(repro, records, quick=False)
    assert all(len(ok) == 5 for ok, _ in found.values())
    verdicts = Counter(cell.status for cell in compare_cells(repro, found))
    assert verdicts == {"match": 7, "inconclusive": 5, "differs": 12}


def test_each_trial_keeps_its_seed_when_another_lacks_the_value():
    """The Markdown and LaTeX tables list each trial's value by seed: a trial without the
    metric is left out of n and of the list, and the others keep their own seeds."""
    from genbench.reproduce import compare_cells, format_report

    repro = parse("good", "good.toml", GOOD)
    records = [
        {"seed": seed, "metrics": {"nll": value} if value is not None else {}, "history": []}
        for seed, value in [(5, 2.125), (0, 1.0), (2, None)]
    ]
    (cell,) = compare_cells(repro, {"ring8 VAE": (records, 0)})
    assert cell.n == 2 and cell.trials == ((0, 1.0), (5, 2.125))
    md, _ = format_report(repro, [cell], "md", quick=False)
    assert "| 2 | s0 1, s5 2.125 | 2 ± 0.1 |" in md
    latex, _ = format_report(repro, [cell], "latex", quick=False)
    (line,) = [row for row in latex.splitlines() if row.startswith("ring8 VAE")]
    assert r"s0 1, s5 2.125 & 2 $\pm$ 0.1 &" in line  # the paper's ± in its own column
