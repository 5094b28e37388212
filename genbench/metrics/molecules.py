"""MOSES's validity, uniqueness and novelty of sampled SMILES strings (needs RDKit).

With S the sampled strings, V subset S those RDKit parses and sanitises into a
molecule (an empty string is not one), can(s) RDKit's canonical SMILES and
T the training strings (MOSES's are canonical already, so they are compared
as given, as MOSES does):

    validity   = |V| / |S|
    uniqueness = |{can(s) : s in V}| / |V|                (MOSES's unique@|V|)
    novelty    = |{can(s) : s in V} minus T| / |{can(s) : s in V}|

RDKit is optional: without it the ``molecules`` metric group reports nothing,
and ``data.rdkit_metrics=true`` asks for it explicitly (a one-line
"pip install rdkit" error, raised when the config is checked). Each function
takes ``canonical`` (a string -> canonical SMILES or None function) so that it
runs without RDKit in tests.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable

import jax

from genbench import contract
from genbench.errors import UsageError

Canonical = Callable[[str], "str | None"]


def rdkit_available() -> bool:
    """Whether RDKit is installed (found without importing it)."""
    return importlib.util.find_spec("rdkit") is not None


def rdkit_canonical() -> Canonical:
    """RDKit's canonical SMILES of a string, or None where MOSES's ``get_mol`` gives None.

    Raises:
      UsageError: RDKit is not installed.
    """
    if not rdkit_available():
        raise UsageError("validity, uniqueness and novelty need RDKit: pip install rdkit")
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")

    def canonical(smiles: str) -> str | None:
        if not smiles:
            return None
        mol = Chem.MolFromSmiles(smiles)
        if mol is None:
            return None
        try:
            Chem.SanitizeMol(mol)
        except ValueError:
            return None
        return Chem.MolToSmiles(mol)

    return canonical


def _valid_canonical(smiles: Iterable[str | None], canonical: Canonical | None) -> list[str]:
    canonical = canonical or rdkit_canonical()
    out = [canonical(s) if s is not None else None for s in smiles]
    return [c for c in out if c is not None]


def validity(smiles: list[str | None], canonical: Canonical | None = None) -> float:
    """|V| / |S|: the fraction of strings that are molecules (None counts as invalid)."""
    if not smiles:
        return 0.0
    return len(_valid_canonical(smiles, canonical)) / len(smiles)


def uniqueness(smiles: list[str | None], canonical: Canonical | None = None) -> float:
    """Distinct canonical molecules / valid strings (0 when nothing is valid)."""
    valid = _valid_canonical(smiles, canonical)
    return len(set(valid)) / len(valid) if valid else 0.0


def novelty(
    smiles: list[str | None], train: Iterable[str], canonical: Canonical | None = None
) -> float:
    """Distinct canonical molecules not in ``train`` / distinct canonical molecules."""
    distinct = set(_valid_canonical(smiles, canonical))
    return len(distinct - set(train)) / len(distinct) if distinct else 0.0


def molecule_metrics(model, dataset, view, eval_cfg, rng: jax.Array):
    """``validity``, ``uniqueness``, ``novelty`` of ``eval.source_samples`` model samples.

    Measured for a SMILES dataset (one with ``decode_smiles``) and a model with
    ``sample(rng, n)``, where RDKit is installed; otherwise nothing.
    """
    del view
    if "smiles" not in contract.dataset_capabilities(dataset) or not contract.has(model, "sample"):
        return {}, {}
    if not rdkit_available():
        return {}, {}
    from genbench.metrics.sample_quality import draw_samples

    samples = draw_samples(model, rng, eval_cfg.source_samples, eval_cfg.batch_size)
    smiles = dataset.decode_smiles(samples.reshape(len(samples), -1).astype("int32"))
    canonical = rdkit_canonical()
    valid = _valid_canonical(smiles, canonical)
    identity = lambda s: s  # noqa: E731  (already canonical)
    metrics = {
        "validity": len(valid) / len(smiles),
        "uniqueness": uniqueness(valid, identity),
        "novelty": novelty(valid, dataset.train_smiles, identity),
        "molecule_samples": float(len(smiles)),
    }
    return metrics, {}
