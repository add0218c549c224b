"""BReG-NeXt Eq. 8, H(x) = atan(alpha x / s) / (alpha s) with s^2 = beta^2 + 1, and its derivatives in closed form.

`eq8` is the definition every implementation is checked against (in float64, via `breg_models.bypass.reference`):
written through atan(z)/z and its Taylor series it stays finite and exact as alpha -> 0, where the printed
formula divides 0 by 0. `eq8_authors` is the printed formula as the authors' code and a user write it: the
baseline the benchmarks time, not a reference.
"""

from __future__ import annotations

import torch
from torch import Tensor

# Below this |z| the Eq. 8 helpers switch to their Taylor series: the direct forms divide 0 by 0 at z = 0
# and lose digits to cancellation near it. The series' first dropped term is far below float64 epsilon.
_SERIES_BELOW = 0.1
_SERIES_TERMS = 10


def atanc(z: Tensor) -> Tensor:
    """atan(z) / z, equal to 1 at z = 0: keeps Eq. 8 finite as alpha -> 0 (H -> x / (beta^2 + 1))."""
    small = z.abs() < _SERIES_BELOW
    safe = torch.where(small, torch.ones_like(z), z)
    z2 = torch.where(small, z, torch.zeros_like(z)) ** 2  # the unused branch must not overflow: its 0-weighted
    series = torch.zeros_like(z)  # gradient would be inf * 0 = NaN (fp16 overflows z^18 already at |z| ~ 2)
    for k in reversed(range(_SERIES_TERMS)):  # sum_k (-1)^k z^(2k) / (2k + 1), Horner in z^2
        series = series * z2 + (-1) ** k / (2 * k + 1)
    return torch.where(small, series, torch.atan(safe) / safe)


def eq8_q(z: Tensor) -> Tensor:
    """(1 / (1 + z^2) - atanc(z)) / z^2, which tends to -2/3 at z = 0.

    dH/dalpha of Eq. 8 is alpha x^3 / s^4 * q(z): written this way it has no 1/alpha and no cancellation.
    """
    small = z.abs() < _SERIES_BELOW
    safe = torch.where(small, torch.ones_like(z), z)
    z2 = torch.where(small, z, torch.zeros_like(z)) ** 2
    series = torch.zeros_like(z)
    for k in reversed(range(1, _SERIES_TERMS + 1)):  # sum_{k>=1} (-1)^k 2k/(2k+1) z^(2k-2)
        series = series * z2 + (-1) ** k * 2 * k / (2 * k + 1)
    safe2 = safe * safe
    direct = (1.0 / (1.0 + safe2) - torch.atan(safe) / safe) / safe2
    return torch.where(small, series, direct)


def eq8(x: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
    """H of Eq. 8 as x / s^2 * atanc(alpha x / s): no division by alpha."""
    s2 = beta * beta + 1.0
    z = alpha * x / torch.sqrt(s2)
    return x / s2 * atanc(z)


def eq8_dx(x: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
    return 1.0 / (alpha * alpha * x * x + beta * beta + 1.0)  # Eq. 9


def eq8_grads(x: Tensor, alpha: Tensor, beta: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Closed-form (dH/dx, dH/dalpha, dH/dbeta) of Eq. 8, elementwise, stable at alpha = 0.

    With s^2 = beta^2 + 1 and z = alpha x / s:
      dH/dx     = 1 / (alpha^2 x^2 + s^2)                       (Eq. 9)
      dH/dalpha = alpha x^3 / s^4 * q(z)                        (q from `eq8_q`)
      dH/dbeta  = -beta / s^2 * (x / (alpha^2 x^2 + s^2) + H)
    """
    s2 = beta * beta + 1.0
    z = alpha * x / torch.sqrt(s2)
    h = x / s2 * atanc(z)
    dx = 1.0 / (alpha * alpha * x * x + s2)
    dalpha = alpha * x * x * x / (s2 * s2) * eq8_q(z)
    dbeta = -beta / s2 * (x * dx + h)
    return dx, dalpha, dbeta


def eq8_authors(x: Tensor, alpha: Tensor, beta: Tensor) -> Tensor:
    """Eq. 8 exactly as printed and as the authors' code computes it: 0/0 (NaN) at alpha = 0."""
    s = torch.sqrt(beta * beta + 1.0)
    return torch.atan(alpha * x / s) / (alpha * s)
