"""bertkit: the BERT family from scratch in PyTorch."""
from __future__ import annotations

from bertkit.embed import TextEncoder, load
from bertkit.errors import BertkitError, CheckpointError, InputError
from bertkit.hub import default_model_path, from_pretrained, save_pretrained
from bertkit.models import Model, ModelConfig, ModelOutput, build_model
from bertkit.tasks.finetune import finetune
from bertkit.tasks.predictor import Predictor
from bertkit.serve.client import Client
from bertkit.tokenizers import Tokenizer

__version__ = "0.1.0"

__all__ = ["load", "TextEncoder", "from_pretrained", "save_pretrained", "default_model_path", "Model", "ModelConfig", "ModelOutput",
           "build_model", "Tokenizer", "finetune", "Predictor", "Client", "BertkitError", "CheckpointError", "InputError"]
