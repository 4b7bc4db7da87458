"""Exceptions raised by xpnet. Every message says what was expected, what arrived and the fix."""

from __future__ import annotations

__all__ = ["BackendError", "DivergenceError", "ModelFileError", "XpnetError"]


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
