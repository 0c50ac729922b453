"""The SHD/SSC HDF5 schema: read a whole split in bulk, write the same schema.

(Being built: read_shd / write_shd.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True, eq=False)
class SpikeData:
    """All spike events of one split, stored flat (ragged arrays as values + offsets).

    Sample ``i`` owns events ``offsets[i]:offsets[i+1]`` of ``times`` and ``units``.

    Attributes:
        times: float32 [n_events], seconds from the sample's start (the file stores
            float16; it is widened to float32 on reading, before any arithmetic).
        units: uint16 [n_events], channel index 0..n_channels-1 (SHD: 0 = highest
            frequency, 699 = lowest).
        offsets: int64 [n_samples + 1], offsets[0] == 0, non-decreasing.
        labels: int64 [n_samples], class index into ``keys``.
        speakers: int64 [n_samples], speaker id per sample.
        keys: class names in label order (read from ``extra/keys``).
        n_channels: number of input channels (700 for SHD/SSC).
        meta: per-speaker arrays from ``extra/meta_info`` (gender, age, body_height);
            empty for SSC.
    """

    times: np.ndarray
    units: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray
    speakers: np.ndarray
    keys: tuple[str, ...]
    n_channels: int = 700
    meta: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Times (s, float32) and units of sample ``i``."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.times[a:b], self.units[a:b]
