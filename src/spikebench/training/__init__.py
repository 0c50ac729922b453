"""spikebench.training."""
