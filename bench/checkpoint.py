"""Training checkpoints: written atomically, read back as tensors and plain values only, and checked.

Reading goes through `breg_models.weights.safe_load` (``torch.load(weights_only=True)``), so ``--resume PATH``
on a file from elsewhere cannot run code. Everything `bench.train` saves (state dicts, generator states, its
config) is tensors and plain values; `read_train_checkpoint` checks each before any is used, so a file that is
not one `bench.train` wrote (a plain state dict, a config of wrong types, another model's weights) is one line
naming it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import torch

from breg_models.weights import safe_load
from harness.cli import UsageError, finite_float, positive_int

# What a checkpoint holds beside ``config`` and ``model`` for a run to resume from it.
RESUME_KEYS = ("epoch", "shuffle_rng", "augment_rng", "best")


def save_checkpoint(run_dir: Path, is_best: bool, state: dict, best_val: bool = False) -> None:
    """Write last.pt atomically (a kill mid-save leaves the previous one), best.pt too if ``is_best``, and
    best_val.pt if ``best_val`` (the epoch the validation split picks, kept beside a held-out selection).

    Each file is written whole or not at all: a temporary file, fsynced, renamed over the old one, and the folder
    fsynced so the rename survives a power cut. On failure the temporary file is removed and the error is one
    line naming the folder, the space the checkpoint needs and the space left there.
    """
    tmp = run_dir / "last.pt.tmp"
    # last.pt last: it says which epoch is done, so a failure before it leaves the epoch to redo, never a last.pt
    # of this epoch beside a best.pt of an earlier one
    names = ["best.pt"] * is_best + ["best_val.pt"] * best_val + ["last.pt"]
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        for name in names:
            torch.save(state, tmp)
            _fsync(tmp)
            os.replace(tmp, run_dir / name)
        _fsync(run_dir)
    except (OSError, RuntimeError) as exc:  # a full disk reaches torch.save as a RuntimeError from its zip writer
        tmp.unlink(missing_ok=True)
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise UsageError(f"could not write the checkpoint of epoch {state.get('epoch')} in {run_dir} "
                         f"({_space(run_dir, state)}; disk full or not writable? {reason}); the epoch's row is "
                         "stored and a rerun redoes that epoch") from None


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to the disk: fsync acts on the file, whatever descriptor."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _space(run_dir: Path, state: dict) -> str:
    """'needs about 12.3 MB, 0.0 MB free there': the checkpoint's tensor bytes against the disk's free space."""
    def tensor_bytes(value) -> int:
        if isinstance(value, torch.Tensor):
            return value.numel() * value.element_size()
        if isinstance(value, dict):
            return sum(tensor_bytes(v) for v in value.values())
        if isinstance(value, list | tuple):
            return sum(tensor_bytes(v) for v in value)
        return 0

    folder = run_dir
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        free = f"{shutil.disk_usage(folder).free / 1e6:.1f} MB free there"
    except OSError:
        free = "free space unknown"
    return f"needs about {tensor_bytes(state) / 1e6:.1f} MB, {free}"


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """A checkpoint's dict, or a one-line UsageError for a file that is not a plain checkpoint."""
    try:
        return safe_load(path, map_location)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def read_train_checkpoint(path: str | Path, map_location="cpu", *, option: str = "", resume: bool = False,
                          config: dict | None = None) -> dict:
    """The checkpoint at ``path`` (given as ``option``, for the message), checked to be one `bench.train` wrote:
    a run config it could have written (`bench.training.options.config_problem`), ``config`` itself where given,
    and tensors for weights, and with ``resume`` what the loop restores too; else a one-line error naming it."""
    from bench.training.options import config_problem

    path = Path(path)
    where = f"{option} {path}".strip()
    if path.is_dir():
        raise UsageError(f"{where}: is a folder, not a checkpoint file")
    if not path.is_file():
        raise FileNotFoundError(f"{where}: checkpoint not found")
    ckpt = load_checkpoint(path, map_location)
    lacking = [k for k in ("config", "model", *RESUME_KEYS * resume) if k not in ckpt]
    if lacking:
        raise UsageError(f"{where}: not a bench.train checkpoint (no {', '.join(lacking)})"
                         + ("; --init loads weights alone" if resume else ""))
    weights = ckpt["model"]
    problem = config_problem(ckpt["config"])
    if not problem and not (isinstance(weights, dict) and weights and all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items())):
        problem = "its model is not a state dict of tensors"
    if not problem and resume:
        problem = _resume_problem(ckpt)
    if problem:
        raise UsageError(f"{where}: not a checkpoint bench.train wrote: {problem}")
    if config is not None and ckpt["config"] != config:
        raise UsageError(f"{where} was written by a different config; --force starts afresh")
    return ckpt


def _resume_problem(ckpt: dict) -> str | None:
    """What a run cannot resume from in ``ckpt``, beside its config and weights."""
    from bench.training.options import number_problem

    if problem := number_problem(positive_int, ckpt["epoch"]):
        return f"its epoch {problem}"
    for key in ("best", "best_val"):
        if ckpt.get(key) is not None and (problem := number_problem(finite_float, ckpt[key])):
            return f"its {key} {problem}"
    for key in ("shuffle_rng", "augment_rng", "global_rng"):
        if key in ckpt and not (isinstance(ckpt[key], torch.Tensor) and ckpt[key].dtype == torch.uint8):
            return f"its {key} is not a generator state"
    if not (isinstance(ckpt.get("rows", []), list) and all(isinstance(r, str) for r in ckpt.get("rows", []))):
        return "its rows are not a list of rows"
    return None


def load_weights(model: torch.nn.Module, state: dict, path: str | Path, name: str) -> None:
    """``state`` (the weights of the checkpoint at ``path``) into ``model`` (the network ``name``), every tensor
    of the same name and shape, or a one-line error saying the checkpoint is another model's."""
    try:
        keys = model.load_state_dict(state, strict=False)
        lost = keys.missing_keys + keys.unexpected_keys
        detail = lost and f"{len(keys.missing_keys)} tensors missing, {len(keys.unexpected_keys)} unexpected, " \
                          f"e.g. {lost[0]}"
    except RuntimeError as exc:  # a tensor of another shape
        detail = str(exc).strip().splitlines()[-1].strip()[:160]
    if detail:
        raise UsageError(f"{path} is from a different model: its weights do not fit {name} ({detail})")
