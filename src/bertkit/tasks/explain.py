"""Token attributions for a fine-tuned classifier by integrated gradients (IG), as ktrain's `predictor.explain`.

    exp = clf.explain("I loved the song")     # or bertkit.tasks.explain.explain(clf, "I loved the song")
    print(exp.to_terminal()); exp.to_html("why.html")

IG runs in the space of the word-embedding lookup's output (before position and segment vectors are added):
x is the text's token vectors, x' a baseline (the [PAD] vector, or zeros) at every non-special position, with
the special tokens ([CLS], [SEP]) kept as they are. The attribution of token t is

    sum over the hidden dim of (x_t - x'_t) * mean over a in (0, 1] of d logit_target(x' + a (x - x')) / d x_t

with the mean taken on a midpoint (or trapezoid) grid of `steps` points, several alphas per forward pass. The
attributions add up to logit(x) - logit(x') (completeness); how far they miss it is `completeness_error`, and
when it is above 1% the steps are doubled (up to MAX_STEPS). The model is hooked, not copied: a forward hook on
its token-embedding table replaces the lookup's output by the points of the path.
"""
from __future__ import annotations

import copy
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from bertkit.errors import InputError
from bertkit.tasks import explain_view as V

BASELINES = ("pad", "zero")
METHODS = ("midpoint", "trapezoid")
TOLERANCE = 0.01       # completeness error above which the steps are doubled
MAX_STEPS = 1024
# A logit gap below this is fp32 rounding of the logits themselves: more steps cannot close it, so doubling stops.
ABS_FLOOR = 1e-5


@dataclass
class Explanation:
    """IG attributions of one prediction.

    tokens/attributions: one per model token (special tokens included, their attribution 0: they equal the
    baseline). words: (word, summed attribution) for the non-special tokens merged into words, word_segments
    saying which text (0, or 1 for the pair) each word is from. target: the explained label; score: its
    probability at the input; logit / baseline_logit: its logit at the input and at the baseline. steps: the
    steps actually used; note: why that differs from the steps asked for, if it does.
    """

    text: str
    pair: str | None
    tokens: list[str]
    attributions: list[float]
    words: list[tuple[str, float]]
    word_segments: list[int]
    target: str
    target_index: int
    score: float
    logit: float
    baseline_logit: float
    completeness_error: float
    steps: int
    baseline: str = "pad"
    note: str = ""
    probabilities: dict[str, float] = field(default_factory=dict)

    def to_html(self, path: str | Path) -> Path:
        """Write a standalone HTML page: one <span> per word, green for positive and red for negative
        attribution, its opacity |attr| / max|attr|, the value in its title; a header with label and score."""
        path = Path(path)
        path.write_text(V.html_page(self), encoding="utf-8")
        return path

    def to_terminal(self, color: bool = True) -> str:
        """One line `LABEL (score S): words...`: with ANSI background colours (green +, red -, stronger for a
        larger |attr|), or with color=False each word as `word(+0.12)`."""
        return V.terminal_line(self, color)


