"""spikebench: train, time and compare spiking neural networks on spiking audio.

Data flows one way: files -> ``data`` -> tensors -> ``models`` (built on ``engine``)
-> ``training`` -> ``results.json`` -> ``report``. Nothing lower imports anything higher;
``cli`` is the only place that knows all of them.
"""

__version__ = "0.1.0"
