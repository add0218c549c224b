"""The command-line conventions every entry point shares (`bench`'s and `python -m reports`): one-line usage
errors, list-valued options, --help examples, and output paths checked before any work."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


class UsageError(ValueError):
    """Bad input from the user (a name, a path, a device): reported in one line, exit status 1."""


def write_output(text: str, out: str | None) -> None:
    """Print ``text`` (``out`` None or '-'), or write it to ``out`` (parent folders created)."""
    if out is None or out == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n")
    print(f"wrote {path}", file=sys.stderr)


def int_list(text: str) -> list[int]:
    """argparse type for '26,32,38' or '26 32'."""
    try:
        return [int(t) for t in text.replace(",", " ").split()]
    except ValueError:
        raise ValueError(f"expected a comma-separated list of integers, got {text!r}") from None


def choice_list(choices, convert=str):
    """argparse type for 'a,b,c': each item among ``choices`` (any item when None), converted; at least one."""
    def parse(text: str) -> list:
        items = [t.strip() for t in text.split(",") if t.strip()]
        bad = [t for t in items if choices is not None and t not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(f"{','.join(bad) or repr(text)} not in: {', '.join(choices or [])}")
        return [convert(t) for t in items]
    parse.choices = None if choices is None else [str(c) for c in choices]  # what --help must name
    return parse


class _Examples(argparse.RawDescriptionHelpFormatter):
    """Description and epilog printed as written, so example commands keep their lines."""


class _ExamplesAndDefaults(argparse.ArgumentDefaultsHelpFormatter, _Examples):
    """The same, and every option's help ends with its default."""


def examples(*commands: str, before: str = "", defaults: bool = False) -> dict:
    """ArgumentParser keywords for a --help that ends with ``commands`` (each 'python -m ...  # what it does'),
    printed one a line with their comments aligned; ``before`` is epilog text printed above them,
    ``defaults`` adds each option's default to its help (argparse.ArgumentDefaultsHelpFormatter)."""
    parts = [(cmd.strip(), note.strip()) for cmd, _, note in (c.partition(" # ") for c in commands)]
    width = max((len(cmd) for cmd, note in parts if note), default=0)
    lines = [f"  {cmd:{width}}  # {note}" if note else f"  {cmd}" for cmd, note in parts]
    epilog = "examples:\n" + "\n".join(lines)
    return {"epilog": f"{before.strip()}\n\n{epilog}" if before.strip() else epilog,
            "formatter_class": _ExamplesAndDefaults if defaults else _Examples}


def check_device_here(name: str) -> None:
    """A one-line UsageError unless ``name`` (cpu, cuda, cuda:N) is a device this process can use."""
    import torch

    try:
        device = torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device {name!r}: not a device name (cpu, cuda or cuda:N)") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise UsageError(f"--device {name}: no CUDA device is available here (use --device cpu)")
        if device.index is not None and device.index >= count:
            raise UsageError(f"--device {name}: this machine has {count} CUDA device(s)")
    elif device.type != "cpu":
        raise UsageError(f"--device {name!r}: only cpu and cuda[:N] are supported")


def check_output_path(path: str | Path | None, option: str) -> None:
    """Fail before any work, in one line, if ``path`` cannot become a file: it is a folder, or a file stands
    where one of its folders would go, or the folder that would hold it is read-only. Missing folders are
    fine: `write_output` and `ResultsStore.append` create them."""
    if path is None or str(path) in ("", "-"):
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"{option} {path}: is a folder, not a file")
    parent = _nearest_existing(target.parent, path, option)
    if not os.access(parent, os.W_OK | os.X_OK) or (target.exists() and not os.access(target, os.W_OK)):
        raise UsageError(f"{option} {path}: not writable")


def _nearest_existing(folder: Path, path, option: str) -> Path:
    """The folder itself or its nearest ancestor that exists, which must be a folder."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: {folder} is a file, not a folder")
    return folder


def check_output_folder(path: str | Path, option: str) -> None:
    """Fail before any work, in one line, if ``path`` cannot be a writable folder (missing folders are made)."""
    folder = _nearest_existing(Path(path), path, option)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"{option} {path}: not writable")
