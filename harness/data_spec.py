"""The grammar of a data spec, ``NAME`` or ``NAME:PATH``, and the data-set names it knows: what `bench` loads
from and what `reports` reads back from a row's config, so both parse it alike.

Only the names live here; what each data set is (its classes, splits and loaders) stays in `bench.data`.
"""

from __future__ import annotations

SOURCES = ("synth", "fer2013", "affectnet", "affectnet7", "rafdb", "affwild", "afewva")


def parse_spec(spec: str) -> tuple[str, str | None]:
    """'synth' -> ('synth', None); 'fer2013:/data/fer2013.csv' -> ('fer2013', '/data/fer2013.csv')."""
    name, _, path = spec.partition(":")
    if name not in SOURCES:
        raise ValueError(f"unknown data set {spec!r}; use synth or "
                         + ", ".join(f"{s}:PATH" for s in SOURCES if s != "synth"))
    if name == "synth" and path:
        raise ValueError(f"synth takes no path (got {spec!r}); set its size with the synth options")
    if name != "synth" and not path:
        raise ValueError(f"{name} needs a path: {name}:PATH")
    return name, path or None
