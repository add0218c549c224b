"""Fused ops of the bypass family (Triton kernels behind torch.library custom ops).

Importing this package registers ``breg::bypass_add``; Triton itself is imported on the first launch.
"""

from .bypass_add_op import (
    FVCORE_HANDLES,
    bypass_add,
    bypass_add_backward,
    can_run,
    check_can_run,
    compiled_eq8_shortcut,
    eager_eq8_shortcut,
)

__all__ = [
    "FVCORE_HANDLES",
    "bypass_add",
    "bypass_add_backward",
    "can_run",
    "check_can_run",
    "compiled_eq8_shortcut",
    "eager_eq8_shortcut",
]
