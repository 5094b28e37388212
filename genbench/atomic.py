"""The one atomic file writer: a temporary file in the target's directory, then a rename.

A reader never sees a partial file under the final name, and a crash or an
error leaves none behind: the temporary file is removed and the error
re-raised. Temporary files are named ``.tmp-<name>-<random>.part``, so record
readers (which skip names starting with ``.``) never read one. Nothing here
imports jax or numpy.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

TEMP_PREFIX = ".tmp-"


def _umask() -> int:
    """The process's umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, data: bytes | str, make_parents: bool = False) -> Path:
    """Writes ``data`` to ``path`` atomically (temp file in the same directory, fsync, rename).

    Args:
      path: the final file.
      data: the contents; text is encoded as UTF-8.
      make_parents: create the file's directory (and its parents) if missing;
        otherwise the directory must exist.

    Returns:
      ``path`` as a Path. On any error the temp file is removed and the error re-raised.
    """
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    temp = None
    try:
        with tempfile.NamedTemporaryFile(
            "wb", dir=path.parent, prefix=f"{TEMP_PREFIX}{path.name}-", suffix=".part", delete=False
        ) as handle:
            temp = handle.name
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        # A temporary file is private (0600); the result gets a plain file's mode, so that
        # records on a shared filesystem stay readable by the others who read them.
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
    except BaseException:
        if temp is not None:
            with contextlib.suppress(OSError):
                os.unlink(temp)
        raise
    return path
