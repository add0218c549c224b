"""`python -m bench`: the entry points of the harness, each with the first line of its docstring.

Found by reading the package's modules (those runnable with ``python -m``), not by importing them, so the list
prints at once and without torch.
"""

import ast
import sys
from pathlib import Path


def entry_points() -> list[tuple[str, str]]:
    """(module, summary) for every ``bench`` module that runs as ``python -m bench.<name>``."""
    out = []
    here = Path(__file__).parent
    modules = [(p.stem, p) for p in here.glob("*.py") if not p.stem.startswith("_")]
    modules += [(p.parent.name, p) for p in here.glob("*/__main__.py")]  # packages run as python -m bench.<name>
    for name, path in sorted(modules):
        text = path.read_text()
        if path.name != "__main__.py" and 'if __name__ == "__main__"' not in text:
            continue
        doc = (ast.get_docstring(ast.parse(text)) or "").strip().splitlines()
        summary = doc[0] if doc else ""
        prefix = f"`python -m bench.{name}`"
        summary = summary.removeprefix(prefix).lstrip(":").strip()
        out.append((f"bench.{name}", summary))
    return out


def main() -> int:
    print("usage: python -m <entry point> [--help]\n")
    for module, summary in entry_points():
        print(f"  {module:20s} {summary}")
    print(f"  {'reports':20s} every table and figure the results stores can fill")
    return 0


if __name__ == "__main__":
    sys.exit(main())
