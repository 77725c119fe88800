"""Generated tokens/s of bertkit's `generate()` (key/value cache) against transformers' `generate` on the same GPT-2
checkpoint, the same prompts and settings, and a check that both produce the same tokens.

    python benchmarks/generation_speed.py [--model FOLDER] [--size small|tiny] [--prompts FILE]
                                          [--max-new-tokens 64] [--batch-sizes 1,8] [--rounds 3]

--model: a GPT-2 folder (e.g. the KoGPT2-style model of examples/kogpt2_nsmc.sh) with its tokenizer; prompts are
the first lines of --prompts (default: built-in English ones). Without --model a GPT-2 of --size (small: the 124M
GPT-2 shape, 12 x 768, vocab 50,257; tiny: 2 x 128, vocab 8,000) is built with seeded random weights, saved in a
temporary folder and loaded by both libraries; prompts are then random token ids.

Greedy decoding with the cache; both sides stop a row at the config's eos and pad it with eos, so tokens/s counts
the tokens each side returned (the same, when the tokens agree). Batches of prompts of different lengths are
left-padded. Runs alternate (bertkit, transformers, ...) and the table gives the median of --rounds.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

SIZES = {"small": {"vocab_size": 50257, "n_embd": 768, "n_layer": 12, "n_head": 12, "n_positions": 1024},
         "tiny": {"vocab_size": 8000, "n_embd": 128, "n_layer": 2, "n_head": 2, "n_positions": 256}}


def random_checkpoint(size: str, folder: Path) -> Path:
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    cfg = GPT2Config(**SIZES[size], bos_token_id=0, eos_token_id=0)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    return folder


def prompt_batches(args, model_dir: Path, vocab: int) -> dict[int, tuple[torch.Tensor, torch.Tensor]]:
    """{batch size: (left-padded ids, mask)}; prompts of 6 to 20 tokens."""
    if args.model:
        from bertkit.tokenizers import Tokenizer

        tok = Tokenizer.from_pretrained(model_dir)
        lines = [x.strip() for x in Path(args.prompts).read_text(encoding="utf-8").splitlines() if x.strip()] \
            if args.prompts else ["The movie was", "I did not expect", "This is the best film", "The actors",
                                  "What a waste of", "My favourite scene", "Honestly the story", "In the end"]
        rows = [tok(x, add_special_tokens=False)["input_ids"][:20] for x in lines]
    else:
        g = torch.Generator().manual_seed(1)
        rows = [torch.randint(1, vocab, (6 + (7 * i) % 15,), generator=g).tolist() for i in range(64)]
    out = {}
    for b in (int(x) for x in args.batch_sizes.split(",")):
        chosen = [rows[i % len(rows)] for i in range(b)]
        t = max(len(r) for r in chosen)
        ids = torch.zeros(b, t, dtype=torch.long)
        mask = torch.zeros(b, t, dtype=torch.long)
        for i, r in enumerate(chosen):
            ids[i, t - len(r):] = torch.tensor(r)
            mask[i, t - len(r):] = 1
        out[b] = (ids, mask)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", help="a GPT-2 folder (default: a random one of --size)")
    p.add_argument("--size", choices=sorted(SIZES), default="small")
    p.add_argument("--prompts", help="a text file, one prompt a line (with --model)")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--batch-sizes", default="1,8")
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()

    from transformers import GPT2LMHeadModel

    import bertkit
    from bertkit import hardware

    tmp = tempfile.TemporaryDirectory()
    folder = Path(args.model) if args.model else random_checkpoint(args.size, Path(tmp.name))
    ours = bertkit.from_pretrained(folder).eval()
    theirs = GPT2LMHeadModel.from_pretrained(folder).eval()
    vocab = theirs.config.vocab_size
    print(f"machine: {hardware.describe()}; torch threads {torch.get_num_threads()}")
    print(f"model: {args.model or 'random GPT-2 ' + args.size} ({sum(x.numel() for x in theirs.parameters()) / 1e6:.1f}M "
          f"parameters); greedy, key/value cache, up to {args.max_new_tokens} new tokens a row, fp32")
    n = args.max_new_tokens
    rows = []
    for b, (ids, mask) in prompt_batches(args, folder, vocab).items():
        def run_ours(ids=ids, mask=mask):
            return ours.generate(ids, mask, max_new_tokens=n)

        def run_theirs(ids=ids, mask=mask):
            return theirs.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, do_sample=False,
                                   num_beams=1, use_cache=True, pad_token_id=theirs.config.eos_token_id)

        with torch.inference_mode():
            a, c = run_ours(), run_theirs()  # warm-up, and the tokens to compare
            same = torch.equal(a, c)
            mine, ref = [], []
            for _ in range(args.rounds):
                t = time.perf_counter()
                run_ours()
                mine.append(time.perf_counter() - t)
                t = time.perf_counter()
                run_theirs()
                ref.append(time.perf_counter() - t)
        made = b * (a.shape[1] - ids.shape[1])  # new tokens a run (rows that ended early count their padding)
        x, y = made / statistics.median(mine), made / statistics.median(ref)
        rows.append((b, ids.shape[1], x, y, same, int((a != c).any(dim=1).sum())))
        print(f"  batch {b}: bertkit {x:,.1f} tok/s, transformers {y:,.1f} tok/s, same tokens: {same}", flush=True)
    print("\n| batch | prompt tokens (padded) | bertkit tok/s | transformers tok/s | speed-up | same tokens |")
    print("|---:|---:|---:|---:|---:|---|")
    for b, t, x, y, same, diff in rows:
        print(f"| {b} | {t} | {x:,.1f} | {y:,.1f} | {x / y:.2f}x | {'yes' if same else f'no ({diff} rows differ)'} |")
    tmp.cleanup()


if __name__ == "__main__":
    main()
