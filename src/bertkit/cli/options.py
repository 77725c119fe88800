"""argparse `type=` helpers for numeric options, so a bad number is refused while the command line is parsed:

    p.add_argument("--batch-size", type=positive_int, default=32)
    $ bertkit embed ... --batch-size -4
    bertkit embed: error: argument --batch-size: must be >= 1, got -4

Every subcommand takes its numbers through these (the library still checks its own arguments for Python callers).
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _number(kind: type, text: str) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, "
                                         f"got {text!r}") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _bounded(kind: type, low: float | None = None, high: float | None = None, low_open: bool = False,
             high_open: bool = False, name: str = "") -> Callable[[str], int | float]:
    """A type function accepting `kind` values within [low, high] (open ends where asked)."""
    if low is not None and high is not None:
        rule = f"must be in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        rule = f"must be {'>' if low_open else '>='} {low:g}"
    else:
        rule = f"must be {'<' if high_open else '<='} {high:g}"

    def parse(text: str) -> int | float:
        v = _number(kind, text)
        too_low = low is not None and (v <= low if low_open else v < low)
        too_high = high is not None and (v >= high if high_open else v > high)
        if too_low or too_high:
            raise argparse.ArgumentTypeError(f"{rule}, got {text}")
        return v

    parse.__name__ = name or kind.__name__  # argparse names the type in its own messages
    return parse


positive_int = _bounded(int, 1, name="positive_int")
"""An integer >= 1: sizes and counts (batch size, steps, max length, k)."""
non_negative_int = _bounded(int, 0, name="non_negative_int")
"""An integer >= 0: counts where 0 means none (warm-up steps, workers, seeds)."""
positive_float = _bounded(float, 0, low_open=True, name="positive_float")
"""A number > 0: learning rates, epochs, seconds, scales."""
non_negative_float = _bounded(float, 0, name="non_negative_float")
"""A number >= 0: weight decay, clipping norm (0 = off), waits."""
fraction = _bounded(float, 0, 1, low_open=True, high_open=True, name="fraction")
"""A number in (0, 1): a share of something, both ends meaningless (a dev split, a mask probability)."""
unit_float = _bounded(float, 0, 1, name="unit_float")
"""A number in [0, 1]: a ratio where both ends make sense (a warm-up ratio)."""
decay = _bounded(float, 0, 1, low_open=True, name="decay")
"""A number in (0, 1]: a factor where 1 means unchanged (layer-wise learning-rate decay, a size fraction)."""


def real(text: str) -> float:
    """Any finite number: a length penalty (negative favours short outputs)."""
    return float(_number(float, text))


def integer(text: str) -> int:
    """Any integer: an index that may count from the end (a layer, a head)."""
    return int(_number(int, text))


port = _bounded(int, 0, 65535, name="port")
"""A TCP port, 0..65535 (0: any free port)."""


def integer(text: str) -> int:
    """Any integer (layer indices count from the end when negative)."""
    return int(_number(int, text))


def int_list(item: Callable[[str], int | float] = integer) -> Callable[[str], list]:
    """A comma-separated list, each item parsed by `item` (e.g. `-k 1,5,10` with positive_int)."""
    def parse(text: str) -> list:
        parts = [x.strip() for x in text.split(",") if x.strip()]
        if not parts:
            raise argparse.ArgumentTypeError(f"expected integers separated by commas, got {text!r}")
        return [item(x) for x in parts]

    parse.__name__ = "int_list"
    return parse


def add_training_precision(p: argparse.ArgumentParser) -> None:
    """The --precision option of every training command (auto by default; bertkit.hardware decides)."""
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"],
                   help="auto (default): bf16 autocast where the CPU/GPU multiplies bf16 natively (AMX, "
                        "AVX512-BF16), else fp32; bf16 elsewhere is emulated and much slower")
