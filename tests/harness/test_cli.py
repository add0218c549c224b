"""The shared command-line helpers: list options, and output paths refused before any work."""

import argparse
import os

import pytest

from harness.cli import UsageError, check_output_folder, check_output_path, choice_list, int_list


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
