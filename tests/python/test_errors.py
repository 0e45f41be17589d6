"""Input errors are a class of their own: the CLI reports them as messages, and shows a traceback for anything else."""
from __future__ import annotations

import pytest
from conftest import make_pair
from stcross import cli
from stcross.errors import (
    InputError,
    InputFileExistsError,
    InputFileNotFoundError,
    InputKeyError,
    InputTypeError,
)


def test_input_errors_are_value_errors_and_keep_their_builtin_kind():
    for cls, builtin in ((InputTypeError, TypeError), (InputKeyError, KeyError),
                         (InputFileNotFoundError, FileNotFoundError), (InputFileExistsError, FileExistsError)):
        err = cls("what is wrong; what to do")
        assert isinstance(err, InputError) and isinstance(err, ValueError) and isinstance(err, builtin)
        assert str(err) == "what is wrong; what to do"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("errors")
    sc, st, _ = make_pair(n_sc=40, n_st=30)
    sc.write_h5ad(root / "sc.h5ad")
    st.write_h5ad(root / "st.h5ad")
    st[:1].copy().write_h5ad(root / "st_one_cell.h5ad")
    st[:, :2].copy().write_h5ad(root / "st_two_genes.h5ad")
    return root


def _fit(root, st="st.h5ad", out="out"):
    return ["fit-impute", "--sc", str(root / "sc.h5ad"), "--st", str(root / st), "--out", str(root / out),
            "--device", "cpu", "--max-epochs", "1", "-q"]


@pytest.mark.parametrize(("st", "message"), [
    ("st_one_cell.h5ad", "adata_st has 1 cell; stcross needs at least 2 cells per modality"),
    ("st_two_genes.h5ad", "Only 2 shared genes between the ST panel and the SC data"),
])
def test_bad_input_files_exit_2_with_the_message(files, capsys, st, message):
    assert cli.main(_fit(files, st=st)) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (files / "out").exists()


@pytest.mark.parametrize("bug", [TypeError, KeyError, NotImplementedError, ValueError, IndexError])
def test_internal_errors_keep_their_traceback(files, monkeypatch, bug):
    # Only InputError means "your input"; anything else escaping from stcross is a bug to report.
    def broken(args):
        raise bug("internal")

    monkeypatch.setattr(cli, "_fit_impute", broken)
    with pytest.raises(bug, match="internal"):
        cli.main(_fit(files))


def test_an_input_error_raised_anywhere_is_reported_without_traceback(files, monkeypatch, capsys):
    def refuses(args):
        raise InputKeyError("adata_sc has no layer 'counts'; available layers: [].")

    monkeypatch.setattr(cli, "_fit_impute", refuses)
    assert cli.main(_fit(files)) == 2
    err = capsys.readouterr().err
    assert "error: adata_sc has no layer 'counts'" in err and "Traceback" not in err
