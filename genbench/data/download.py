"""Files that are downloaded once into a cache: canonical URL, SHA-256 check, offline error.

The cache directory is ``genbench.cache.cache_dir()`` (``$GENBENCH_CACHE`` or
``~/.cache/genbench``). A file is looked up there by name; if absent it is
downloaded, checked against its SHA-256, then written with
``genbench.atomic.atomic_write`` (temp file + rename, so an interrupted
download never leaves a bad file under the final name). Without network the
error is one line that says where to put the file. This module imports
neither jax nor numpy.
"""

from __future__ import annotations

import hashlib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from genbench.atomic import atomic_write
from genbench.cache import CACHE_ENV, cache_dir
from genbench.data.checks import sha256_of
from genbench.errors import UsageError

TIMEOUT_S = 60


@dataclass(frozen=True)
class Remote:
    """A downloadable file.

    Attributes:
      name: what it is, for messages.
      url: canonical URL.
      filename: the file's name in the cache directory.
      sha256: expected SHA-256 hex digest; empty skips the check.
    """

    name: str
    url: str
    filename: str
    sha256: str = ""


def fetch(remote: Remote) -> Path:
    """The cached copy of ``remote``, downloading it first if needed.

    Raises:
      UsageError: the download failed (offline: says where to put the file),
        or the cached or downloaded file has the wrong SHA-256.
    """
    target = cache_dir() / remote.filename
    if target.is_file():
        _check_digest(remote, target)
        return target
    try:
        with urllib.request.urlopen(remote.url, timeout=TIMEOUT_S) as response:
            data = response.read()
    except (OSError, ValueError) as error:
        reason = str(getattr(error, "reason", error)).splitlines()[0] if str(error) else ""
        raise UsageError(
            f"cannot download {remote.name} from {remote.url} ({reason or type(error).__name__});"
            f" download it yourself and put it at {target}"
            + (f" (SHA-256 {remote.sha256})" if remote.sha256 else "")
            + f", or set {CACHE_ENV} to the directory that holds {remote.filename}"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if remote.sha256 and digest != remote.sha256:
        raise UsageError(
            f"the download of {remote.name} from {remote.url} has SHA-256 {digest}, expected "
            f"{remote.sha256}; nothing was written to {target}"
        )
    atomic_write(target, data, make_parents=True)
    return target


def _check_digest(remote: Remote, path: Path) -> None:
    if remote.sha256 and (digest := sha256_of(path)) != remote.sha256:
        raise UsageError(
            f"{path} is not {remote.name}: its SHA-256 is {digest}, expected {remote.sha256}"
            " (delete it to download again)"
        )


def read_utf8(path: str | Path) -> str:
    """The text of a UTF-8 file; a one-line ``UsageError`` with the byte offset otherwise."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        message = f"data file {str(path)!r} is not UTF-8 text (byte {error.start})"
        raise UsageError(message) from None
