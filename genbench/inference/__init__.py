"""Pure, jit-compatible inference algorithms on arrays (no modules, no state)."""
