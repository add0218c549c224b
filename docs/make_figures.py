"""Redraw the figures under docs/ exactly as the README says they are made, so they match what the commands draw.

    python docs/make_figures.py

It runs `python -m bench.gradflow --depths 14,50,110 --steps 0` into a scratch store, then `python -m reports
--figures` on it, and copies the figures the README shows (gradient_norms.png) and complexity_depth.png (from a
`bench.depth_sweep --epochs 0 --steps 1` store: cost only) into docs/. CPU only, a few minutes.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
COMMANDS = [
    ["-m", "bench.gradflow", "--depths", "14,50,110", "--steps", "0"],
    ["-m", "bench.depth_sweep", "--epochs", "0", "--steps", "1"],
]
FIGURES = ("gradient_norms.png", "complexity_depth.png")


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        stores = []
        for i, command in enumerate(COMMANDS):
            store = Path(tmp) / f"store{i}.jsonl"
            subprocess.run([sys.executable, *command, "--results", str(store)], check=True, cwd=DOCS.parent,
                           stdout=subprocess.DEVNULL)
            stores.append(str(store))
        out = Path(tmp) / "figures"
        subprocess.run([sys.executable, "-m", "reports", *stores, "--figures", "--out", str(out)], check=True,
                       cwd=DOCS.parent, stdout=subprocess.DEVNULL)
        for name in FIGURES:
            shutil.copyfile(out / name, DOCS / name)
            print(DOCS / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
