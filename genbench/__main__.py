"""``python -m genbench``: the command line."""

from genbench.cli import main

raise SystemExit(main())
