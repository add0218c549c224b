"""Interpret the Triton kernels on the CPU unless told otherwise (triton.jit fixes the mode at first use)."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
