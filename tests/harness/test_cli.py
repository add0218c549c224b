"""The shared command-line helpers: list options, and output paths refused before any work."""

import argparse
import os
import re

import pytest

from harness.cli import (
    ArgumentParser,
    UsageError,
    check_output_folder,
    check_output_path,
    choice_list,
    float_in,
    int_at_least,
    int_list,
    int_list_of,
    open_store,
    positive_float,
    probability,
)


def test_lists():
    assert int_list("26,32 38") == [26, 32, 38]
    with pytest.raises(ValueError, match="comma-separated list of integers"):
        int_list("26,x")
    parse = choice_list(["a", "b"])
    assert parse("a, b") == ["a", "b"] and parse.choices == ["a", "b"]
    with pytest.raises(argparse.ArgumentTypeError, match="c not in: a, b"):
        parse("a,c")
    with pytest.raises(argparse.ArgumentTypeError):
        parse(",")


def test_output_paths(tmp_path):
    check_output_path(None, "--out")
    check_output_path("-", "--out")  # stdout
    check_output_path(tmp_path / "new" / "deep" / "t.md", "--out")  # missing folders are made later
    with pytest.raises(UsageError, match="is a folder, not a file"):
        check_output_path(tmp_path, "--out")
    (tmp_path / "f").write_text("")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        check_output_path(tmp_path / "f" / "t.md", "--out")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        check_output_folder(tmp_path / "f" / "sub", "--out")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_folder(tmp_path):
    tmp_path.chmod(0o500)
    try:
        with pytest.raises(UsageError, match="not writable"):
            check_output_path(tmp_path / "t.md", "--out")
    finally:
        tmp_path.chmod(0o700)


@pytest.mark.parametrize("parse, text, message", [
    (positive_float, "0", "must be > 0 and finite, got 0"),
    (positive_float, "inf", "finite, got inf"),
    (positive_float, "nan", "finite, got nan"),
    (probability, "1.5", "must be >= 0 and <= 1 and finite"),
    (float_in(0, 1, open_high=True), "1", "< 1"),
    (float_in(), "-inf", "must be finite, got -inf"),
    (positive_float, "1e", "expected a number, got '1e'"),
    (int_at_least(2), "1", "must be at least 2, got 1"),
    (int_at_least(2), "2.5", "expected an integer, got '2.5'"),
    (int_list_of(int_at_least(0)), "3,-1", "must be at least 0, got -1 (in '3,-1')"),
    (int_list, " , ", "expected a comma-separated list of integers"),
])
def test_numbers_out_of_range_or_not_finite_are_refused(parse, text, message):
    with pytest.raises(argparse.ArgumentTypeError, match=re.escape(message)):
        parse(text)
    with pytest.raises(ValueError):  # code that calls a type itself catches the ValueError it also is
        parse(text)


def test_numbers_in_range_pass():
    assert positive_float("1e-4") == 1e-4 and probability("0") == 0.0 and probability("1") == 1.0
    assert int_at_least(8)("8") == 8 and int_list_of(int_at_least(1))("1, 2") == [1, 2]


def test_a_usage_error_is_one_line_named_as_the_program(capsys):
    p = ArgumentParser(prog="python -m bench.example")
    p.add_argument("--lr", type=positive_float)
    with pytest.raises(SystemExit) as exc:
        p.parse_args(["--lr", "inf"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == ("bench.example: error: argument --lr: must be > 0 and finite, got inf "
                                       "(--help lists the options)\n")


def test_an_empty_results_path_is_no_store_or_refused_where_one_is_needed(tmp_path):
    assert open_store("") is None and open_store(None) is None
    assert open_store(tmp_path / "r.jsonl").path == tmp_path / "r.jsonl"
    with pytest.raises(UsageError, match="is a folder"):
        open_store(tmp_path)
    with pytest.raises(UsageError, match=r"^--results '': runs resume from it; give a \.jsonl path$"):
        open_store("", needed_for="runs resume from it")
