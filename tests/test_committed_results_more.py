"""Committed numbers stay true (the families not on the digits); see test_committed_results.py."""

from tests.committed_reruns import committed_record_tests

reruns, test_a_committed_record_reruns_to_the_same_metrics = committed_record_tests(1)
