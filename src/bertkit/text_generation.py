"""Text in, text out with a generative checkpoint (GPT-2, BART, a translation model), optionally streamed piece by
piece as the tokens come (`bertkit generate MODEL "prompt"`)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import InputError


class TextGenerator:
    """`TextGenerator(folder)(prompt, stream=print_piece, max_new_tokens=..., ...)` -> the generated text.

    A decoder-only model (GPT-2) continues the prompt, and the text returned and streamed is the continuation; an
    encoder-decoder (BART, MarianMT, `bertkit train-translation`'s folders) reads the prompt as its source and
    returns its output. The settings are generate()'s (greedy by default, sampling, beam search, repetition
    penalty, n-gram ban) and mean what they mean in transformers."""

    def __init__(self, path: str | Path) -> None:
        from bertkit.hub import from_pretrained
        from bertkit.hub.default import resolve_model_path
        from bertkit.tokenizers import Tokenizer
        from bertkit.translation.translator import SETTINGS_FILE, Translator

        path = resolve_model_path(path)  # a folder, or a hub id in the local cache
        self.translator = None
        if (path / SETTINGS_FILE).is_file():
            self.translator = Translator.load(path)
            self.model, self.tokenizer = self.translator.model, self.translator.target_tokenizer
        else:
            self.model = from_pretrained(path)
            self.tokenizer = Tokenizer.from_pretrained(path)
        if not hasattr(self.model, "generate") or self.model.task != "lm":
            raise InputError(f"{path} is a {self.model.family.name} model for {self.model.task!r}; generating text "
                             "needs a GPT-2, BART or translation (MarianMT) checkpoint with its LM head")
        self.seq2seq = hasattr(self.model, "encode")

    def _prompt_ids(self, prompt: str) -> list[int]:
        if self.translator is not None:
            return self.translator.encode_sources([prompt])[0]
        tok = self.tokenizer
        if self.seq2seq:
            return tok.encode(prompt)  # with the tokenizer's template (BART: <s> ... </s>)
        ids = tok.encode(prompt, add_special_tokens=False)
        if not ids:
            bos = tok.bos_token_id if tok.bos_token_id is not None else self.model.config.bos_token_id
            if bos is None:
                raise InputError("the prompt is empty and the model has no bos token to start from; give a prompt")
            ids = [bos]
        return ids

    @torch.no_grad()
    def __call__(self, prompt: str, stream: Callable[[str], None] | None = None, seed: int | None = None,
                 **settings: Any) -> str:
        """Generate from `prompt`; `stream(piece)` receives the text as it grows (greedy and sampling; with
        beams the whole text once at the end). seed: the sampling generator's seed. settings: generate()'s."""
        if not isinstance(prompt, str):
            raise InputError(f"the prompt must be text (str), got {type(prompt).__name__}")
        ids = torch.tensor([self._prompt_ids(prompt)])
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        tok, eos = self.tokenizer, self._eos()
        new: list[int] = []
        shown = ""

        def text_of(toks: list[int]) -> str:
            if eos is not None and eos in toks:
                toks = toks[:toks.index(eos)]
            return tok.decode(toks, skip_special_tokens=True)

        def on_tokens(step: torch.Tensor) -> None:
            nonlocal shown
            new.append(int(step[0]))
            text = text_of(new)
            if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
                return
            if text.startswith(shown) and len(text) > len(shown):
                stream(text[len(shown):])
                shown = text

        beams = settings.get("num_beams", 1)
        out = self.model.generate(ids, generator=generator, on_tokens=on_tokens if stream and beams == 1 else None,
                                  **settings)
        start = 1 if self.seq2seq else ids.shape[1]
        text = text_of(out[0, start:].tolist())
        if stream is not None and text.startswith(shown) and len(text) > len(shown):
            stream(text[len(shown):])
        return text.strip() if self.seq2seq else text

    def _eos(self) -> int | None:
        if self.translator is not None:
            return self.translator.settings.eos_token_id
        return self.model.config.eos_token_id
