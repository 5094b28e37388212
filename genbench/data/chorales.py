"""Bach chorales from the corpus shipped in music21: soprano lines as token sequences.

Pieces are music21's Riemenschneider chorales (``corpus.chorales.Iterator``,
371 files, in its order; ``data.max_pieces`` keeps the first ones). From each,
the soprano part (the part whose id or name says soprano, else the first) is
read with ties merged, as events (MIDI pitch or rest, duration in quarters);
grace notes are skipped, a chord's top note is kept.

Encodings (``data.encoding``):

- ``note`` (default): one token per note: its pitch, or ``R`` for a rest
  (consecutive rests merged). Durations are dropped, so a window of 65 tokens
  spans a few phrases of the melody.
- ``sixteenth``: one token per sixteenth note (DeepBach's grid): the pitch or
  ``R`` at an event's onset, then the hold token ``_`` for its remaining
  sixteenths (durations rounded to the grid, at least one step).

Vocabulary: ``|`` (end of piece), ``R``, ``_`` (sixteenth encoding only), then
the pitches that occur in the parsed pieces, by MIDI number, named like
``C4`` (``vocabulary[i]`` decodes symbol i; ``midi[i]`` is its MIDI number or
-1). Pieces are split by a seeded permutation (``data.test_fraction`` of the
pieces, at least one, are test pieces); each split is its pieces' tokens
concatenated, each piece followed by ``|``, cut into windows of
block_size + 1 tokens: the test split into non-overlapping windows, the
training split with stride ``data.stride`` (default block_size // 2), as the
``text`` dataset (see ``genbench.data.text``). Chorales are short (about 50
soprano notes), so windows cross piece boundaries at the ``|`` token.

Parsing takes about 0.3 s a piece, so the events are cached in
``$GENBENCH_CACHE/chorales-music21-<version>-v<format>.json`` (written
atomically), keyed by the installed music21 version; a cached piece is never
parsed again and a fully cached selection does not import music21.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import warnings

import numpy as np

from genbench.atomic import atomic_write
from genbench.cache import cache_dir
from genbench.data.base import Dataset
from genbench.data.configs import ChoralesConfig
from genbench.data.text import cut_windows
from genbench.errors import UsageError

CACHE_FORMAT = 1
END, REST, HOLD = "|", "R", "_"
NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


def pitch_name(midi: int) -> str:
    """``C4`` for MIDI 60 (scientific pitch notation, sharps)."""
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def music21_version() -> str:
    """The installed music21's version; a one-line ``UsageError`` when it is missing."""
    try:
        return importlib.metadata.version("music21")
    except importlib.metadata.PackageNotFoundError:
        raise UsageError("the chorales dataset needs music21: pip install music21") from None


def cache_file():
    return cache_dir() / f"chorales-music21-{music21_version()}-v{CACHE_FORMAT}.json"


def chorale_names() -> list[str]:
    """music21's Riemenschneider chorales (corpus names), in its order, without repeats."""
    from music21 import corpus

    names = corpus.chorales.Iterator(returnType="filename")
    return list(dict.fromkeys(str(n) for n in names))


def parse_soprano(name: str) -> list[list[float]]:
    """The soprano events ``[[midi or -1, quarter length], ...]`` of corpus piece ``name``."""
    from music21 import corpus

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        score = corpus.parse(name)
        parts = list(score.parts)
        if not parts:
            return []
        soprano = next((p for p in parts if "soprano" in f"{p.id} {p.partName}".lower()), parts[0])
        events: list[list[float]] = []
        for element in soprano.stripTies().flatten().notesAndRests:
            length = float(element.quarterLength)
            if length <= 0:
                continue
            if element.isRest:
                midi = -1
            elif element.isChord:
                midi = max(p.midi for p in element.pitches)
            else:
                midi = element.pitch.midi
            events.append([int(midi), length])
    return events


def load_pieces(max_pieces: int = 0) -> list[list[list[float]]]:
    """The soprano events of the first ``max_pieces`` chorales (all for 0), from the cache
    where present; pieces parsed now are added to it (one atomic write)."""
    path = cache_file()
    cache = {"names": None, "pieces": {}}
    if path.is_file():
        with contextlib.suppress(OSError, ValueError):  # a corrupt cache is rebuilt
            loaded = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(loaded, dict) and loaded.get("format") == CACHE_FORMAT:
                cache = {"names": loaded.get("names"), "pieces": loaded.get("pieces") or {}}
    changed = cache.get("names") is None
    names = cache["names"] if not changed else chorale_names()
    selected = names[:max_pieces] if max_pieces else names
    pieces = cache["pieces"]
    for name in selected:
        if name not in pieces:
            pieces[name] = parse_soprano(name)
            changed = True
    if changed:
        payload = {"format": CACHE_FORMAT, "names": names, "pieces": pieces}
        atomic_write(path, json.dumps(payload), make_parents=True)
    return [pieces[name] for name in selected if pieces[name]]


def encode_piece(events, encoding: str) -> list:
    """Tokens of one piece: MIDI numbers (ints), ``REST`` and ``HOLD``, ending with ``END``."""
    tokens: list = []
    for midi, length in events:
        symbol = REST if midi < 0 else int(midi)
        if encoding == "note":
            if not (symbol == REST and tokens and tokens[-1] == REST):
                tokens.append(symbol)
        else:
            steps = max(1, int(round(4 * length)))
            tokens += [symbol] + [HOLD] * (steps - 1)
    return tokens + [END]


def chorales(config: ChoralesConfig) -> Dataset:
    """Soprano lines of the chorales of ``config``, split by piece, as windows."""
    pieces = [encode_piece(p, config.encoding) for p in load_pieces(config.max_pieces)]
    if len(pieces) < 2:
        raise UsageError(f"{len(pieces)} chorale(s) parsed: a split by piece needs at least 2")
    specials = [END, REST] + ([HOLD] if config.encoding == "sixteenth" else [])
    pitches = sorted({t for p in pieces for t in p if isinstance(t, int)})
    index = {t: i for i, t in enumerate(specials + pitches)}
    order = np.random.default_rng(config.split_seed).permutation(len(pieces))
    n_test = min(max(1, int(round(config.test_fraction * len(pieces)))), len(pieces) - 1)
    length = config.block_size + 1
    stride = config.stride or max(config.block_size // 2, 1)
    splits = {}
    for split, ids, step in (("test", order[:n_test], length), ("train", order[n_test:], stride)):
        symbols = np.array([index[t] for i in sorted(ids) for t in pieces[i]], np.int32)
        if len(symbols) < length:
            raise UsageError(
                f"the chorales' {split} split ({len(ids)} pieces, {len(symbols)} tokens) is "
                f"shorter than one window of data.block_size + 1 = {length}; lower "
                "data.block_size or raise data.max_pieces"
            )
        splits[split] = cut_windows(symbols, length, step)
    dataset = Dataset(
        "chorales",
        splits["train"],
        splits["test"],
        "sequence",
        levels=len(index),
        vocabulary=specials + [pitch_name(m) for m in pitches],
    )
    dataset.midi = [-1] * len(specials) + pitches
    return dataset
