"""The README's example commands print what the README shows, so it cannot drift from the code.

The rule: every example between ``<!-- readme-test: output -->`` (or ``excerpt``) and ``<!-- /readme-test -->``
is checked. Its command is the first ```python -m ...``` span of its first paragraph; what it shows is the rest
of the block (code fences dropped). ``output``: the command's whole stdout is that text; ``excerpt``: those lines
appear, together and in order, in its stdout. Only commands that finish in seconds on a CPU are marked (each runs
here with no GPU visible, as on the README's CPU machine); the torch version and commit in a
caption are the machine's, so both are masked.
Commands run in a scratch folder, so a default results store lands there, not in the repository.
"""

from __future__ import annotations

import importlib
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bench.cli import run_main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"<!-- readme-test: (output|excerpt) -->\n(.*?)<!-- /readme-test -->", re.S)
VOLATILE = re.compile(r"torch [^,\s]+, commit (?:[0-9a-f]{7,40}|unknown)")


def examples() -> list[tuple[str, str, list[str]]]:
    """(mode, command, the lines the README shows) of every marked example."""
    found = []
    for mode, body in BLOCK.findall(README.read_text()):
        first, _, rest = body.partition("\n\n")
        commands = re.findall(r"`(python -m [^`]+)`", first)
        assert commands, f"a readme-test block names no `python -m ...` command in its first paragraph: {first!r}"
        shown = [line.rstrip() for line in rest.strip("\n").splitlines() if not line.startswith("```")]
        found.append((mode, commands[0], _mask(shown)))
    return found


def _mask(lines: list[str]) -> list[str]:
    return [VOLATILE.sub("torch VERSION, commit COMMIT", line) for line in lines]


EXAMPLES = examples()


def test_the_readme_marks_its_short_examples():
    """The markers are what this test reads: losing them would make it pass while checking nothing."""
    commands = [command for _, command, _ in EXAMPLES]
    assert len(EXAMPLES) >= 6, commands
    assert any(c.startswith("python -m bench.flops") for c in commands)
    assert sum(c.startswith("python -m bench.train --recipe") for c in commands) == 4
    assert all(shown for _, _, shown in EXAMPLES), "a block shows nothing to compare"


@pytest.mark.parametrize("mode, command, shown", EXAMPLES, ids=[c for _, c, _ in EXAMPLES])
def test_an_example_prints_what_the_readme_shows(mode, command, shown, tmp_path, monkeypatch, capsys):
    """Run in this process through the module's own ``main`` and `bench.cli.run_main`, as ``python -m`` does
    (the same code path, without a fresh interpreter's ~5 s of imports per example)."""
    argv = shlex.split(command)
    assert argv[:2] == ["python", "-m"], command
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the README shows its CPU machine's output
    status = run_main(importlib.import_module(argv[2]).main, argv[3:])
    out, err = capsys.readouterr()
    assert status == 0, err[-2000:]
    printed = _mask([line.rstrip() for line in out.strip("\n").splitlines()])
    if mode == "output":
        assert printed == shown, _diff(shown, printed)
    else:
        starts = [i for i, line in enumerate(printed) if line == shown[0]]
        assert any(printed[i:i + len(shown)] == shown for i in starts), _diff(shown, printed)


def _diff(shown: list[str], printed: list[str]) -> str:
    import difflib

    return "README (-) against the command (+):\n" + "\n".join(
        difflib.unified_diff(shown, printed, "README", "command", lineterm="", n=1))


def test_the_docs_figures_script_draws_every_figure_the_readme_shows(tmp_path):
    """docs/make_figures.py at toy sizes: each figure the README embeds from docs/ is one it draws (non-empty
    PNGs), and a command that fails is one line, not a traceback."""
    embedded = set(re.findall(r"\]\(docs/([\w.-]+\.png)\)", README.read_text()))
    script = ROOT / "docs" / "make_figures.py"
    proc = subprocess.run([sys.executable, str(script), "--tiny", "--out", str(tmp_path / "figs")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    drawn = {p.name for p in (tmp_path / "figs").iterdir()}
    assert embedded and embedded <= drawn and all((tmp_path / "figs" / n).stat().st_size > 5000 for n in drawn)
    assert all((ROOT / "docs" / name).is_file() for name in drawn), "a figure the script draws is missing in docs/"
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = subprocess.run([sys.executable, str(script), "--tiny", "--out", str(blocker / "figs")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1 and proc.stderr.startswith("make_figures: error: ")
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr
