"""Exceptions raised by xpnet. Every message says what was expected, what arrived and the fix."""

from __future__ import annotations

__all__ = ["BackendError", "DivergenceError", "ModelFileError", "StudyError", "UserCodeError",
           "XpnetError"]


class XpnetError(Exception):
    """Base class of xpnet's own errors."""


class BackendError(XpnetError, TypeError):
    """An array of the wrong backend or device, or a backend that cannot be used."""


class DivergenceError(XpnetError, FloatingPointError):
    """Training produced a non-finite loss.

    Attributes
    ----------
    epoch : int
        The first epoch whose loss was NaN or infinite.
    """

    def __init__(self, message: str, epoch: int):
        super().__init__(message)
        self.epoch = epoch


class ModelFileError(XpnetError, ValueError):
    """A saved model file that is missing, corrupt, or not written by xpnet."""


class StudyError(XpnetError, RuntimeError):
    """A study's output folder is in use by another run, or holds another study."""


class UserCodeError(XpnetError):
    """A user's file (``xpnet gradcheck FILE.py:Class``) failed to load or raised an error.

    Attributes
    ----------
    phase : str
        ``"load"`` (importing the file), ``"construct"`` (the class's ``__init__``) or
        ``"check"`` (its ``forward``/``backward`` while being checked).
    """

    def __init__(self, message: str, phase: str):
        super().__init__(message)
        self.phase = phase
