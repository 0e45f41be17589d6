"""Progress of long calls as log records, so any front end can show it as it happens.

tqdm bars serve Python users in a terminal or notebook; the R package turns these records
into an R progress bar (tqdm writes to Python's stderr, which R consoles do not show live).
A record carries ``(task, done, total)`` in its :data:`PROGRESS_FIELD` attribute and is
logged at DEBUG level, so ordinary logging configurations never print it.
"""
from __future__ import annotations

import logging

logger = logging.getLogger("stcross")

PROGRESS_FIELD = "stcross_progress"


def report(task: str, done: int, total: int) -> None:
    """Say that ``done`` of ``total`` steps of ``task`` are finished."""
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s: %d/%d", task, done, total, extra={PROGRESS_FIELD: (task, int(done), int(total))})
