"""Run the Triton kernels under the CPU interpreter unless the caller chose otherwise (a GPU run sets
TRITON_INTERPRET=0). Set here, before any test launches a kernel: triton.jit fixes the mode at first use."""

import os

os.environ.setdefault("TRITON_INTERPRET", "1")
