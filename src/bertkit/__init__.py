"""bertkit: the BERT family from scratch in PyTorch."""
from __future__ import annotations

import os

# oneDNN keeps one compiled kernel per matrix shape, 1024 by default. Length-sorted batches give every sequence
# length its own shapes (4 products per layer, per precision), so the default cache thrashes and kernels are
# rebuilt: measured on the bundled MiniLM, bf16 embedding fell from ~1,800 to ~1,250 sentences/s once fp32,
# bf16 and int8 had all run in one process. Read when oneDNN builds its first kernel; a user's value wins.
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "4096")

from bertkit.embed import TextEncoder, load
from bertkit.errors import BertkitError, BertkitWarning, CheckpointError, InputError
from bertkit.hub import default_model_path, from_pretrained, save_pretrained
from bertkit.models import Model, ModelConfig, ModelOutput, build_model
from bertkit.pipelines import pipeline
from bertkit.serve.client import Client
from bertkit.tasks.docqa import DocumentQA
from bertkit.tasks.finetune import finetune
from bertkit.tasks.learner import Learner
from bertkit.tasks.lr_find import lr_find
from bertkit.tasks.predictor import Predictor
from bertkit.tasks.zero_shot import ZeroShotClassifier
from bertkit.tokenizers import Tokenizer

__version__ = "0.1.0"

__all__ = ["load", "TextEncoder", "from_pretrained", "save_pretrained", "default_model_path", "Model", "ModelConfig", "ModelOutput",
           "build_model", "Tokenizer", "finetune", "DocumentQA", "Learner", "lr_find", "pipeline", "Predictor", "ZeroShotClassifier", "Client", "BertkitError", "BertkitWarning",
           "CheckpointError", "InputError"]
