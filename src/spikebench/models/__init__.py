"""Models: one file per family, each registered by name (see :mod:`.registry`).

Every model maps binned frames ``[T, B, C]`` (time-major) to a
:class:`~spikebench.models.base.ModelOutput`.
"""

from spikebench.models.base import Model, ModelOutput
from spikebench.models.registry import (ModelInfo, create_model, list_models, model_hparams,
                                        model_info, register_model)

__all__ = ["Model", "ModelInfo", "ModelOutput", "create_model", "list_models", "model_hparams",
           "model_info", "register_model"]
