"""`bertkit convert SRC DST`: re-save a checkpoint (any weights format) as config.json + safetensors."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

TOKENIZER_FILES = ("vocab.txt", "vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json",
                   "tokenizer.json", "sentencepiece.bpe.model", "spiece.model", "added_tokens.json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a checkpoint folder to config.json + model.safetensors")
    p.add_argument("src")
    p.add_argument("dst")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.errors import InputError
    from bertkit.hub.checkpoint import from_pretrained, save_pretrained

    src, dst = Path(args.src), Path(args.dst)
    if dst.resolve() == src.resolve():
        raise InputError("convert: SRC and DST must be different folders")
    model = from_pretrained(src)
    save_pretrained(model, dst)
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    print(f"wrote {dst} ({model.family.arch_name(model.task)}, safetensors)")
    return 0
