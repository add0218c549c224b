"""fp32 <-> bf16 in Triton's CPU interpreter converted as the GPU converts: to nearest even, subnormals kept.

Native Triton lowers an fp32 -> bf16 cast or store to ``cvt.rn.bf16.f32`` (round to nearest, ties to even) and a
bf16 -> fp32 one to the exact ``cvt.f32.bf16``, neither flushing subnormals. The interpreter
(``triton/runtime/interpreter.py``, the same code in Triton 3.6 and 3.9) converts both with ``_convert_float``,
which drops the low 16 bits (truncation: up to 1 bf16 ulp off, biased toward zero) and garbles subnormals
either way. A bf16 test that passes under the interpreter then says little about the GPU. fp32 <-> fp16 needs
nothing: the interpreter casts it with numpy, which rounds to nearest even.

`install()` wraps that one function, through which every fp32 <-> bf16 conversion of the interpreter passes
(``create_fp_trunc`` via ``cast_impl``, stores, ``create_fp_to_fp`` with an explicit rounding mode, bf16
constants); the interpreter looks it up as a module global at each call, so the wrapper takes effect for
kernels decorated before or after it. ``tests/conftest.py`` installs it whenever ``TRITON_INTERPRET=1``.
"""

from __future__ import annotations

import functools

import numpy as np

_MARK = "_breg_rounds_bf16_to_nearest_even"


def fp32_to_bf16_bits(x, round_to_zero: bool = False) -> np.ndarray:
    """bf16 bit patterns (uint16) of fp32 values: to nearest even like ``cvt.rn.bf16.f32`` and torch, or toward
    zero for ``fp_downcast_rounding='rtz'`` (``cvt.rz``). NaN stays a quiet NaN of the same sign."""
    shape = np.shape(x)
    bits = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    if round_to_zero:
        rounded = bits >> 16
    else:  # add just under half an ulp, plus one when the kept part is odd: ties go to the even neighbour
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = (bits & 0x7FFFFFFF) > 0x7F800000
    return np.where(nan, (bits >> 16) | 0x40, rounded).astype(np.uint16).reshape(shape)


def bf16_bits_to_fp32_bits(bits) -> np.ndarray:
    """fp32 bit patterns (uint32) of bf16 bit patterns: exact, the bf16 bits are the fp32's upper half."""
    return np.asarray(bits, dtype=np.uint16).astype(np.uint32) << 16


def _rounding_convert(original):
    import triton.language as tl
    from triton._C.libtriton import ir

    @functools.wraps(original)
    def convert_float(input, input_dtype, output_dtype, rounding_mode):
        if input_dtype == tl.float32 and output_dtype == tl.bfloat16:
            return fp32_to_bf16_bits(input, round_to_zero=rounding_mode == ir.ROUNDING_MODE.RTZ)
        if input_dtype == tl.bfloat16 and output_dtype == tl.float32:
            return bf16_bits_to_fp32_bits(input)
        return original(input, input_dtype, output_dtype, rounding_mode)

    setattr(convert_float, _MARK, True)
    return convert_float


def _interpreter():
    from triton.runtime import interpreter

    if not callable(getattr(interpreter, "_convert_float", None)):
        raise RuntimeError(
            f"triton {getattr(__import__('triton'), '__version__', '?')}: triton.runtime.interpreter has no "
            f"_convert_float to make fp32 -> bf16 round to nearest even; update breg_models/ops/interpreter_rounding.py"
        )
    return interpreter


def installed() -> bool:
    return getattr(_interpreter()._convert_float, _MARK, False)


def original_convert_float():
    """The interpreter's own conversion (truncating fp32 -> bf16), installed or not."""
    convert = _interpreter()._convert_float
    return convert.__wrapped__ if getattr(convert, _MARK, False) else convert


def install() -> None:
    """Make the interpreter convert fp32 <-> bf16 as the GPU does (idempotent; native kernels are unaffected).
    Raises if this Triton's interpreter has no ``_convert_float``: silently testing truncation is what this
    module exists to prevent."""
    interpreter = _interpreter()
    if not installed():
        interpreter._convert_float = _rounding_convert(interpreter._convert_float)
