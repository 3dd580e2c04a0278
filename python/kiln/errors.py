"""kiln's exceptions: one class per kiln status code, each carrying kiln's message and code.

=====================  ====  ==========================================================
class                  code  meaning
=====================  ====  ==========================================================
:class:`UsageError`       1  a bad argument (also a :class:`ValueError`)
:class:`BadInputError`    2  a bad model, plan, tensor or file (also a :class:`ValueError`)
:class:`UnsupportedError` 3  valid input that kiln does not handle (op, dtype, attribute)
:class:`AccuracyError`    4  an accuracy check failed (``.document`` holds the report)
:class:`KilnRuntimeError` 5  runtime / GPU / out of memory (also a builtin :class:`RuntimeError`)
=====================  ====  ==========================================================

The runtime error is named ``KilnRuntimeError`` rather than ``kiln.RuntimeError`` so that
``from kiln import *`` never shadows the builtin; it subclasses the builtin, so
``except RuntimeError`` catches it too.
"""

from typing import Any, Optional


class KilnError(Exception):
    """Base class of kiln's errors. ``code`` is kiln's status code, ``message`` kiln's text."""

    code = 0

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class UsageError(KilnError, ValueError):
    """A bad argument (status 1)."""

    code = 1


class BadInputError(KilnError, ValueError):
    """A bad model, plan, tensor or file (status 2)."""

    code = 2


class UnsupportedError(KilnError):
    """Valid input that kiln does not handle (status 3)."""

    code = 3


class AccuracyError(KilnError):
    """An accuracy check failed (status 4). ``document`` is the command's JSON report, when one was written."""

    code = 4

    def __init__(self, message: str, code: Optional[int] = None, document: Any = None) -> None:
        super().__init__(message, code)
        self.document = document


class KilnRuntimeError(KilnError, RuntimeError):
    """Runtime, GPU or out-of-memory error (status 5); also a builtin ``RuntimeError``."""

    code = 5


_BY_CODE = {1: UsageError, 2: BadInputError, 3: UnsupportedError, 4: AccuracyError, 5: KilnRuntimeError}


def error_for(code: int, message: str) -> KilnError:
    """The exception for a kiln status code (unknown codes become KilnRuntimeError)."""
    return _BY_CODE.get(code, KilnRuntimeError)(message, code)
