"""spikebench.export."""
