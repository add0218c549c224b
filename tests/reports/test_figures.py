"""The figures are written as PNG and PDF with real content, from tidy frames or lists of dicts."""

from __future__ import annotations

import builtins

import pandas as pd
import pytest

from reports import figures

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def needs_matplotlib():
    pytest.importorskip("matplotlib", reason="figures need the optional 'plots' extra (matplotlib)")


def assert_written(paths, name, tmp_path):
    assert [p.name for p in paths] == [f"{name}.png", f"{name}.pdf"]
    png, pdf = paths
    assert png.parent == tmp_path
    assert png.read_bytes()[:8] == PNG_MAGIC
    assert png.stat().st_size > 10_000
    assert pdf.read_bytes()[:5] == b"%PDF-"
    assert pdf.stat().st_size > 5_000


def test_fig3_bypass_functions(tmp_path):
    needs_matplotlib()
    paths = figures.bypass_functions(tmp_path)
    assert_written(paths, "fig3_bypass", tmp_path)


def test_fig3_pdf_is_reproducible(tmp_path):
    """No creation date in the PDF: the same figure gives the same bytes."""
    needs_matplotlib()
    first = figures.bypass_functions(tmp_path / "a", params=((1.0, 0.0),))[1].read_bytes()
    second = figures.bypass_functions(tmp_path / "b", params=((1.0, 0.0),))[1].read_bytes()
    assert first == second


def test_depth_curves_measured_and_published(tmp_path):
    needs_matplotlib()
    measured = pd.DataFrame([{"depth": d, "metric": m, "value": v + d / 1000, "source": "measured"}
                             for d in (26, 50, 68)
                             for m, v in (("affectnet_accuracy", 60.0), ("affectnet_rmse_valence", 0.25))])
    frame = pd.concat([measured, figures.published_depth_points()])
    paths = figures.depth_curves(frame, tmp_path)
    assert_written(paths, "fig5_depth", tmp_path)


def test_published_depth_points_hold_the_printed_numbers():
    points = figures.published_depth_points().set_index(["depth", "metric"])["value"]
    assert points[(50, "affectnet_accuracy")] == 68.50
    assert points[(62, "affectnet_accuracy")] == 68.69
    assert points[(32, "affectnet_rmse_total")] == 0.2684
    assert not points.index.duplicated().any()
    assert set(points.index.get_level_values("depth")) == {32, 50, 62}


def test_complexity_curves_from_a_list_of_dicts(tmp_path):
    needs_matplotlib()
    rows = [{"depth": d, "quantity": q, "value": v * d, "source": "measured"}
            for d in (26, 50) for q, v in (("params", 6e4), ("flops", 4e6), ("step_time_ms", 0.3))]
    rows += figures.published_complexity_points().to_dict(orient="records")
    paths = figures.complexity_curves(rows, tmp_path, name="cost")
    assert_written(paths, "cost", tmp_path)
    table2 = figures.published_complexity_points()
    assert len(table2) == 16 and sorted(table2["depth"].unique()) == [26, 32, 38, 44, 50, 56, 62, 68]


def test_kernel_bandwidth(tmp_path):
    needs_matplotlib()
    frame = pd.DataFrame([{"size": 4**k, "impl": impl, "gbps": g * k, "panel": panel}
                          for k in range(6, 13) for impl, g in (("eager", 50), ("triton", 150), ("copy", 200))
                          for panel in ("forward", "backward")])
    assert_written(figures.kernel_bandwidth(frame, tmp_path), "kernel_bandwidth", tmp_path)


def test_gradient_norms(tmp_path):
    needs_matplotlib()
    frame = pd.DataFrame([{"depth": d, "bypass": b, "ratio": r ** d} for d in (14, 50, 110)
                          for b, r in (("identity", 1.0), ("scaled:lam=0.5", 1.1), ("adaptive", 1.01))])
    assert_written(figures.gradient_norms(frame, tmp_path), "gradient_norms", tmp_path)


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"missing \['ratio'\]"):
        figures.gradient_norms(pd.DataFrame({"depth": [14], "bypass": ["identity"]}), tmp_path)


def test_flatten_rows_gives_dotted_columns():
    rows = [{"run_id": "a", "command": "gradflow", "config": {"depth": 14, "bypass": "atan"},
             "metrics": {"ratio": 1.5}, "timings": {}, "env": {"torch": "2.13"}}]
    frame = figures.flatten_rows(rows)
    assert frame.loc[0, "config.depth"] == 14 and frame.loc[0, "metrics.ratio"] == 1.5


def test_clear_error_without_matplotlib(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match="install the 'plots' extra"):
        figures.bypass_functions(tmp_path)
