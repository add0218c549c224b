"""Redraw the figures under docs/ exactly as the README says they are made, so they match what the commands draw.

    python docs/make_figures.py              # both figures into docs/ (CPU only, a few minutes)
    python docs/make_figures.py --out DIR    # elsewhere; --tiny: the same commands at toy sizes (the test's)

`docs/gradient_norms.png` is `python -m bench.gradflow --depths 14,50,110 --steps 0` then `python -m reports
--figures` on its store; `docs/complexity_depth.png` is `python -m bench.depth_sweep --epochs 0 --steps 1` (cost
only: parameters, FLOPs and step time against depth) through the same `reports --figures`. Every command runs into
a scratch store, so neither the results under results/ nor their rows are touched.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# (figure file, the command whose rows draw it): the README's commands
FIGURES = {
    "gradient_norms.png": ["-m", "bench.gradflow", "--depths", "14,50,110", "--steps", "0"],
    "complexity_depth.png": ["-m", "bench.depth_sweep", "--epochs", "0", "--steps", "1"],
}
# What --tiny adds to each command: toy sizes, so a test draws both figures in seconds.
TINY = {
    "gradient_norms.png": ["--depths", "14,20", "--bypass", "identity", "atan", "--input-size", "4", "--batch", "2"],
    "complexity_depth.png": ["--depths", "14,20", "--batch-size", "2", "--image-size", "16",
                             "--flops-input-size", "8"],
}


class FigureError(RuntimeError):
    """A command that draws a figure failed: reported in one line, with that command's own last line."""


def run(command: list[str], cwd: Path) -> None:
    proc = subprocess.run([sys.executable, *command], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise FigureError(f"python {' '.join(command)} failed (exit {proc.returncode}): {last}")


def make(out: Path, tiny: bool = False) -> list[Path]:
    """Run each figure's command into a scratch store, draw the figures from those stores, copy them to ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        stores = []
        for i, (name, command) in enumerate(FIGURES.items()):
            store = Path(tmp) / f"store{i}.jsonl"
            run([*command, *(TINY[name] if tiny else []), "--results", str(store), "--device", "cpu"], DOCS.parent)
            stores.append(str(store))
        drawn = Path(tmp) / "figures"
        run(["-m", "reports", *stores, "--figures", "--out-dir", str(drawn)], DOCS.parent)
        written = []
        for name in FIGURES:
            shutil.copyfile(drawn / name, out / name)
            written.append(out / name)
    return written


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=DOCS, help="folder the figures go to (default docs/)")
    p.add_argument("--tiny", action="store_true", help="toy sizes: checks the script, draws nothing worth keeping")
    args = p.parse_args(argv)
    try:
        for path in make(args.out, args.tiny):
            print(path)
    except (FigureError, OSError) as exc:
        print(f"make_figures: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