def explain(predictor: Any, text: str, target: str | int | None = None, pair: str | None = None, steps: int = 50,
            baseline: str = "pad", method: str = "midpoint", batch_size: int = 32,
            progress: bool = False) -> Explanation:
    """Integrated-gradients attributions of `predictor`'s logit for `target` (a label; default: the predicted
    one) over the tokens of `text` (and `pair` for a pair predictor). predictor: a Predictor of task classify or
    pair with single-label outputs. baseline: "pad" (the [PAD] vector) or "zero"; method: "midpoint" or
    "trapezoid" grid of `steps` alphas, `batch_size` alphas per forward pass. Inputs longer than the predictor's
    max_length are cut, as predict() cuts them."""
    model, ids, types, offsets, special, labels = _prepare(predictor, text, pair, steps, baseline, method)
    with torch.inference_mode(False), torch.enable_grad():
        was_training = model.training
        model.eval()  # no dropout: the path must be one deterministic function of alpha
        try:
            emb = model.input_embeddings()
            x = emb.weight.detach()[ids].clone()  # (T, E): the lookup's output for the text
            if baseline == "pad":
                pad = predictor.tokenizer.pad_token_id
                base = emb.weight.detach()[pad if pad is not None else 0].expand_as(x).clone()
            else:
                base = torch.zeros_like(x)
            base[special] = x[special]  # [CLS]/[SEP] stay: only the text's own tokens are explained
            logits_x, logits_b = _logits(model, ids, types, torch.stack([x, base]))
            index = _target_index(target, labels, logits_x)
            used, note = int(steps), ""
            while True:
                attr = integrated_gradients(model, ids, types, x, base, index, used, method, batch_size, progress)
                gap = float(logits_x[index] - logits_b[index])
                err = abs(float(attr.sum()) - gap) / max(abs(gap), 1e-9)
                if err <= TOLERANCE or used >= MAX_STEPS or abs(float(attr.sum()) - gap) <= ABS_FLOOR:
                    break
                first = note or f"completeness error {err:.3g} at {used} steps"
                used = min(used * 2, MAX_STEPS)
                note = f"{first}; steps doubled to {used}"
            if err > TOLERANCE and abs(float(attr.sum()) - gap) > ABS_FLOOR:
                note = (note + "; " if note else "") + f"completeness error still {err:.3g} at {used} steps"
            elif note:
                note += f" (error {err:.3g})"
        finally:
            model.train(was_training)
    attributions = [float(a) for a in attr.cpu()]
    tokens = predictor.tokenizer.convert_ids_to_tokens(ids.tolist())
    words, segments = merge_words(text, pair, offsets, special.tolist(), attributions)
    probs = torch.softmax(logits_x.double(), -1)
    return Explanation(text, pair, tokens, attributions, words, segments, labels[index], index, float(probs[index]),
                       float(logits_x[index]), float(logits_b[index]), err, used, baseline, note,
                       {lab: float(p) for lab, p in zip(labels, probs)})


def integrated_gradients(model: Any, ids: torch.Tensor, types: torch.Tensor, x: torch.Tensor, base: torch.Tensor,
                         index: int, steps: int, method: str = "midpoint", batch_size: int = 32,
                         progress: bool = False) -> torch.Tensor:
    """IG of logit `index` over one sequence: ids/types (T,), x/base (T, E) token vectors at the input and at
    the baseline -> (T,) attributions, sum over E of (x - base) * the grid-weighted mean gradient."""
    from tqdm.auto import tqdm

    alphas, weights = _grid(steps, method, x.device)
    total = torch.zeros_like(x)
    bar = tqdm(total=steps, desc="integrated gradients", unit="step", disable=not progress)
    for s in range(0, steps, batch_size):
        a = alphas[s:s + batch_size].view(-1, 1, 1)
        path = (base + a * (x - base)).requires_grad_(True)  # (k, T, E): k points of the straight path
        out = _forward(model, ids, types, path)[:, index]
        (grad,) = torch.autograd.grad(out.sum(), path)  # rows are independent: each gets its own gradient
        total += (grad * weights[s:s + batch_size].view(-1, 1, 1)).sum(0)
        bar.update(len(a))
    bar.close()
    return ((x - base) * total).sum(-1).detach()


def merge_words(text: str, pair: str | None, offsets: list[tuple[int, int]], special: list[bool],
                attributions: list[float]) -> tuple[list[tuple[str, float]], list[int]]:
    """Sum the pieces of each word: a token continues the word before it when it starts where that one ended
    in the same text and neither is punctuation ("play" "##ing" -> "playing"; "song" "," stay apart). Word
    text is cut from the input itself, so it keeps its case and accents. -> (words, their segment: 0 or 1)."""
    sources = [text, pair or ""]
    words: list[list[Any]] = []  # [segment, start, end, attribution]
    segment, seen = 0, False
    for (s, e), sp, a in zip(offsets, special, attributions):
        if sp:
            if seen:
                segment = 1  # the first special token after the first text's tokens: the pair starts after it
            continue
        seen = True
        piece = sources[segment][s:e]
        last = words[-1] if words else None
        if (last is not None and last[0] == segment and last[2] == s and not _punct(piece)
                and not _punct(sources[segment][last[1]:last[2]])):
            last[2], last[3] = e, last[3] + a
        else:
            words.append([segment, s, e, a])
    return [(sources[g][s:e], float(a)) for g, s, e, a in words], [w[0] for w in words]


def _punct(piece: str) -> bool:
    return bool(piece) and all(unicodedata.category(c)[0] in "PS" for c in piece)


