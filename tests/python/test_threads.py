"""Thread setting per call, and the torch import that keeps torch on its own BLAS."""
from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from ctypes.util import find_library

import pytest
import stcross
import torch
from stcross.progress import PROGRESS_FIELD
from stcross.threads import check_threads, torch_threads


class ThreadsDuringCall(logging.Handler):
    """Notes torch's thread count whenever a progress record arrives (i.e. mid-call)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.seen: list[int] = []

    def emit(self, record):
        if hasattr(record, PROGRESS_FIELD):
            self.seen.append(torch.get_num_threads())


@pytest.fixture
def caller_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield 3
    torch.set_num_threads(before)


@pytest.fixture
def watch():
    logger = logging.getLogger("stcross")
    handler, level = ThreadsDuringCall(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_train_and_calibrate_run_with_the_threads_asked_and_restore_the_callers(pair, caller_threads, watch):
    sc, st = pair
    model = stcross.CrossModalModel(sc, st).train(max_epochs=2, progress_bar=False, threads=1)
    assert watch.seen and set(watch.seen) == {1}
    assert torch.get_num_threads() == caller_threads
    watch.seen.clear()
    model.calibrate(n_folds=2, max_epochs=1, threads=2)
    assert watch.seen and set(watch.seen) == {2}  # the calibration's training inherits calibrate()'s setting
    assert torch.get_num_threads() == caller_threads


def test_impute_and_locate_restore_the_callers_threads(pair, caller_threads, monkeypatch):
    sc, st = pair
    model = stcross.CrossModalModel(sc, st).train(max_epochs=1, progress_bar=False, threads=None)
    assert torch.get_num_threads() == caller_threads
    seen = []
    original = stcross.model.Predictor.summary

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(stcross.model.Predictor, "summary", spy)
    model.impute(genes=["Gene30"], threads=1)
    assert seen == [1]
    assert torch.get_num_threads() == caller_threads
    model.locate(threads=2)
    assert torch.get_num_threads() == caller_threads


def test_threads_restored_when_the_call_fails(caller_threads):
    with pytest.raises(RuntimeError, match="boom"), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == caller_threads


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_bad_thread_counts_are_refused(bad):
    with pytest.raises(ValueError, match="threads must be a positive integer"):
        check_threads(bad)
    assert check_threads(None) is None and check_threads(2) == 2


def _run(code: str) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def test_plain_python_imports_torch_as_usual():
    out = _run("""
        import sys
        flags = sys.getdlopenflags()
        import stcross
        print(stcross.torch_import.isolated_from_host_blas, sys.getdlopenflags() == flags)
    """)
    assert out == "False True"


@pytest.mark.skipif(find_library("blas") is None, reason="no system BLAS library to stand in for R's")
def test_torch_is_isolated_from_a_host_blas_in_the_global_scope():
    # What R does before Python starts: its BLAS is loaded into the global symbol scope.
    out = _run(f"""
        import ctypes, sys
        ctypes.CDLL({find_library("blas")!r}, mode=ctypes.RTLD_GLOBAL)
        flags = sys.getdlopenflags()
        import numpy as np
        import stcross, torch
        a = np.random.default_rng(0).normal(size=(64, 64)).astype(np.float32)
        same = np.allclose((torch.from_numpy(a) @ torch.from_numpy(a)).numpy(), a @ a, atol=1e-4)
        print(stcross.torch_import.isolated_from_host_blas, sys.getdlopenflags() == flags, same)
    """)
    assert out == "True True True"
