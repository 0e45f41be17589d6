"""Forwarding log records, progress and warnings to a front end's callback, and restoring everything after."""
from __future__ import annotations

import logging
import warnings

import pytest
from stcross import progress
from stcross.forwarding import Forwarding

logger = logging.getLogger("stcross")


def _recorder():
    seen = []
    return seen, lambda *args: seen.append(args)


def test_records_progress_and_warnings_reach_the_callback_as_they_happen():
    seen, callback = _recorder()
    level = logger.level
    forwarding = Forwarding(callback, level=logging.INFO).start()
    try:
        logger.debug("not at INFO")
        logger.info("hello %s", "R")
        assert seen == [("log", logging.INFO, "hello R", None, None, None)]  # before stop(): live
        progress.report("training", 2, 5)
        warnings.warn("from a library", UserWarning, stacklevel=1)
    finally:
        forwarding.stop()
    assert seen[1] == ("progress", logging.DEBUG, "training: 2/5", "training", 2, 5)
    assert seen[2] == ("warning", logging.WARNING, "UserWarning: from a library", None, None, None)
    assert logger.level == level and not any(type(h).__name__ == "_CallbackHandler" for h in logger.handlers)
    logger.info("after stop")
    assert len(seen) == 3


def test_progress_can_be_left_out_and_levels_filter_records():
    seen, callback = _recorder()
    forwarding = Forwarding(callback, level=logging.WARNING, progress=False).start()
    try:
        logger.info("too low")
        progress.report("training", 1, 2)
        logger.warning("kept")
    finally:
        forwarding.stop()
    assert seen == [("log", logging.WARNING, "kept", None, None, None)]


def test_an_error_in_the_callback_reaches_the_caller_and_everything_is_restored():
    def failing(*args):
        raise RuntimeError("the R handler stopped")

    level = logger.level
    forwarding = Forwarding(failing).start()
    with pytest.raises(RuntimeError, match="the R handler stopped"):
        try:
            logger.info("boom")
        finally:
            forwarding.stop()
    assert logger.level == level
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.warn("shown as usual again", UserWarning, stacklevel=1)
    assert len(caught) == 1
