"""A training run's settings beside where each comes from (`bench.train --dry-run`, the README's recipe tables)."""

from __future__ import annotations

import pandas as pd

from .render import render


def _value(value) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return "unset" if value is None else str(value)


def render_settings(sources: dict, config: dict, fmt: str = "markdown", caption: str = "", run_key: str = "",
                    footprint: list[str] | None = None) -> str:
    """One line per setting: its value and its source (paper section, authors' code, harness or given).
    ``sources`` maps a bench.train option to a `bench.training.recipes.Setting`."""
    frame = pd.DataFrame([{"setting": key if "." in key else "--" + key.replace("_", "-"), "value": _value(s.value),
                           "source": s.source} for key, s in sources.items()])
    notes = [f"run key {run_key}: the config these settings make (checkpoints go under its folder)"] if run_key \
        else []
    notes += footprint or []
    return render(frame, fmt, caption=caption or "Training settings", notes=notes)
