"""Hand stcross's log records, progress and Python warnings to a front end as they happen.

The R package calls Python through reticulate: a record Python logs during a long call would
otherwise reach R only when the call returns, and warnings from anndata or scipy would go to
the process's stderr, outside R's condition system. While a :class:`Forwarding` is active,
each of them is passed at once to a callback (an R function, for the R package)::

    callback(kind, level, text, task, done, total)

``kind`` is ``"log"`` (a record of the ``stcross`` logger at ``level`` or above),
``"progress"`` (``task``, ``done`` of ``total``; see :mod:`stcross.progress`) or
``"warning"`` (a Python warning, ``text`` naming its category). Everything is restored on
:meth:`stop`.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Callable

from .progress import PROGRESS_FIELD

logger = logging.getLogger("stcross")


class _CallbackHandler(logging.Handler):
    # An error raised by the callback (an R handler that stops, say) propagates to the caller:
    # emit() does not catch it, so logging's handleError never swallows it.
    def __init__(self, callback: Callable, level: int, progress: bool):
        super().__init__(logging.DEBUG)
        self.callback = callback
        self.threshold = level
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        progress = getattr(record, PROGRESS_FIELD, None)
        if progress is not None:
            if self.progress:
                self.callback("progress", record.levelno, record.getMessage(), *progress)
        elif record.levelno >= self.threshold:
            self.callback("log", record.levelno, record.getMessage(), None, None, None)


class Forwarding:
    """Forward records, progress and warnings to ``callback`` between :meth:`start` and :meth:`stop`.

    Parameters
    ----------
    callback
        Called as ``callback(kind, level, text, task, done, total)``.
    level
        Lowest level of log records forwarded (progress records always are).
    progress
        Forward progress records.
    """

    def __init__(self, callback: Callable, *, level: int = logging.INFO, progress: bool = True):
        self.callback = callback
        self.level = int(level)
        self.progress = progress
        self._handler: _CallbackHandler | None = None
        self._logger_level = logging.NOTSET
        self._warnings: warnings.catch_warnings | None = None

    def start(self) -> Forwarding:
        if self._handler is not None:
            return self
        self._handler = _CallbackHandler(self.callback, self.level, self.progress)
        self._logger_level = logger.level
        wanted = logging.DEBUG if self.progress else self.level
        if logger.getEffectiveLevel() > wanted:
            logger.setLevel(wanted)
        logger.addHandler(self._handler)
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.showwarning = self._show_warning
        return self

    def stop(self) -> None:
        if self._handler is None:
            return
        logger.removeHandler(self._handler)
        logger.setLevel(self._logger_level)
        self._warnings.__exit__(None, None, None)
        self._handler = self._warnings = None

    def _show_warning(self, message, category, filename, lineno, file=None, line=None) -> None:
        self.callback("warning", logging.WARNING, f"{category.__name__}: {message}", None, None, None)
