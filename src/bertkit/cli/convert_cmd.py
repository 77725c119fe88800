"""`bertkit convert SRC DST [--family F] [--task T]`: re-save a checkpoint (any weights format) as config.json +
safetensors, optionally as another family member with the same encoder (an ELECTRA discriminator as a BERT)."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("convert", help="convert a checkpoint folder to config.json + model.safetensors")
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--family", help="save as this family (bert or electra; the encoder is copied exactly, e.g. an "
                                    "ELECTRA discriminator without factorized embeddings becomes a BERT)")
    p.add_argument("--task", help="save with this task's heads (base, mlm, classification, ...; default: the "
                                  "checkpoint's, or its nearest equivalent); heads not in SRC are newly initialised")
    p.add_argument("--force", action="store_true", help="overwrite DST when it already holds a checkpoint")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.embed.st_folder import copy_st_files
    from bertkit.errors import InputError
    from bertkit.hub.checkpoint import TOKENIZER_FILES, from_pretrained, save_pretrained

    src, dst = Path(args.src), Path(args.dst)
    if dst.resolve() == src.resolve():
        raise InputError("convert: SRC and DST must be different folders")
    if dst.exists() and not dst.is_dir():
        raise InputError(f"convert: DST {dst} is a file")
    if (dst / "config.json").is_file() and not args.force:
        raise InputError(f"convert: DST {dst} already holds a checkpoint (config.json); choose another folder or "
                         f"pass --force to overwrite it")
    model = from_pretrained(src)
    if args.family or args.task:
        from bertkit.models.convert import convert_family

        model = convert_family(model, args.family or model.family.name, task=args.task)
    save_pretrained(model, dst)
    for name in TOKENIZER_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, dst / name)
    copy_st_files(src, dst)  # modules.json, 1_Pooling, 2_Normalize: it embeds as SRC did
    print(f"wrote {dst} ({model.family.arch_name(model.task)}, safetensors)")
    return 0
