"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""
from __future__ import annotations


class BertkitError(Exception):
    """A problem with the user's input (files, arguments, checkpoints), not a bug in bertkit."""


class CheckpointError(BertkitError):
    """A checkpoint folder is missing, incomplete, corrupt or of an unknown architecture."""


class InputError(BertkitError):
    """Text or data given to bertkit is not in the expected form."""


class BertkitWarning(UserWarning):
    """Something bertkit worked around: in the user's input (skipped rows, cut texts, newly initialised weights)
    or in the environment (no matplotlib for a plot, no oneDNN kernels). The CLI prints it as one line;
    `warnings.filterwarnings("ignore", category=BertkitWarning)` silences them all."""


# frames to look past besides bertkit's own: the wrappers of decorated methods (torch.inference_mode() on embed)
_WRAPPER_MODULES = ("torch.utils._contextlib", "contextlib", "functools")


def warn(message: str) -> None:
    """Issue a BertkitWarning attributed to the first caller outside bertkit (and outside the decorators on its
    methods), so that the warning names the user's line rather than a line inside a library (and repeats are
    shown once per user line)."""
    import sys
    import warnings

    level, frame = 2, sys._getframe(1)
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if module.partition(".")[0] != "bertkit" and module not in _WRAPPER_MODULES:
            break
        frame, level = frame.f_back, level + 1
    warnings.warn(message, BertkitWarning, stacklevel=level)
