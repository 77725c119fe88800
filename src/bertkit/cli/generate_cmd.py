"""`bertkit generate MODEL "prompt"`: generate text with GPT-2, BART or a translation model, streamed as it comes."""
from __future__ import annotations

import argparse
import sys

from bertkit.cli.options import decay, non_negative_int, positive_float, positive_int, real


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="generate text from a prompt (GPT-2, BART, translation models)",
                       description="Continue the prompt (GPT-2) or generate from it as a source (BART, MarianMT, "
                                   "train-translation folders), printing the text as the tokens come (greedy and "
                                   "sampling; beam search prints at the end). Settings as in transformers.")
    p.add_argument("model", help="checkpoint folder")
    p.add_argument("prompt")
    p.add_argument("--max-new-tokens", type=positive_int, default=50)
    p.add_argument("--num-beams", type=positive_int, default=1)
    p.add_argument("--do-sample", action="store_true")
    p.add_argument("--top-k", type=non_negative_int, default=50, help="sampling: keep the k best tokens (0: all)")
    p.add_argument("--top-p", type=decay, default=1.0, help="sampling: keep the smallest set of this mass")
    p.add_argument("--temperature", type=positive_float, default=1.0)
    p.add_argument("--repetition-penalty", type=positive_float, default=1.0, help="> 1 discourages tokens already there")
    p.add_argument("--no-repeat-ngram-size", type=non_negative_int, default=0, help="> 0: no n-gram of this size twice")
    p.add_argument("--length-penalty", type=real, default=1.0, help="beam search: exponent of the length")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the sampling generator")
    p.add_argument("--no-stream", action="store_true", help="print the text once, at the end")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from bertkit.text_generation import TextGenerator

    gen = TextGenerator(args.model)

    def show(piece: str) -> None:
        sys.stdout.write(piece)
        sys.stdout.flush()

    streaming = not args.no_stream
    if streaming and not gen.seq2seq:
        show(args.prompt)
    text = gen(args.prompt, stream=show if streaming else None, seed=args.seed, max_new_tokens=args.max_new_tokens,
               num_beams=args.num_beams, do_sample=args.do_sample, top_k=args.top_k, top_p=args.top_p,
               temperature=args.temperature, repetition_penalty=args.repetition_penalty,
               no_repeat_ngram_size=args.no_repeat_ngram_size, length_penalty=args.length_penalty)
    if streaming:
        show("\n")
    else:
        print(text if gen.seq2seq else args.prompt + text)
    return 0
