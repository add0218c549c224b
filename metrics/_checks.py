"""Input checks shared by every metric: one clear ValueError instead of a silent NaN."""

from __future__ import annotations

import numpy as np


class UndefinedMetricError(ValueError):
    """Valid input on which a metric has no value (e.g. Pearson CC of a constant series).

    A subclass of ValueError so callers that only want "bad input" still catch it; `evaluate`
    catches this one alone and reports the metric as missing with the message as its reason.
    """


class AbsentClassWarning(UserWarning):
    """A class in 0..C-1 with no true and no predicted sample: its precision, recall and F1 are
    undefined (NaN per class), and it is left out of the macro and weighted averages."""


def to_numpy(x, name: str) -> np.ndarray:
    """Array from a numpy array, list or torch tensor (detached, on the CPU)."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if arr.dtype == object:
        raise ValueError(f"{name}: expected a numeric array, got dtype object")
    return arr


def check_finite(arr: np.ndarray, name: str) -> None:
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if np.issubdtype(arr.dtype, np.floating) and not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinite values")


def check_same_length(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise ValueError(f"{name_a} and {name_b} have different lengths ({a.shape[0]} vs {b.shape[0]})")


def as_labels(x, name: str) -> np.ndarray:
    """1-D array of non-negative integer class labels (floats allowed only if integral)."""
    arr = to_numpy(x, name)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected 1-D class labels, got shape {arr.shape}")
    check_finite(arr, name)
    if np.issubdtype(arr.dtype, np.bool_):
        arr = arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(arr == np.round(arr)):
            raise ValueError(f"{name}: class labels must be integers")
        arr = arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{name}: class labels must be integers, got dtype {arr.dtype}")
    if arr.min() < 0:
        raise ValueError(f"{name}: class labels must be non-negative")
    return arr.astype(np.int64)


def as_values(x, name: str) -> np.ndarray:
    """Finite float64 array (any shape, non-empty)."""
    arr = to_numpy(x, name)
    if not (np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)):
        raise ValueError(f"{name}: expected numbers, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    check_finite(arr, name)
    return arr


def as_confusion(x, name: str) -> np.ndarray:
    """Square C x C array of non-negative counts holding at least one sample."""
    arr = to_numpy(x, name)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1]:
        raise ValueError(f"{name}: expected a square C x C confusion matrix, got shape {arr.shape}")
    arr = as_values(arr, name)
    if arr.min() < 0:
        raise ValueError(f"{name}: counts must be non-negative")
    if arr.sum() == 0:
        raise ValueError(f"{name} holds no sample")
    return arr


def fill_or_missing(row: dict, missing: list[str], key: str, fn) -> None:
    """row[key] = fn(), or None plus a "key: reason" entry in `missing` if the metric is undefined."""
    try:
        row[key] = float(fn())
    except UndefinedMetricError as err:
        row[key] = None
        missing.append(f"{key}: {err}")
