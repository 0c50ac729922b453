"""Deployment of trained spiking models: NIR graphs (:mod:`.nir`) and a Loihi 2 fixed-point check (:mod:`.loihi`).

Importing this package is cheap (no torch), so the command line can list the targets.
"""

#: NIR export targets: ``generic`` is faithful NIR in real time; ``snntorch`` and ``norse``
#: are graphs written in the conventions of snnTorch 1.0.0's and Norse 1.1.0's importers.
TARGETS = ("generic", "snntorch", "norse")
