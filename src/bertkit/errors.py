"""Errors a user can cause. The CLI prints them as one line and exits non-zero."""
from __future__ import annotations


class BertkitError(Exception):
    """A problem with the user's input (files, arguments, checkpoints), not a bug in bertkit."""


class CheckpointError(BertkitError):
    """A checkpoint folder is missing, incomplete, corrupt or of an unknown architecture."""


class InputError(BertkitError):
    """Text or data given to bertkit is not in the expected form."""
