"""``eval.groups``: the metric groups a run measures, and nothing else changes."""

import jax

from genbench.cli import main
from genbench.runner import run
from genbench.spec import resolve

SMALL = {"data.n_train": 300, "data.n_test": 100, "eval.timing_calls": 2}


def _metrics(groups: tuple[str, ...]) -> dict:
    spec = resolve("naive_bayes", "naive_bayes_source", None, SMALL | {"eval.groups": groups})
    record = run(spec, devices=jax.devices()[:1], measure_throughput=False)
    assert record.status == "ok", record.error
    return record.metrics


def test_chosen_groups_give_the_same_numbers_as_a_run_of_every_group():
    every = _metrics(())
    chosen = _metrics(("likelihood", "source"))
    assert "kl_to_source" in chosen and "nll" in chosen
    assert not any(name.startswith(("cas", "augment")) for name in chosen)
    assert set(chosen) < set(every)
    assert chosen == {name: every[name] for name in chosen}


def test_an_unknown_group_is_bad_input(tmp_path, capsys):
    argv = ["run", "naive_bayes", "naive_bayes_source", "--set", "eval.groups=likelihood,nope"]
    assert main([*argv, "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "eval.groups names no metric group 'nope'" in err
    assert not (tmp_path / "o").exists()


def test_the_groups_are_listed(capsys):
    assert main(["list", "metrics"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "metrics:"
    names = [line.split()[0] for line in lines[1:]]
    assert {"likelihood", "source", "sample_quality", "augmentation"} <= set(names)
    assert all(line.startswith("  ") for line in lines[1:])
