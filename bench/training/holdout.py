"""Model selection that does not peek: a held-out part of the training set picks the best epoch.

RAF-DB's and AffectNet's only labelled evaluation sets are the sets the papers report on, so picking the best
epoch on them (as DACL's code does) reports a maximum over the test set. With ``--holdout F`` a seeded share F
of the training set is kept out of training and picks the best epoch instead; the validation split is still
evaluated every epoch, and its maximum over epochs is reported as its own, labelled, line. Where the set knows
which video or clip a face comes from (``Dataset.groups``), whole groups are held out, so near-identical frames
never sit on both sides; otherwise the held-out faces are drawn per class (categorical) or at random.
"""

from __future__ import annotations

import torch
from torch import Tensor

from bench.data import Dataset
from harness.cli import UsageError

HOLDOUT_SEED = 7_919  # offset from the run's seed: the held-out draw is not the shuffle's or the weights'


def holdout_index(ds: Dataset, fraction: float, seed: int, task: str) -> tuple[Tensor, Tensor]:
    """(kept, held out) indices of ``ds``: about ``fraction`` of it held out, the same for a seed every time."""
    if not 0 < fraction < 1:
        raise UsageError(f"--holdout must be in (0, 1), got {fraction}")
    n = len(ds)
    gen = torch.Generator().manual_seed(seed + HOLDOUT_SEED)
    groups = getattr(ds, "groups", None)
    if groups is not None:
        ids = torch.as_tensor(groups).cpu()
        unique = torch.unique(ids)
        order = unique[torch.randperm(len(unique), generator=gen)]
        count = max(1, round(len(unique) * fraction))
        held = torch.isin(ids, order[:count])
    else:
        held = torch.zeros(n, dtype=torch.bool)
        categorical = task == "categorical" and ds.labels is not None
        labels = ds.labels.cpu() if categorical else torch.zeros(n, dtype=torch.long)
        values, sizes = torch.unique(labels, return_counts=True)
        for value, quota in zip(values, _quotas(sizes, max(2, round(n * fraction))), strict=True):
            members = torch.nonzero(labels == value).flatten()
            held[members[torch.randperm(len(members), generator=gen)[:quota]]] = True
    kept, out = torch.nonzero(~held).flatten(), torch.nonzero(held).flatten()
    if len(out) < 2 or len(kept) < 2:
        raise UsageError(f"--holdout {fraction} leaves {len(kept)} training and {len(out)} held-out faces of {n}; "
                         "each side needs at least 2")
    return kept, out


def _quotas(sizes: torch.Tensor, total: int) -> list[int]:
    """``total`` held-out faces shared among classes of ``sizes`` in proportion (largest remainders first)."""
    exact = sizes.double() * total / int(sizes.sum())
    quotas = exact.floor().long()
    for i in torch.argsort(exact - quotas, descending=True, stable=True)[:total - int(quotas.sum())]:
        quotas[i] += 1
    return quotas.tolist()


def split_holdout(ds: Dataset, fraction: float, seed: int, task: str) -> tuple[Dataset, Dataset | None]:
    """(training part, held-out part) of the training set; the whole set and None without a hold-out."""
    if not fraction:
        return ds, None
    kept, out = holdout_index(ds, fraction, seed, task)
    return ds.subset(kept), ds.subset(out)
