"""Committed numbers stay true (the records on the digits): each family's committed smoke record,
re-run at this revision with its own config and seed, gives the same metrics.

A change that moves a number (a new default, a fixed bug) fails here until
``results/smoke`` is regenerated (``genbench suite smoke --out results/smoke``), so the
committed results never silently drift from the code.
"""

from tests.committed_reruns import RECORDS, committed_record_tests


def test_every_family_has_a_committed_record():
    assert {r["model"] for r in RECORDS} >= {
        "autoencoder", "gan", "hmm", "naive_bayes", "transformer", "vae"
    }  # fmt: skip


reruns, test_a_committed_record_reruns_to_the_same_metrics = committed_record_tests(0)
