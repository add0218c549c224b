"""The one-way layering: data flows spec -> model -> run -> result rows -> report, so no package imports one
above it. Read from each file's imports with `ast` (nothing is imported), so the check costs milliseconds.

    harness                      shared by all; imports no package of the project
    breg_models, losses, metrics the models and what they are scored with; never bench or reports
    reports                      result rows -> tables and figures; never bench, which runs and renders them
    bench                        the entry points; may import any of the above
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("harness", "breg_models", "losses", "metrics", "reports", "bench")
# package -> the packages of this project it must not import
FORBIDDEN = {
    "harness": {"bench", "reports", "breg_models", "losses", "metrics"},
    "breg_models": {"bench", "reports"},
    "losses": {"bench", "reports"},
    "metrics": {"bench", "reports"},
    "reports": {"bench"},
}


def imported_packages(path: Path) -> dict[str, int]:
    """Top-level package of every absolute import in ``path`` -> the first line importing it (relative imports
    stay inside their own package, so they never cross a layer)."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            found.setdefault(name.split(".")[0], node.lineno)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_import_against_the_flow(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules: was it moved?"
    wrong = [f"{path.relative_to(ROOT)}:{line} imports {top}"
             for path in files for top, line in imported_packages(path).items() if top in FORBIDDEN[package]]
    assert not wrong, "imports against the layering:\n" + "\n".join(wrong)


def test_every_package_is_layered():
    """A new top-level package must be placed in the layering here before it can be imported across layers."""
    found = {p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests"}
    assert found <= set(PACKAGES), f"unlayered packages: {sorted(found - set(PACKAGES))}"
