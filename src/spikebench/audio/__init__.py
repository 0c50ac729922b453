"""spikebench.audio."""
