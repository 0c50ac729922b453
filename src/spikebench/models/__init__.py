"""spikebench.models."""
