"""Exceptions for bad user input: the message says what is wrong and what to do.

Input checks raise :class:`InputError` (a :class:`ValueError`) or one of its subclasses,
which also derive from the built-in type a caller may already catch (``TypeError``,
``KeyError``, ``FileNotFoundError``, ``FileExistsError``). The command line reports these
as messages; any other exception is a bug and keeps its traceback.
"""
from __future__ import annotations

__all__ = ["InputError", "InputFileExistsError", "InputFileNotFoundError", "InputKeyError", "InputTypeError"]


class InputError(ValueError):
    """An input (data, argument or saved file) that stcross cannot use as given."""


class InputTypeError(InputError, TypeError):
    """An input of the wrong type."""


class InputKeyError(InputError, KeyError):
    """A key (layer, obsm entry) that the input does not have."""

    # KeyError would print the message in quotes, like a repr of a missing key.
    __str__ = BaseException.__str__


class InputFileNotFoundError(InputError, FileNotFoundError):
    """A path that does not hold what stcross expected."""


class InputFileExistsError(InputError, FileExistsError):
    """A path that is in the way of what stcross would write."""
