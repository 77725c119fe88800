"""Held-out perplexity of a GPT-2 folder (the KoGPT2-style model of examples/kogpt2_nsmc.sh) computed by bertkit
and by transformers' GPT2LMHeadModel on the same blocks, and continuations of Korean prompts (printed as they come).

    python benchmarks/kogpt2_eval.py MODEL --dev ../shared/data/nsmc/nsmc_rawderived_dev_sample.txt
                                     [--max-length 128] [--max-new-tokens 40] [--seed 0]

The dev file is read as pretraining reads it (a TSV with a `document` column: one review a document, joined by
eos and cut into blocks of --max-length, the last partial block dropped). Perplexity = exp(mean next-token loss
over every predicted position of every block). Continuations: greedy (checked token for token against
transformers' generate) and sampled (top-p 0.9, temperature 0.8, repetition penalty 1.2, seeded).
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))

PROMPTS = ["이 영화 정말", "배우들 연기가", "스토리가 너무", "최악의 영화", "오랜만에 본 영화인데"]


def blocks(model_dir: Path, dev: str, max_length: int) -> torch.Tensor:
    from bertkit.data import build_token_cache
    from bertkit.data.packing import CausalBlocks
    from bertkit.tokenizers import Tokenizer

    tok = Tokenizer.from_pretrained(model_dir)
    enc = lambda t: tok(t, add_special_tokens=False, padding=False, truncation=False)["input_ids"]
    with tempfile.TemporaryDirectory() as d:
        cache = build_token_cache([dev], enc, tok.vocab_size, Path(d) / "dev", tokenizer_id=str(model_dir),
                                  progress=False)
        data = CausalBlocks(cache, tok.eos_token_id, max_length)
        return torch.stack([torch.as_tensor(data[i]["input_ids"]) for i in range(len(data))])


def summed_loss(logits: torch.Tensor, ids: torch.Tensor) -> float:
    return float(F.cross_entropy(logits[:, :-1].flatten(0, 1).double(), ids[:, 1:].flatten(), reduction="sum"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("--dev", required=True)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--max-new-tokens", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-perplexity", action="store_true", help="only the continuations")
    args = p.parse_args()

    from transformers import GPT2LMHeadModel

    import bertkit
    from bertkit import hardware
    from bertkit.text_generation import TextGenerator

    folder = Path(args.model)
    ours = bertkit.from_pretrained(folder).eval()
    theirs = GPT2LMHeadModel.from_pretrained(folder).eval()
    print(f"machine: {hardware.describe()}")
    if not args.no_perplexity:
        perplexity(ours, theirs, blocks(folder, args.dev, args.max_length), args)
    continuations(ours, theirs, TextGenerator(folder).tokenizer, args)


def perplexity(ours, theirs, ids: torch.Tensor, args) -> None:
    print(f"{args.dev}: {ids.shape[0]} blocks of {ids.shape[1]} tokens")
    a = b = 0.0
    with torch.inference_mode():
        for i in range(0, len(ids), args.batch_size):
            x = ids[i:i + args.batch_size]
            a += summed_loss(ours(x).logits, x)
            b += summed_loss(theirs(input_ids=x).logits, x)
    n = ids.shape[0] * (ids.shape[1] - 1)
    print(f"\n| | mean next-token loss | perplexity |\n|---|---:|---:|\n| bertkit | {a / n:.4f} | {math.exp(a / n):.2f} |"
          f"\n| transformers GPT2LMHeadModel | {b / n:.4f} | {math.exp(b / n):.2f} |")


def continuations(ours, theirs, tok, args) -> None:
    print("\nGreedy continuations (bertkit; transformers' generate checked token for token):")
    for prompt in PROMPTS:
        x = torch.tensor(tok(prompt, add_special_tokens=False)["input_ids"])
        with torch.inference_mode():
            mine = ours.generate(x, max_new_tokens=args.max_new_tokens, repetition_penalty=1.2)
            ref = theirs.generate(input_ids=x, attention_mask=torch.ones_like(x), max_new_tokens=args.max_new_tokens,
                                  do_sample=False, repetition_penalty=1.2, pad_token_id=theirs.config.eos_token_id)
        text = tok.decode(mine[0, x.shape[1]:].tolist(), skip_special_tokens=True)
        print(f"- {prompt} → {text}   [same tokens as transformers: {torch.equal(mine, ref)}]")
    print(f"\nSampled continuations (top-p 0.9, temperature 0.8, repetition penalty 1.2, seed {args.seed}):")
    for prompt in PROMPTS:
        g = torch.Generator().manual_seed(args.seed)
        x = torch.tensor(tok(prompt, add_special_tokens=False)["input_ids"])
        with torch.inference_mode():
            out = ours.generate(x, max_new_tokens=args.max_new_tokens, do_sample=True, top_k=None, top_p=0.9,
                                temperature=0.8, repetition_penalty=1.2, generator=g)
        print(f"- {prompt} → {tok.decode(out[0, x.shape[1]:].tolist(), skip_special_tokens=True)}")


if __name__ == "__main__":
    main()
