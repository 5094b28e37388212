"""The one cache directory: ``$GENBENCH_CACHE``, or ``~/.cache/genbench`` when that is unset.

Downloads live at its top level; derived artefacts in subdirectories (the
feature classifier in ``features/``). Nothing here imports jax or numpy.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "GENBENCH_CACHE"


def cache_dir(sub: str | None = None) -> Path:
    """The cache directory, or its subdirectory ``sub`` (neither is created here).

    Args:
      sub: a subdirectory name, e.g. ``"features"``; None for the top level.

    Returns:
      ``$GENBENCH_CACHE[/sub]``, or ``~/.cache/genbench[/sub]`` when the variable is unset or empty.
    """
    root = os.environ.get(CACHE_ENV)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "genbench"
    return base / sub if sub else base
