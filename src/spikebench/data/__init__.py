"""spikebench.data."""
