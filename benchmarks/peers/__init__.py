"""Peer implementations (optional dependencies) timed beside genbench."""
