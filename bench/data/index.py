"""What a loader reads from its label files before any image is decoded: the images to decode (`Job`s) and
each row's labels. Cheap to make (no pixels), so every run makes it again: it is the authority on rows,
labels and errors in the label files, and the decoded cache is checked against it."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .dataset import Dataset
from .images import Job


@dataclass
class Index:
    """``key`` names what the decoded images depend on besides the jobs (folder, split, options, seed where the
    split depends on it); ``label_files`` are the files the rows come from; ``groups`` the video or clip of each
    row where the set has one; ``info["skipped"]`` the rows dropped while indexing (counted, with why)."""

    name: str
    split: str
    key: dict
    label_files: list[Path]
    jobs: list[Job]
    labels: list[int] | None = None
    va: list[tuple[float, float]] | None = None
    class_names: tuple[str, ...] = ()
    info: dict = field(default_factory=dict)
    groups: list[str] | None = None
    skip_unreadable: bool = False  # a missing or unreadable image is skipped and counted, not an error
    skip_unit: str = "rows"  # how the warning about skipped rows counts them
    empty: str = ""  # the error when no image is left (every one skipped as unreadable)

    def __len__(self) -> int:
        return len(self.jobs)

    def dataset(self, images, kept: list[int] | None, unreadable: int, extra_info: dict | None = None) -> Dataset:
        """The `Dataset` of these rows with ``images`` (the decoded images of the jobs in ``kept``, all jobs when
        None); ``unreadable`` images were skipped. Warns once about every row skipped."""
        skipped = dict(self.info.get("skipped", {}))
        if unreadable:
            skipped["missing or unreadable image"] = unreadable
        if skipped:
            warnings.warn(f"{self.info.get('source', self.name)}: skipped "
                          + ", ".join(f"{n} {self.skip_unit} with {why}" for why, n in skipped.items()), stacklevel=3)
        index = None if kept is None or len(kept) == len(self.jobs) else torch.as_tensor(kept, dtype=torch.int64)
        take = (lambda t: t) if index is None else (lambda t: t[index])
        labels = None if self.labels is None else take(torch.tensor(self.labels, dtype=torch.int64))
        va = None if self.va is None else take(torch.tensor(self.va, dtype=torch.float32).reshape(-1, 2))
        groups, group_names = None, ()
        if self.groups is not None:
            group_names = tuple(dict.fromkeys(self.groups))
            code = {name: i for i, name in enumerate(group_names)}
            groups = take(torch.tensor([code[g] for g in self.groups], dtype=torch.int64))
        return Dataset(self.name, images, labels=labels, va=va, class_names=self.class_names,
                       info={**self.info, "skipped": skipped, **(extra_info or {})}, groups=groups,
                       group_names=group_names)
