"""The Triton compile options of the op's kernels: one definition for the launch and for ``bench.kernel_aot``.

A launch option left unset takes Triton's default, and defaults move between releases: FP contraction
(FMA fusion) is on by default up to Triton 3.9, which warns that 3.10 turns it off. Unfused, the kernels
issue up to ~25% more instructions (bwd_proj bf16: 1469 -> 1849 SASS), so the op pins what it relies on here,
and `bench.kernel_aot` gates exactly these options, so the gate and the op compile the same code.
"""

from __future__ import annotations

import functools

PINNED = {"enable_fp_fusion": True}  # every kernel, whatever the Triton version's default


@functools.cache
def _known_options() -> frozenset | None:
    """The option names the installed Triton's CUDA backend accepts, or None if it cannot say.

    A native launch raises KeyError on an option its backend does not know (the interpreter drops it), so an
    option an older release lacks is left out rather than breaking the launch.
    """
    try:
        from triton.backends.nvidia.compiler import CUDAOptions
    except ImportError:
        return None
    return frozenset(CUDAOptions.__dataclass_fields__)


def launch_options(num_warps: int, maxnreg: int | None = None) -> dict:
    """The options a kernel is launched and compiled with: its warps, its register cap if any, `PINNED`."""
    options = {"num_warps": num_warps, **({"maxnreg": maxnreg} if maxnreg else {}), **PINNED}
    known = _known_options()
    return options if known is None else {k: v for k, v in options.items() if k in known}
