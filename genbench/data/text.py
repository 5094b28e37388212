"""Character-level text (nanoGPT's ``shakespeare_char`` convention) and shared windowing.

A UTF-8 text of N characters becomes symbols: the vocabulary is the sorted set
of its characters (by code point; ``vocabulary[i]`` decodes symbol i), the
first floor(0.9 N) characters are the training text and the rest the test
text. Both are stored as windows of T = block_size + 1 symbols, the shape a
transformer trains on (inputs x[:-1], targets x[1:]):

- test: non-overlapping windows, starts 0, T, 2T, ... (stride T), so every test
  character is scored exactly once by a model's log q(window); the last
  partial window (< T characters) is dropped.
- train: windows with starts 0, S, 2S, ... (stride S = ``data.stride``, default
  B // 2). A fixed array cannot hold nanoGPT's window at a uniformly random
  offset per step; a model that reads shorter windows than the data's
  (``train_window``) has the training feeder cut its windows at random offsets
  from these longer rows. ``data.block_size`` 0 (the default) follows the
  model's block: 2 B_model, so with the default stride B_model every start
  position of the training text is drawn, as nanoGPT's ``get_batch`` draws it,
  at the memory of half-overlapping windows (about 8 MB of int32 for tiny
  Shakespeare).

With ``data.path`` empty the text is tiny Shakespeare (Karpathy's char-rnn
file: 1,115,394 characters, 65 distinct), downloaded once into the cache
(``$GENBENCH_CACHE`` or ``~/.cache/genbench``) and checked against its
SHA-256; offline, the error says where to put the file.
"""

from __future__ import annotations

import numpy as np

from genbench.data.base import Dataset
from genbench.data.checks import check_data_file
from genbench.data.configs import TEXT_TRAIN_FRACTION, TextConfig, check_text_length
from genbench.data.download import Remote, fetch, read_utf8
from genbench.errors import UsageError

# The SHA-256 is the one tensorflow/datasets records for this URL (url_checksums/tiny_shakespeare).
TINY_SHAKESPEARE = Remote(
    name="tiny Shakespeare",
    url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
    filename="tinyshakespeare.txt",
    sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
)


def cut_windows(symbols: np.ndarray, length: int, stride: int) -> np.ndarray:
    """Windows ``[M, length]`` int32 starting at 0, stride, 2 stride, ... (partial ones dropped)."""
    if len(symbols) < length:
        raise UsageError(f"{len(symbols)} symbols are fewer than one window of {length}")
    view = np.lib.stride_tricks.sliding_window_view(np.asarray(symbols, np.int32), length)
    return np.ascontiguousarray(view[::stride])


def encode_characters(text: str) -> tuple[np.ndarray, list[str]]:
    """(symbols ``[N]`` int32, vocabulary): symbol i is the i-th smallest code point in the text."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    points, symbols = np.unique(codes, return_inverse=True)
    return symbols.astype(np.int32), [chr(int(p)) for p in points]


def text_dataset(config: TextConfig) -> Dataset:
    """The character-level dataset of ``config.path`` (tiny Shakespeare if empty)."""
    if config.path:
        path = check_data_file(config.path, config.sha256)
        where = repr(config.path)
    else:
        path = fetch(TINY_SHAKESPEARE)
        where = str(path)
    text = read_utf8(path)
    block = config.window_block
    check_text_length(len(text), block, where)
    symbols, vocabulary = encode_characters(text)
    n_train = int(len(symbols) * TEXT_TRAIN_FRACTION)
    length = block + 1
    stride = config.stride or max(block // 2, 1)
    dataset = Dataset(
        "text",
        cut_windows(symbols[:n_train], length, stride),
        cut_windows(symbols[n_train:], length, length),
        "sequence",
        levels=len(vocabulary),
        vocabulary=vocabulary,
    )
    dataset.char_level = True  # bits per token are bits per character
    return dataset
