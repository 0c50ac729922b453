"""spikebench.report."""
