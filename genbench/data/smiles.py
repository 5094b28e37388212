"""MOSES molecules (Polykovskiy et al. 2020) as character-level SMILES sequences.

Where the molecules come from, in order:

1. ``data.path``: a CSV (or ``.csv.gz``) with a header and a ``SMILES`` column.
   With a ``SPLIT`` column (MOSES's ``dataset_v1.csv``: train / test /
   test_scaffolds) the rows of ``train`` and of ``data.test_split`` are used;
   without one, ``data.test_path`` holds the test molecules, or else a seeded
   10% of the file is the test split.
2. The ``molsets`` wheel, if installed: its ``moses/dataset/data/train.csv.gz``
   and ``test.csv.gz`` (or ``test_scaffolds.csv.gz``). The package directory is
   found with ``importlib.util.find_spec("moses")`` and never imported (it
   pulls torch and an old pomegranate).
3. MOSES's ``dataset_v1.csv`` from its GitHub repository (84 MB, Git LFS),
   downloaded once into the cache and checked against its SHA-256 (the Git
   LFS object id); offline, the error says where to put the file.

Encoding. Symbols 0, 1, 2 are the padding, start and end tokens (``<pad>``,
``<bos>``, ``<eos>``); the characters of the kept training molecules follow,
sorted by code point (``vocabulary[i]`` decodes symbol i). A molecule of L
characters becomes the row

    [<bos>, c_1, ..., c_L, <eos>, <pad>, ..., <pad>]   (``data.max_length`` tokens),

so molecules with L + 2 > ``max_length`` are dropped and counted
(``dropped_too_long``: train, test), as are test molecules with a character
outside the training vocabulary (``dropped_unknown``). ``data.subsample`` keeps
a seeded choice of that many training molecules (after the length filter).
``train_smiles`` keeps the training strings for ``novelty``
(``genbench.metrics.molecules``).
"""

from __future__ import annotations

import csv
import gzip
import importlib.util
import io
from pathlib import Path

import numpy as np

from genbench.data.base import Dataset
from genbench.data.configs import SmilesConfig
from genbench.data.download import Remote, fetch
from genbench.errors import UsageError

PAD, BOS, EOS = 0, 1, 2
SPECIAL_TOKENS = ["<pad>", "<bos>", "<eos>"]
TEST_FRACTION = 0.1  # test share of a file with neither a SPLIT column nor data.test_path

# The SHA-256 is the Git LFS object id of data/dataset_v1.csv in molecularsets/moses.
MOSES = Remote(
    name="the MOSES dataset (dataset_v1.csv)",
    url="https://media.githubusercontent.com/media/molecularsets/moses/master/data/dataset_v1.csv",
    filename="moses_dataset_v1.csv",
    sha256="bb47a94d347afd476d3828b5e26dceeabc42a2d8cf92a791d00349f22fea0d8b",
)


class SmilesDataset(Dataset):
    """A ``sequence`` dataset of SMILES rows with the strings and the drop counts."""

    char_level = False  # start, end and padding tokens are not characters

    def __init__(self, train, test, vocabulary, train_smiles, dropped_too_long, dropped_unknown):
        super().__init__(
            "smiles", train, test, "sequence", levels=len(vocabulary), vocabulary=vocabulary
        )
        self.train_smiles = train_smiles
        self.dropped_too_long = dropped_too_long
        self.dropped_unknown = dropped_unknown

    def decode_smiles(self, rows: np.ndarray) -> list[str | None]:
        """The SMILES strings of symbol rows ``[n, T]``: the characters after a leading start
        token up to the first end or padding token; None for a row with a start token inside
        (never a molecule) or without an end token."""
        out: list[str | None] = []
        for row in np.asarray(rows):
            row = row[1:] if len(row) and row[0] == BOS else row
            stops = np.flatnonzero((row == EOS) | (row == PAD))
            if not len(stops) or row[stops[0]] != EOS:
                out.append(None)
                continue
            body = row[: stops[0]]
            if np.any(body == BOS):
                out.append(None)
                continue
            out.append("".join(self.vocabulary[int(s)] for s in body))
        return out


def read_smiles_csv(source, name: str) -> tuple[list[str], list[str] | None]:
    """(SMILES, SPLIT values or None) of a CSV with a header; ``source`` a path or an open file."""
    opened = None
    if isinstance(source, str | Path):
        path = Path(source)
        opener = gzip.open if path.suffix.lower() == ".gz" else open
        try:
            opened = opener(path, "rt", encoding="utf-8", newline="")
            text = opened.read()
        except (OSError, UnicodeDecodeError, EOFError) as error:
            raise UsageError(f"cannot read SMILES file {name}: {error}".splitlines()[0]) from None
        finally:
            if opened is not None:
                opened.close()
        source = io.StringIO(text, newline="")
    reader = csv.reader(source)
    header = next(reader, None)
    columns = {c.strip().upper(): i for i, c in enumerate(header or [])}
    if "SMILES" not in columns:
        raise UsageError(f"SMILES file {name} has no SMILES column (header: {header})")
    i_smiles, i_split = columns["SMILES"], columns.get("SPLIT")
    smiles, splits = [], [] if i_split is not None else None
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) <= max(i_smiles, i_split or 0):
            raise UsageError(f"SMILES file {name}: line {line} has {len(row)} fields")
        smiles.append(row[i_smiles].strip())
        if splits is not None:
            splits.append(row[i_split].strip())
    return smiles, splits


