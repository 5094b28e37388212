"""Committed numbers stay true (the other families); see test_committed_results.py."""

from tests.committed_reruns import RECORDS, committed_record_tests

# Every other family a file, so that pytest-xdist's ``--dist loadfile`` re-runs the two
# halves on two workers at once (one process re-running every family took 222 s alone).
PART = RECORDS[1::2]


reruns, test_a_committed_record_reruns_to_the_same_metrics = committed_record_tests(PART)
