"""A shipped reproduction's marks point at committed evidence: every `not_reproducible` row or
cell cites the curve that shows why (issue 12), and every results path a mark or a protocol
deviation cites exists in this repository, the files named after it (``DIR/: plots/x.png``)
included."""

import re
from pathlib import Path

import pytest

from genbench.reproduce.files import load, shipped

ROOT = Path(__file__).resolve().parents[1]
CITED = re.compile(r"(results/[\w./-]*\w/?)(?:: ([\w./-]+\.(?:png|svg|csv|json|md)))?")


def _texts(reproduction) -> tuple[list[str], list[str]]:
    """(its not_reproducible marks, its protocol deviations)."""
    marks = [row.not_reproducible for row in reproduction.rows]
    marks += [cell.not_reproducible for row in reproduction.rows for cell in row.cells]
    return [m for m in marks if m], [p.deviation for p in reproduction.protocol if p.deviation]


@pytest.mark.parametrize("name", sorted(shipped()))
def test_marks_cite_committed_curves_that_exist(name):
    marks, deviations = _texts(load(name))
    for mark in marks:
        assert CITED.search(mark), f"{name}: a not_reproducible mark cites no results path: {mark}"
    for text in marks + deviations:
        for folder, file in CITED.findall(text):
            assert (ROOT / folder).exists(), f"{name} cites {folder}, which is not committed"
            if file:
                assert (ROOT / folder / file).is_file(), f"{name} cites {folder}: {file}"
