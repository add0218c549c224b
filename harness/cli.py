"""The command-line conventions every entry point shares (`bench`'s and `python -m reports`): one-line usage
errors, list-valued options, --help examples, and output paths checked before any work."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path

DEVICES = "auto, cpu, cuda or cuda:N"  # what every --device takes; auto: cuda where there is one


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


class OptionValueError(argparse.ArgumentTypeError, ValueError):
    """A value an option cannot take: argparse reports its message as given (it is an ArgumentTypeError), and
    code calling a type directly can catch it as the ValueError it also is."""


def int_at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: an integer >= ``minimum``."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise OptionValueError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise OptionValueError(f"must be at least {minimum}, got {value}")
        return value
    parse.__name__ = f"int_at_least_{minimum}"
    return parse


positive_int = int_at_least(1)
non_negative_int = int_at_least(0)


def float_in(low: float = -math.inf, high: float = math.inf, *, open_low: bool = False,
             open_high: bool = False) -> Callable[[str], float]:
    """argparse type: a finite number in [low, high] (each end open where asked): nan and inf never pass, so
    a value that would poison a run is refused before any work."""
    bounds = " and ".join(b for b in (
        "" if low == -math.inf else f"{'>' if open_low else '>='} {low:g}",
        "" if high == math.inf else f"{'<' if open_high else '<='} {high:g}") if b)

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise OptionValueError(f"expected a number, got {text!r}") from None
        inside = (value > low if open_low else value >= low) and (value < high if open_high else value <= high)
        if not math.isfinite(value) or not inside:
            raise OptionValueError(f"must be {bounds + ' and ' if bounds else ''}finite, got {text}")
        return value
    parse.__name__ = "number"
    return parse


finite_float = float_in()
positive_float = float_in(0, open_low=True)
non_negative_float = float_in(0)
probability = float_in(0, 1)


def int_list_of(item: Callable[[str], int] = int) -> Callable[[str], list[int]]:
    """argparse type for '26,32,38' or '26 32': at least one integer, each read by ``item`` (e.g. positive_int)."""
    def parse(text: str) -> list[int]:
        parts = text.replace(",", " ").split()
        if not parts:
            raise OptionValueError(f"expected a comma-separated list of integers, got {text!r}")
        try:
            return [item(t) for t in parts]
        except OptionValueError as exc:
            raise OptionValueError(f"{exc} (in {text!r})") from None
        except ValueError:
            raise OptionValueError(f"expected a comma-separated list of integers, got {text!r}") from None
    parse.__name__ = "int_list"
    return parse


int_list = int_list_of(int)


def data_spec(text: str) -> str:
    """argparse type for a data spec, NAME or NAME:PATH (`harness.data_spec`): its grammar checked at parse time;
    whether its files hold a data set is checked by the command before its first cell."""
    from .data_spec import parse_spec

    try:
        parse_spec(text)
    except ValueError as exc:
        raise OptionValueError(str(exc)) from None
    return text


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


def device_problem(name: str) -> str | None:
    """What is wrong with the form of a --device value, or None for auto, cpu, cuda and cuda:N."""
    import re

    import torch

    if name in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", name):
        return None
    try:
        torch.device(name)
    except RuntimeError:
        return f"{name!r} is not a device name ({DEVICES})"
    return f"{name!r}: only cpu and cuda[:N] are supported (or auto)"


def device_name(text: str) -> str:
    """argparse type of every --device: auto, cpu, cuda or cuda:N (`device_problem`), auto made cuda where this
    machine has one, else cpu, so what follows sees cpu or cuda[:N]; whether this machine has that device is
    `check_device_here`'s to say once parsing is done (a dry run may name a GPU it lacks)."""
    import torch

    problem = device_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return ("cuda" if torch.cuda.is_available() else "cpu") if text == "auto" else text


class ArgumentParser(argparse.ArgumentParser):
    """argparse's parser with a usage error in one line on stderr, named as `bench.cli.run_main` names the
    program ('bench.flops: error: ...'), instead of the whole usage before it; exit status 2, as argparse's."""

    def error(self, message: str):
        name = self.prog.removeprefix("python -m ")
        self.exit(2, f"{name}: error: {message.splitlines()[0] if message else 'bad arguments'} (--help lists "
                     "the options)\n")


def open_store(path: str | os.PathLike | None, option: str = "--results", needed_for: str | None = None):
    """The results store at ``path``, or None where ``path`` is '' (or None): no store, rows printed and none
    kept, the same in every entry point; a command that cannot run without one says why in ``needed_for`` and
    refuses '' in one line. A folder is refused in one line; whether the file can be written is checked where a
    row must be written (`check_output_path`), so a read-only store still serves its rows."""
    from .results_store import ResultsStore

    if path is None or str(path) == "":
        if needed_for:
            raise UsageError(f"{option} '': {needed_for}; give a .jsonl path")
        return None
    if Path(path).is_dir():
        raise UsageError(f"{option} {path}: is a folder, not a results file (give a .jsonl path)")
    return ResultsStore(path)


def check_device_here(name: str) -> str:
    """``name`` (cpu, cuda or cuda:N, as `device_name` leaves it), or a one-line UsageError unless it is a device
    this process can use. auto is `device_name`'s to resolve: a command that has not parsed it so refuses it."""
    import torch

    problem = device_problem(name) if name != "auto" else "'auto': this command takes cpu, cuda or cuda:N"
    if problem:
        raise UsageError(f"--device {problem}")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    device = torch.device(name)
    if device.type == "cuda" and count == 0:
        raise UsageError(f"--device {name}: no CUDA device on this machine (use --device cpu)")
    if device.index is not None and device.index >= count:
        raise UsageError(f"--device {name}: this machine has {count} CUDA device(s), cuda:0 to cuda:{count - 1}")
    return name


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

