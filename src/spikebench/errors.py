"""User-facing errors.

Every problem a user can cause (a missing file, a malformed HDF5 file, a bad option, an
interrupted download) is raised as a :class:`SpikebenchError` whose message is one line
that names the file, the item and the problem. The CLI prints it without a traceback
(unless ``--debug``) and exits non-zero; library callers can catch it.
"""


class SpikebenchError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class DataError(SpikebenchError):
    """A data file is missing, malformed or inconsistent."""


class ConfigError(SpikebenchError):
    """An experiment configuration or command-line option is invalid."""


class TrainingError(SpikebenchError):
    """Training cannot go on (for example the loss became NaN)."""
