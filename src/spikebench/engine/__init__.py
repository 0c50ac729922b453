"""spikebench.engine."""
