"""Tokens/s of `bertkit pretrain` (library call behind the CLI) against transformers' Trainer with
DataCollatorForLanguageModeling, on the same tiny config, tokenizer, packed examples and batch size.

    python benchmarks/pretrain_speed.py --tokenizer TOK --corpus FILE [--steps 60] [--batch-size 32]
    python benchmarks/pretrain_speed.py --arch gpt2 --tokenizer TOK --corpus FILE   # GPT-2, next-token loss

--arch bert: masked LM (BertForMaskedLM, mlm_probability 0.15). --arch gpt2: causal LM (GPT2LMHeadModel,
DataCollatorForLanguageModeling(mlm=False)) on the same eos-separated blocks of --max-length tokens.

Runs alternate (bertkit, transformers, bertkit, transformers, ...) so a busy machine slows both alike;
the table reports the median of the repeats. Both sides do dynamic 15% / 80-10-10 masking, AdamW, linear
schedule, clipping at 1.0 and no checkpointing during the run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

import torch


def bertkit_run(args, out: Path, precision: str) -> float:
    """Seconds of the training loop (the trainer's own clock, model building and saving excluded)."""
    from bertkit.training.pretrain import PretrainSpec, pretrain

    kind = dict(arch="bert", objective="mlm", packing="full") if args.arch == "bert" else dict(arch="gpt2")
    spec = PretrainSpec(**kind, size="tiny", tokenizer=args.tokenizer,
                        corpus=[args.corpus], out=out, steps=args.steps, batch_size=args.batch_size, lr=1e-4,
                        warmup=10, max_length=args.max_length, precision=precision, log_every=10,
                        cache_dir=args.cache, progress=False)
    pretrain(spec)
    recs = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines() if '"elapsed_s"' in x]
    return recs[-1]["elapsed_s"]  # seconds from the first step to the end of the last one


def examples(args):
    from bertkit.data import Specials, build_token_cache, full_sentences
    from bertkit.data.packing import CausalBlocks
    from bertkit.tokenizers import Tokenizer

    tok = Tokenizer.from_pretrained(args.tokenizer)
    enc = lambda t: tok(t, add_special_tokens=False, padding=False, truncation=False)["input_ids"]  # noqa: E731
    cache = build_token_cache([args.corpus], enc, tok.vocab_size, Path(args.cache) / "train",
                              tokenizer_id=str(Path(args.tokenizer).resolve()), progress=False)
    if args.arch == "gpt2":
        return CausalBlocks(cache, tok.eos_token_id, args.max_length), tok.vocab_size
    return full_sentences(cache, Specials.from_tokenizer(tok), args.max_length), tok.vocab_size


def hf_run(args, data, vocab_size: int, precision: str) -> float:
    """Seconds of Trainer.train() (its train_runtime)."""
    from transformers import (AutoTokenizer, BertConfig, BertForMaskedLM, DataCollatorForLanguageModeling, GPT2Config,
                              GPT2LMHeadModel, Trainer, TrainingArguments)

    tok = AutoTokenizer.from_pretrained(args.tokenizer)
    if args.arch == "gpt2":
        if tok.pad_token is None:
            tok.pad_token = tok.eos_token  # the collator asks for one; every block is full, so nothing is padded
        model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab_size, n_embd=128, n_layer=2, n_head=2, n_inner=512,
                                           n_positions=args.max_length, bos_token_id=tok.eos_token_id,
                                           eos_token_id=tok.eos_token_id))
        collator = DataCollatorForLanguageModeling(tok, mlm=False)
    else:
        cfg = BertConfig(vocab_size=vocab_size, hidden_size=128, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=512, max_position_embeddings=args.max_length)
        model = BertForMaskedLM(cfg)
        collator = DataCollatorForLanguageModeling(tok, mlm_probability=0.15)
    rows = [{"input_ids": data[i]["input_ids"]} for i in range(len(data))]
    with tempfile.TemporaryDirectory() as d:
        targs = TrainingArguments(output_dir=d, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
                                  learning_rate=1e-4, warmup_steps=10, weight_decay=0.01, max_grad_norm=1.0,
                                  lr_scheduler_type="linear", logging_steps=10, save_strategy="no", report_to=[],
                                  use_cpu=True, bf16=precision == "bf16", dataloader_num_workers=0,
                                  disable_tqdm=True, seed=0)
        trainer = Trainer(model=model, args=targs, train_dataset=rows,
                          data_collator=collator)
        out = trainer.train()
    return out.metrics["train_runtime"]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--arch", choices=["bert", "gpt2"], default="bert")
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--corpus", required=True)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "bertkit_speed_cache"))
    args = p.parse_args()
    torch.manual_seed(0)
    data, vocab_size = examples(args)
    mean_len = sum(len(data[i]["input_ids"]) for i in range(len(data))) / len(data)
    tokens = args.steps * args.batch_size * mean_len
    from bertkit import hardware

    print(f"machine: {hardware.describe()}")
    print(f"--arch {args.arch}: {len(data)} packed examples of mean length {mean_len:.1f}; {args.steps} steps x {args.batch_size}: "
          f"{tokens:,.0f} tokens per run; torch threads {torch.get_num_threads()}")
    rows = []
    for precision in args.precisions.split(","):
        ours, theirs = [], []
        for r in range(args.repeats):
            with tempfile.TemporaryDirectory() as d:
                ours.append(bertkit_run(args, Path(d) / "run", precision))
            theirs.append(hf_run(args, data, vocab_size, precision))
            print(f"  {precision} repeat {r}: bertkit {tokens / ours[-1]:,.0f} tok/s, "
                  f"transformers {tokens / theirs[-1]:,.0f} tok/s", flush=True)
        a, b = tokens / statistics.median(ours), tokens / statistics.median(theirs)
        rows.append((precision, a, b, a / b))
    print("\n| precision | bertkit pretrain tok/s | transformers Trainer tok/s | speed-up |")
    print("|---|---:|---:|---:|")
    for precision, a, b, s in rows:
        print(f"| {precision} | {a:,.0f} | {b:,.0f} | {s:.2f}x |")


if __name__ == "__main__":
    main()
