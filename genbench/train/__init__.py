"""The shared training step, its data feeding, device mesh and fit loop."""
