"""Checks of user-supplied data files, cheap enough to run before jax is imported."""

from __future__ import annotations

import hashlib
from pathlib import Path

from genbench.errors import UsageError

TEXT_SUFFIXES = (".csv", ".txt")


def sha256_of(path: Path) -> str:
    """The SHA-256 hex digest of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_data_file(path: str, sha256: str = "", suffixes: tuple[str, ...] = ()) -> Path:
    """Checks that ``path`` names a readable, non-empty file with the right checksum.

    Args:
      path: the file.
      sha256: the expected SHA-256 hex digest; empty skips the check.
      suffixes: allowed file suffixes (any when empty).

    Returns:
      The path.

    Raises:
      UsageError: missing, empty, wrong suffix, wrong checksum, or a text file
        that is not UTF-8.
    """
    if not path:
        raise UsageError("data.path is required: --set data.path=FILE")
    file = Path(path)
    if not file.is_file():
        raise UsageError(f"data file {path!r} does not exist")
    if suffixes and file.suffix.lower() not in suffixes:
        raise UsageError(
            f"data file {path!r} has suffix {file.suffix!r}; allowed: {', '.join(suffixes)}"
        )
    if file.stat().st_size == 0:
        raise UsageError(f"data file {path!r} is empty")
    if sha256 and sha256_of(file) != sha256.lower():
        raise UsageError(
            f"data file {path!r} does not match data.sha256={sha256} "
            f"(its SHA-256 is {sha256_of(file)})"
        )
    if file.suffix.lower() in TEXT_SUFFIXES:
        try:
            file.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise UsageError(f"data file {path!r} is not UTF-8 text (byte {error.start})") from None
    return file