def molsets_files(test_split: str) -> tuple[Path, Path] | None:
    """The molsets wheel's (train, test) ``.csv.gz`` files, or None; never imports moses."""
    try:
        spec = importlib.util.find_spec("moses")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    data = Path(next(iter(spec.submodule_search_locations))) / "dataset" / "data"
    train, test = data / "train.csv.gz", data / f"{test_split}.csv.gz"
    return (train, test) if train.is_file() and test.is_file() else None


def load_splits(config: SmilesConfig) -> tuple[list[str], list[str]]:
    """(train, test) SMILES strings from the first available source (module docstring)."""
    if config.path:
        smiles, splits = read_smiles_csv(config.path, repr(config.path))
        if splits is not None:
            return _by_split(smiles, splits, config.test_split, repr(config.path))
        if config.test_path:
            return smiles, read_smiles_csv(config.test_path, repr(config.test_path))[0]
        order = np.random.default_rng(config.split_seed).permutation(len(smiles))
        n_test = int(round(TEST_FRACTION * len(smiles)))
        if n_test < 1 or n_test >= len(smiles):
            raise UsageError(f"SMILES file {config.path!r} has {len(smiles)} molecules: too few")
        return [smiles[i] for i in order[n_test:]], [smiles[i] for i in order[:n_test]]
    wheel = molsets_files(config.test_split)
    if wheel is not None:
        return read_smiles_csv(wheel[0], str(wheel[0]))[0], read_smiles_csv(
            wheel[1], str(wheel[1])
        )[0]
    path = fetch(MOSES)
    smiles, splits = read_smiles_csv(path, str(path))
    if splits is None:
        raise UsageError(f"{path} has no SPLIT column: it is not MOSES's dataset_v1.csv")
    return _by_split(smiles, splits, config.test_split, str(path))


def _by_split(smiles, splits, test_split, name):
    train = [s for s, split in zip(smiles, splits, strict=True) if split == "train"]
    test = [s for s, split in zip(smiles, splits, strict=True) if split == test_split]
    if not train or not test:
        raise UsageError(
            f"SMILES file {name} needs rows with SPLIT=train and SPLIT={test_split} "
            f"(found {len(train)} and {len(test)})"
        )
    return train, test


def _code_points(smiles: list[str], width: int) -> np.ndarray:
    """Code points ``[n, width]`` (0 after the end of each string; strings fit ``width``)."""
    if not smiles:
        return np.zeros((0, width), np.uint32)
    return np.array(smiles, dtype=f"<U{width}").view(np.uint32).reshape(len(smiles), width)


def encode(smiles: list[str], chars: np.ndarray, max_length: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``[n, max_length]`` int32 for strings of at most max_length - 2 characters, and a
    mask of the strings whose characters are all in ``chars`` (sorted code points)."""
    width = max_length - 2
    points = _code_points(smiles, width)
    lengths = np.array([len(s) for s in smiles], np.int64)
    index = np.searchsorted(chars, points).clip(0, max(len(chars) - 1, 0))
    present = (chars[index] == points) if len(chars) else np.zeros(points.shape, bool)
    inside = np.arange(width)[None, :] < lengths[:, None]
    known = np.all(present | ~inside, axis=1)
    rows = np.full((len(smiles), max_length), PAD, np.int32)
    rows[:, 0] = BOS
    rows[:, 1:-1] = np.where(inside, index + len(SPECIAL_TOKENS), PAD)
    rows[np.arange(len(smiles)), lengths + 1] = EOS
    return rows, known


def smiles_dataset(config: SmilesConfig) -> SmilesDataset:
    """The MOSES (or your) molecules of ``config`` as padded character rows."""
    train, test = load_splits(config)
    limit = config.max_length - 2
    long_train = sum(len(s) > limit for s in train)
    long_test = sum(len(s) > limit for s in test)
    train = [s for s in train if 0 < len(s) <= limit]
    test = [s for s in test if 0 < len(s) <= limit]
    if config.subsample and config.subsample < len(train):
        keep = np.random.default_rng(config.split_seed).choice(len(train), config.subsample, False)
        train = [train[i] for i in np.sort(keep)]
    if not train or not test:
        raise UsageError(
            f"no {'training' if not train else 'test'} molecule has at most data.max_length - 2 "
            f"= {limit} characters; raise data.max_length"
        )
    chars = np.unique(_code_points(train, limit))
    chars = chars[chars > 0]
    train_rows, _ = encode(train, chars, config.max_length)
    test_rows, known = encode(test, chars, config.max_length)
    if not known.any():
        raise UsageError("every test molecule has a character that no training molecule has")
    vocabulary = SPECIAL_TOKENS + [chr(int(c)) for c in chars]
    return SmilesDataset(
        train_rows,
        test_rows[known],
        vocabulary,
        train_smiles=train,
        dropped_too_long=(long_train, long_test),
        dropped_unknown=int((~known).sum()),
    )
