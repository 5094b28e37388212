"""Committed numbers stay true (the other families); see test_committed_results.py."""

import pytest

from tests.committed_reruns import RECORDS, assert_same_metrics, rerun

# Every other family a file, so that pytest-xdist's ``--dist loadfile`` re-runs the two
# halves on two workers at once (one process re-running every family took 222 s alone).
PART = RECORDS[1::2]


@pytest.fixture(scope="module")
def reruns(tmp_path_factory) -> dict[str, dict]:
    return rerun(PART, tmp_path_factory)


@pytest.mark.parametrize("committed", PART, ids=[f"{r['model']}-{r['dataset']}" for r in PART])
def test_a_committed_record_reruns_to_the_same_metrics(committed, reruns):
    assert_same_metrics(committed, reruns[committed["model"]])
