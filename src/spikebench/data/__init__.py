"""spikebench.data: SHD/SSC files to time-major tensors.

``shd`` (read/write the HDF5 schema, :class:`SpikeData`), ``synthetic`` (learnable
SHD-layout data for tests and benchmarks), ``binning`` (events -> ``[T, B, C]`` frames),
``cache`` (binned splits on disk), ``splits`` (speaker-held-out validation), ``paths``
(the data root), ``download`` (fetch the official archives), ``inspect`` (summaries and
rasters). Times are seconds throughout.
"""
