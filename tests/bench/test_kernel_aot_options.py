"""One compile: the options every kernel of the op is launched with are the ones `bench.kernel_aot` gates, and FP
contraction is pinned on in them (Triton 3.10 turns its default off)."""

import dataclasses

from bench import kernel_aot
from breg_models.ops import _kernels, compile_options


def test_launch_and_gate_use_the_same_pinned_options():
    for spec in _kernels.SPECS:
        assert spec.options["enable_fp_fusion"] is True and spec.options["num_warps"] == spec.num_warps
        assert spec.options.get("maxnreg") == spec.maxnreg
        assert kernel_aot.launch_options(spec) == spec.options


def test_the_launch_passes_them():
    seen = {}

    class Kernel:
        def __getitem__(self, grid):
            return lambda *args, **kwargs: seen.update(grid=grid, **kwargs)

    spec = dataclasses.replace(_kernels.FWD_PROJ, fn=Kernel())
    spec.launch((3, 1, 1), "x", IDX64=False)
    assert seen["grid"] == (3, 1, 1) and seen["IDX64"] is False
    assert {k: seen[k] for k in spec.options} == spec.options and seen["maxnreg"] == 128


def test_an_option_the_installed_triton_lacks_is_left_out(monkeypatch):
    monkeypatch.setattr(compile_options, "_known_options", lambda: frozenset({"num_warps", "maxnreg"}))
    assert compile_options.launch_options(4, 64) == {"num_warps": 4, "maxnreg": 64}
    monkeypatch.setattr(compile_options, "_known_options", lambda: None)  # no CUDA backend to ask: pass them all
    assert compile_options.launch_options(8) == {"num_warps": 8, **compile_options.PINNED}


def test_a_spec_without_options_gets_the_pinned_ones():
    @dataclasses.dataclass
    class Bare:
        num_warps: int = 2

    assert kernel_aot.launch_options(Bare()) == compile_options.launch_options(2)