# ---- internals ------------------------------------------------------------------------------------------------
def _prepare(predictor: Any, text: Any, pair: Any, steps: Any, baseline: str, method: str):
    """Check the arguments and encode the text: -> fp32 model, ids, types, offsets, special mask, labels."""
    task = getattr(predictor, "task", None)
    if task not in ("classify", "pair"):
        raise InputError(f"explain works for classify and pair predictors, got task {task!r}")
    kind = predictor.settings.get("kind", "single_label")
    if kind != "single_label":
        raise InputError(f"explain works for single-label classifiers, got kind {kind!r}")
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"text to explain must be a non-empty string, got {text!r}")
    if task == "pair" and (not isinstance(pair, str) or not pair.strip()):
        raise InputError(f"a pair predictor explains two texts: give pair= a non-empty string, got {pair!r}")
    if task == "classify" and pair is not None:
        raise InputError("pair= is for pair predictors; this one classifies single texts")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < (2 if method == "trapezoid" else 1):
        raise InputError(f"steps must be an integer >= {2 if method == 'trapezoid' else 1}, got {steps!r}")
    if baseline not in BASELINES:
        raise InputError(f"baseline must be one of {', '.join(BASELINES)}, got {baseline!r}")
    if method not in METHODS:
        raise InputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    model = predictor.model
    if not hasattr(model, "input_embeddings"):
        raise InputError(f"explain needs a bertkit encoder model, got {type(model).__name__}")
    if any(p.dtype != torch.float32 for p in model.parameters()):
        model = copy.deepcopy(model).float()  # IG sums many small gradient steps: bf16 would swamp them
    tok = predictor.tokenizer
    enc = tok([text], None if pair is None else [pair], max_length=int(predictor.settings.get("max_length", 128)),
              truncation=True, padding=False, return_offsets=True)
    device = next(model.parameters()).device
    ids = torch.tensor(enc["input_ids"][0], device=device)
    types = torch.tensor(enc["token_type_ids"][0], device=device)
    offsets = [tuple(o) for o in enc["offset_mapping"][0]]
    specials = set(tok.all_special_ids)
    special = torch.tensor([int(i) in specials and o == (0, 0) for i, o in zip(ids.tolist(), offsets)],
                           device=device)
    if bool(special.all()):
        raise InputError(f"text {text!r} has no tokens to explain")
    n = model.config.num_labels if hasattr(model, "config") else None
    labels = [str(x) for x in (predictor.labels or range(n or 0))]
    return model, ids, types, offsets, special, labels


def _target_index(target: str | int | None, labels: list[str], logits: torch.Tensor) -> int:
    if target is None:
        return int(logits.argmax())
    if isinstance(target, int) and not isinstance(target, bool):
        if not 0 <= target < len(labels):
            raise InputError(f"target index {target} is out of range: the model has {len(labels)} labels")
        return target
    if str(target) not in labels:
        raise InputError(f"target label {target!r} is not one of the model's labels: {', '.join(labels)}")
    return labels.index(str(target))


def _grid(steps: int, method: str, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Alphas and weights (summing to 1) of the quadrature of the mean gradient over a in [0, 1]."""
    if method == "midpoint":
        alphas = (torch.arange(steps, dtype=torch.float32, device=device) + 0.5) / steps
        return alphas, torch.full((steps,), 1.0 / steps, device=device)
    alphas = torch.linspace(0.0, 1.0, steps, device=device)
    w = torch.full((steps,), 1.0 / (steps - 1), device=device)
    w[0] = w[-1] = 0.5 / (steps - 1)
    return alphas, w


def _forward(model: Any, ids: torch.Tensor, types: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Logits (k, C) of the model with its token lookup's output replaced by `vectors` (k, T, E)."""
    k = vectors.shape[0]
    handle = model.input_embeddings().register_forward_hook(lambda mod, inp, out: vectors)
    try:
        return model(ids.expand(k, -1), token_type_ids=types.expand(k, -1)).logits
    finally:
        handle.remove()


def _logits(model: Any, ids: torch.Tensor, types: torch.Tensor, vectors: torch.Tensor):
    with torch.no_grad():
        out = _forward(model, ids, types, vectors).float()
    return out[0], out[1]
