"""DESIGN.md section 4: `reports` does not reach up into `bench`; the gradient-growth fit both use sits below."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import bench.gradflow
import reports.gradflow

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_reports_gradflow_does_not_import_bench():
    assert not {m for m in imported_modules(ROOT / "reports" / "gradflow.py") if m.split(".")[0] == "bench"}


def fit_module():
    return importlib.import_module("metrics.gradient_growth")


def test_the_fit_module_imports_neither_bench_nor_reports():
    gradient_growth = fit_module()
    tops = {m.split(".")[0] for m in imported_modules(Path(gradient_growth.__file__))}
    assert not tops & {"bench", "reports"}


def test_one_fit_serves_both():
    gradient_growth = fit_module()
    assert bench.gradflow.fit_growth is gradient_growth.fit_growth
    assert reports.gradflow.fit_growth is gradient_growth.fit_growth


def test_fit_growth_slopes_and_expectations():
    gradient_growth = fit_module()
    rows = [{"config": {"bypass": "scaled:lam=0.5", "bn": "frozen", "depth": 6 * n + 8, "steps": 0},
             "metrics": {"units": 3 * n, "init": {"log10_grad_ratio": -0.3 * n, "log10_weight_grad_ratio": 0.0,
                                                   "log10_bypass_product": -0.9 * n}}}
            for n in (2, 3, 4)]
    (fit,) = gradient_growth.fit_growth(rows).to_dict(orient="records")
    assert fit["paper_expects"] == "shrinks" and fit["depths"] == "20 26 32"
    assert abs(fit["grad_slope_per_unit"] + 0.1) < 1e-12 and abs(fit["product_slope_per_unit"] + 0.3) < 1e-12
    assert gradient_growth.fit_growth([]).empty
