"""Files that are downloaded once into a cache: canonical URL, SHA-256 check, offline error.

The cache directory is ``$GENBENCH_CACHE`` or ``~/.cache/genbench``. A file is
looked up there by name; if absent it is downloaded to a temporary file in
the same directory, checked against its SHA-256, then renamed into place
(atomic, so an interrupted download never leaves a bad file under the final
name). Without network the error is one line that says where to put the file.
This module imports neither jax nor numpy.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from genbench.data.checks import sha256_of
from genbench.errors import UsageError

CACHE_ENV = "GENBENCH_CACHE"
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


def cache_dir() -> Path:
    """``$GENBENCH_CACHE`` or ``~/.cache/genbench`` (not created here)."""
    root = os.environ.get(CACHE_ENV)
    return Path(root).expanduser() if root else Path.home() / ".cache" / "genbench"


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Writes ``data`` to ``path`` through a temporary file and ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    atomic_write_bytes(target, data)
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
