"""A suite run's ``seeds`` field: a count, or the list of seeds to run."""

from genbench.spec import load_suite

RUN = '[[run]]\nmodel = "gan"\ndataset = "ring8"\nset = { "train.steps" = 4 }\n'


def _suite(tmp_path, name, seeds_line):
    path = tmp_path / f"{name}.toml"
    path.write_text(f"{seeds_line}\n{RUN}", encoding="utf-8")
    return str(path)


def test_a_list_of_seeds_runs_those_seeds_with_the_keys_a_count_gives_them(tmp_path):
    counted = load_suite(_suite(tmp_path, "table", "seeds = 6"))
    chosen = load_suite(_suite(tmp_path, "longer", "seeds = [5, 2]"))
    assert [spec.seed for spec in chosen] == [5, 2]
    by_seed = {spec.seed: spec.run_key for spec in counted}
    assert [spec.run_key for spec in chosen] == [by_seed[5], by_seed[2]]


def test_the_seeds_option_replaces_a_list_with_a_count(tmp_path):
    specs = load_suite(_suite(tmp_path, "longer", "seeds = [5, 2]"), seeds=3)
    assert [spec.seed for spec in specs] == [0, 1, 2]


def test_a_suite_wide_list_of_seeds_applies_to_every_run_without_its_own(tmp_path):
    path = tmp_path / "two.toml"
    path.write_text(f"seeds = [3, 1]\n{RUN}{RUN.replace('ring8', 'grid25')}seeds = 1\n")
    assert [(s.dataset, s.seed) for s in load_suite(str(path))] == [
        ("ring8", 3),
        ("ring8", 1),
        ("grid25", 0),
    ]
