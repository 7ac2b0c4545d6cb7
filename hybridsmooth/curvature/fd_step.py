"""The step of finite-difference Hessian-vector products: how far to move each weight, and the error that costs.

A step relative to the whole point is far too large for the small weights where a network's most curved
directions live; :class:`StepScales` scales it to the weights a direction touches, per tensor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from ..objectives.base import Objective, is_model_objective

# How many times faster than its weights a network's derivatives vary along its most curved directions:
# such a direction adds up coherently over a row that the weights themselves sum incoherently, a factor up
# to sqrt(fan-in). Set from the measurements quoted in fd_relative_step (the top eigenvector of MiniLM's
# H_xx lives on its pooler, fan-in 384).
COHERENCE = 8.0


def fd_relative_step(dtype: torch.dtype) -> float:
    """Relative size delta of the finite-difference step (see :class:`StepScales`), per dtype.

    With g = grad f and D2(h) = [g(z + h v) - g(z - h v)] / (2h), the two-point central difference is

        D2(h) = H v + (h^2 / 6) D^3 g[v, v, v] + O(h^4),   rounding ~ eps_g / h,

    (eps_g: the floating-point error of one gradient, ~ eps ||grad f|| and more through cancellations).
    The products use the fourth-order central difference D4(h) = (4 D2(h) - D2(2h)) / 3:

        D4(h) = [8 (g(z + h v) - g(z - h v)) - (g(z + 2h v) - g(z - 2h v))] / (12 h)
              = H v - (h^4 / 30) D^5 g[v, v, v, v, v] + O(h^6),   rounding <= 1.5 eps_g / h,

    at the price of four gradients instead of two. With the step h |v_i| ~ delta sigma_i on each weight
    (sigma_i its scale) and derivatives varying on a scale sigma_i / COHERENCE, the relative error is
    ~ (COHERENCE delta)^4 / 30 + c eps / delta, smallest near delta = eps^(1/5) / COHERENCE:

        float64: 9.3e-5,  float32: 5.2e-3,  bfloat16: 4.7e-2 (about one digit left).

    Measured in float32, relative error of the product along the top eigenvector (LoRA adapters, small
    batches): tiny-bert H_xx 1.3e-4, H_yy 1.5e-4; MiniLM H_xx 1e-4, H_yy 2.7e-4; the Rayleigh quotient,
    i.e. the constant, is off by at most 3e-5. The two-point formula at its best common step (delta/2)
    is off by 1e-3 on MiniLM's H_xx (truncation) while smaller steps drown H_yy in rounding.
    """
    if not dtype.is_floating_point:
        raise ValueError(f"finite differences need a floating dtype, got {dtype}")
    return float(torch.finfo(dtype).eps) ** (1.0 / 5.0) / COHERENCE


# A tensor whose weights are all zero (a LoRA factor B at initialisation, a bias) has no scale of its own:
# below this fraction of the rms of the whole point it borrows that rms, so that a direction living there is
# not given a step of zero. (Measured on tiny-bert + LoRA at B = 0: borrowing a tenth of that rms instead
# left the H_yy products, which live mostly on B, ten times noisier.)
UNSET_TENSOR = 1e-3


def _tensor_sizes(objective: Objective, block: str, d: int) -> list[int]:
    """Numbers of entries of the tensors that make up a flat block, in order; [d] without a layout."""
    if not is_model_objective(objective):
        return [d] if d else []
    layout = objective.x_layout if block == "x" else objective.y_layout
    sizes = [math.prod(tuple(s)) for s in layout.shapes]
    return sizes if sum(sizes) == d else ([d] if d else [])


def _part_sums(v: Tensor, sizes: list[int]) -> Tensor:
    """float64 sums of v_i^2 over the consecutive parts of v of the given sizes."""
    if not sizes:
        return torch.zeros(0, dtype=torch.float64)
    return torch.stack([p.square().sum(dtype=torch.float64) for p in v.split(sizes)]).cpu()


@dataclass(frozen=True)
class StepScales:
    """Scales of the weights at a point, per tensor, for the central-difference step.

    Each weight z_i of tensor t gets a scale sigma_t: the rms of z_t, or the rms of the whole z for a
    tensor that is (nearly) all zeros (below UNSET_TENSOR times that; 1 if z = 0). Along a direction v
    the step moves weight i by h v_i, a fraction r_i = h v_i / sigma_i of its scale. h is chosen so that
    the mean of r_i^2 weighted by where v lives, v_i^2 / ||v||^2, is delta^2 (:func:`fd_relative_step`):

        h = delta ||v|| / sqrt( sum_i v_i^4 / sigma_i^2 ).

    A v spread over one tensor moves it by h ||v|| = delta ||z_t||; a v on k entries of a tensor (a few
    rows of an embedding) moves each by ~ delta sigma_t; a v parallel to z moves z by delta ||z||. A step
    relative to the whole point instead (h ||v|| = delta ||z||) is about 280 delta on MiniLM, far beyond
    the weights of rms 0.01-0.02 where the top eigenvectors live: the truncation error dominated and the
    constants came out 23% (MiniLM L_y) to 56% (tiny-bert L_x) low. Objectives without ``x_layout`` /
    ``y_layout`` count each block as one tensor.
    """

    sizes_x: tuple[int, ...]
    sizes_y: tuple[int, ...]
    sigma: Tensor  # float64, one per tensor, x tensors first
    delta: float

    @classmethod
    def at(cls, objective: Objective, x: Tensor, y: Tensor) -> StepScales:
        sizes_x = _tensor_sizes(objective, "x", x.numel())
        sizes_y = _tensor_sizes(objective, "y", y.numel())
        numel = torch.tensor(sizes_x + sizes_y, dtype=torch.float64)
        squares = torch.cat([_part_sums(x, sizes_x), _part_sums(y, sizes_y)])
        total = math.sqrt(float(squares.sum() / numel.sum())) if numel.numel() else 0.0
        rms = (squares / numel).sqrt()
        sigma = torch.where(rms > UNSET_TENSOR * total, rms, torch.full_like(rms, total if total > 0 else 1.0))
        return cls(tuple(sizes_x), tuple(sizes_y), sigma, fd_relative_step(x.dtype))

    def step(self, vx: Tensor, vy: Tensor) -> float:
        """h for the direction (v_x, v_y) (a missing part is a zero tensor); 0 for v = 0."""
        peak = max(float(vx.abs().max()) if vx.numel() else 0.0, float(vy.abs().max()) if vy.numel() else 0.0)
        if peak == 0.0 or not math.isfinite(peak):
            return 0.0
        squares, fourth = [], []
        for v, sizes in ((vx, self.sizes_x), (vy, self.sizes_y)):
            if not sizes:
                continue
            # scaled to a peak of 1 so that v_i^4 neither underflows nor overflows; a step needs no more
            # than a few digits, so the sums stay in the direction's dtype
            sq = (v / peak).square_()
            for part in sq.split(list(sizes)):
                squares.append(float(part.sum()))
                fourth.append(float(torch.dot(part, part)))
        spread = float((torch.tensor(fourth, dtype=torch.float64) / self.sigma.pow(2)).sum())
        return self.delta * math.sqrt(sum(squares) / spread) / peak
