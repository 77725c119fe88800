"""How an `Explanation` (tasks/explain.py) is shown: a standalone HTML page and a one-line terminal string."""
from __future__ import annotations

import html
from typing import Any

GREEN, RED, WHITE = (0, 170, 60), (220, 30, 30), (255, 255, 255)


def strengths(values: list[float]) -> list[float]:
    """|v| / max|v| per value (all 0 when every value is 0): the colour intensity of each word."""
    top = max((abs(v) for v in values), default=0.0)
    return [abs(v) / top if top > 0 else 0.0 for v in values]


def _header(exp: Any) -> str:
    return f"{exp.target} (score {exp.score:.3f})"


def html_page(exp: Any) -> str:
    """The page: a header with the label, score and logits, then each text as a paragraph of word spans."""
    values = [a for _, a in exp.words]
    paras: list[list[str]] = [[], []]
    for (word, a), s, seg in zip(exp.words, strengths(values), exp.word_segments):
        r, g, b = GREEN if a >= 0 else RED
        paras[seg].append(f'<span class="w" style="background-color: rgba({r}, {g}, {b}, {s:.3f})" '
                          f'title="{a:+.6f}">{html.escape(word)}</span>')
    body = "\n".join(f'<p class="text">{" ".join(p)}</p>' for p in paras if p)
    meta = (f"logit of {html.escape(exp.target)}: {exp.logit:.4f} at the input, {exp.baseline_logit:.4f} at the "
            f"{html.escape(exp.baseline)} baseline; integrated gradients with {exp.steps} steps, completeness error "
            f"{exp.completeness_error:.2%}")
    if exp.note:
        meta += f" ({html.escape(exp.note)})"
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>bertkit explanation: {html.escape(exp.target)}</title>
<style>
body {{ font-family: sans-serif; max-width: 50em; margin: 2em auto; }}
.text {{ font-size: 1.2em; line-height: 2em; }}
.w {{ padding: 0.1em 0.15em; border-radius: 0.2em; }}
.meta {{ color: #555; font-size: 0.9em; }}
</style></head>
<body>
<h1>{html.escape(_header(exp))}</h1>
<p class="meta">{meta}</p>
{body}
<p class="meta">green: pushes towards {html.escape(exp.target)}; red: pushes away from it</p>
</body></html>
"""


def terminal_line(exp: Any, color: bool = True) -> str:
    """`LABEL (score S): w1 w2 ...`; the pair's words after a ` | `. color: ANSI 24-bit backgrounds blended
    from white towards green/red by strength; else `word(+0.12)`."""
    values = [a for _, a in exp.words]
    parts: list[str] = []
    prev_seg = 0
    for (word, a), s, seg in zip(exp.words, strengths(values), exp.word_segments):
        if seg != prev_seg:
            parts.append("|")
            prev_seg = seg
        if color:
            r, g, b = (round(w + (c - w) * s) for w, c in zip(WHITE, GREEN if a >= 0 else RED))
            parts.append(f"\x1b[38;2;0;0;0;48;2;{r};{g};{b}m{word}\x1b[0m")
        else:
            parts.append(f"{word}({a:+.2f})")
    return f"{_header(exp)}: {' '.join(parts)}"
