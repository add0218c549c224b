"""`python -m bench.data prepare | info`: builds the decoded cache ahead and says what is cached, one line a split;
its --help ends with examples its parser accepts; bad input is one line."""

import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.cli import run_main
from bench.data.__main__ import build_parser, main

Image = pytest.importorskip("PIL.Image", reason="Pillow writes the fixture JPEGs")

HEADER = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal\n"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def affectnet(tmp_path):
    root = tmp_path / "affectnet"
    for k in range(6):
        path = root / "1" / f"{k}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((12, 12, 3), 30 * k, dtype=np.uint8)).save(path)
    rows = [f'1/{k}.jpg,0,0,12,12,"",{k},0.1,0.2\n' for k in range(6)] + ['1/0.jpg,0,0,12,12,"",9,0.1,0.2\n']
    (root / "training.csv").write_text(HEADER + "".join(rows))
    (root / "validation.csv").write_text(HEADER + "".join(rows[:2]))
    return root


def test_prepare_then_info_end_to_end(affectnet, tmp_path, capsys):
    cache = tmp_path / "cache"
    argv = ["-m", "bench.data", "prepare", f"affectnet:{affectnet}", "--size", "16", "--cache-dir", str(cache)]
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("affectnet train at 16x16: 6 images, 4.6 KB, skipped 1 ")
    assert "expression 9 (uncertain)" in lines[0] and lines[1].startswith("affectnet val at 16x16: 2 images")
    assert all(str(cache) in line for line in lines)
    assert run_main(main, ["info", f"affectnet:{affectnet}", "--size", "16", "--cache-dir", str(cache), "--split",
                           "train"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == lines[:1]


def test_info_of_an_uncached_size_and_bad_input(affectnet, tmp_path, capsys):
    cache = str(tmp_path / "cache")
    assert run_main(main, ["info", f"affectnet:{affectnet}", "--size", "20", "--cache-dir", cache]) == 0
    assert "affectnet train at 20x20: not cached (not built yet); 6 rows" in capsys.readouterr().out
    for argv, message in ((["prepare", "synth"], "synth is generated in memory"),
                          (["prepare", f"affectnet:{affectnet}", "--split", "test"], "test set is not public"),
                          (["prepare", f"affectnet:{tmp_path / 'none'}"], "CSV not found"),
                          (["prepare", f"affectnet:{affectnet}", "--cache-dir", str(affectnet / "training.csv")],
                           "--cache-dir")):
        assert run_main(main, argv) == 1
        err = [line for line in capsys.readouterr().err.strip().splitlines() if not line.startswith("cache folder:")]
        assert len(err) == 1 and "error: " in err[0] and message in err[0], err


def test_prepare_force_decodes_again(affectnet, tmp_path, capsys, monkeypatch):
    from bench.data import cache_build

    calls = []
    real = cache_build.decode_or_skip
    monkeypatch.setattr(cache_build, "decode_or_skip", lambda *a: calls.append(1) or real(*a))
    argv = ["prepare", f"affectnet:{affectnet}", "--size", "8", "--split", "val", "--cache-dir", str(tmp_path / "c")]
    for extra in ([], [], ["--force"]):
        assert run_main(main, argv + extra) == 0
    assert len(calls) == 4


def test_help_ends_with_examples_that_parse():
    parser = build_parser()
    help_text = parser.format_help().rstrip()
    _, _, block = help_text.rpartition("examples:\n")
    commands = [line.strip() for line in block.splitlines() if line.strip()]
    assert 2 <= len(commands) <= 3
    for command in commands:
        words = shlex.split(command, comments=True)
        assert words[:3] == ["python", "-m", "bench.data"]
        parser.parse_args(words[3:])
