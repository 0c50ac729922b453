"""spikebench.experiments."""
