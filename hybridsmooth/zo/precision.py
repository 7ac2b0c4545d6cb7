"""The ZO step in low precision (bfloat16 / float16): what rounding does to it, and modes where it survives.

The in-place seed trick (``zo.inplace``) perturbs and restores the weights in their own dtype. In bfloat16
the spacing of a weight of size 0.02 is 2^-13 ~ 1.2e-4, while a ZO update eta_x phi u_i is typically ~1e-6:
round to nearest drops the update, and x + mu u - 2 mu u + mu u != x, so what moves x is the rounding of
perturb/restore (a random walk), not the algorithm. Three ZO precisions:

* ``plain``       the weights are the iterate, every move rounded to nearest in their dtype (MeZO as is);
* ``master``      a float32 copy of the ZO block is the iterate; the weights only receive bf16(x32 + mu u),
                  bf16(x32 - mu u) and bf16(x32) (the restore is a copy: exact); the update is applied to x32
                  in float32. Memory: one float32 copy of the block (2x the bf16 weights);
* ``stochastic``  no copy: the perturbations still round to nearest, the restore fused with the update
                  rounds stochastically (seeded), so the update survives in expectation; the restore
                  residue stays (its variance grows a little).

Measured every step on a fixed sample of coordinates (``CoordinateSample``; a few KB, no copy of x):
``residue`` = ||x_after - (x_before - eta g)|| / ||x_before||, the perturb/restore residue plus the rounding
of the update (exactly the restore residue when eta = 0), and ``lost`` = the fraction of coordinates whose
intended update |eta phi u_i| is below half the spacing of their value in the dtype that accumulates it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from .signs import as_tensor

ZO_PRECISIONS: tuple[str, ...] = ("plain", "master", "stochastic")
SAMPLE_SIZE = 8192  # coordinates per block: the lost fraction to +-0.5 %, the residue to a few %
_LOW = (torch.bfloat16, torch.float16)


def check_precision(precision: str) -> str:
    if precision not in ZO_PRECISIONS:
        raise ValueError(f"unknown ZO precision {precision!r}; accepted: {', '.join(ZO_PRECISIONS)}")
    return precision


def spacing(values: Tensor, dtype: torch.dtype) -> Tensor:
    """The spacing (ulp) of ``dtype`` at each of ``values`` (float64): 2^(e-1) eps for |v| = m 2^e with
    m in [0.5, 1); the subnormal spacing below the smallest normal number."""
    fi = torch.finfo(dtype)
    v = values.detach().abs().to(torch.float64)
    _, e = torch.frexp(v)
    ulp = torch.exp2((e - 1).to(torch.float64)) * fi.eps
    return torch.where(v < fi.tiny, torch.full_like(v, fi.tiny * fi.eps), ulp)


def stochastic_round(v: Tensor, dtype: torch.dtype, generator: torch.Generator) -> Tensor:
    """``v`` rounded to ``dtype`` up or down at random, P(up) = the distance to the lower neighbour over the
    spacing, so the expectation is ``v`` (for v in float32 to bfloat16: an exact bit trick)."""
    if dtype == v.dtype:
        return v
    if dtype == torch.bfloat16 and v.dtype == torch.float32:
        # bfloat16 is the top 16 bits of float32: add a uniform 16-bit integer to the magnitude's low bits,
        # then truncate (sign-magnitude, so it is symmetric for negative values)
        noise = torch.randint(0, 1 << 16, v.shape, generator=generator, dtype=torch.int32, device=v.device)
        return ((v.view(torch.int32) + noise) & -65536).view(torch.float32).to(dtype)
    # generic: round to nearest, then move to the other neighbour with the right probability (the neighbour
    # is taken one spacing of the rounded value away; below a power of two it is half that: a tiny bias)
    near = v.to(dtype)
    gap = v - near.to(v.dtype)
    step = spacing(near, dtype).to(v.dtype)
    flip = torch.rand(v.shape, generator=generator, device=v.device, dtype=v.dtype) < gap.abs() / step
    return torch.where(flip, near.to(v.dtype) + torch.sign(gap) * step, near.to(v.dtype)).to(dtype)


def rounding_seed(generator: torch.Generator) -> int:
    """The seed of a step's stochastic rounding: derived from its ZO generator's seed (deterministic, and
    a separate stream, so the ZO directions do not change)."""
    return (generator.initial_seed() * 6364136223846793005 + 1442695040888963407) % (1 << 63)


# --- measuring on a fixed sample of coordinates -----------------------------------------------------------


@dataclass(frozen=True)
class CoordinateSample:
    """A fixed random sample of coordinates of a block given as a list of tensors: for each tensor that
    holds some, (its position in the list, flat indices into it)."""

    picks: tuple[tuple[int, Tensor], ...]
    total: int

    @classmethod
    def fixed(cls, tensors: Sequence[Tensor], size: int = SAMPLE_SIZE, seed: int = 0) -> CoordinateSample:
        numels = torch.tensor([t.numel() for t in tensors], dtype=torch.long)
        total = int(numels.sum())
        g = torch.Generator().manual_seed(seed)
        # with replacement then unique: no permutation of the whole block (135M indices would be 1 GB)
        flat = torch.unique(torch.randint(total, (min(size, total),), generator=g))
        ends = torch.cumsum(numels, 0)
        pos = torch.searchsorted(ends, flat, right=True)
        local = flat - (ends - numels)[pos]
        device = tensors[0].device
        picks = tuple((int(p), local[pos == p].to(device)) for p in torch.unique(pos))
        return cls(picks, total)

    @property
    def size(self) -> int:
        return sum(len(i) for _, i in self.picks)

    def gather(self, tensors: Sequence[Tensor]) -> Tensor:
        """The sampled values of ``tensors`` (float64, in the order of ``picks``)."""
        return torch.cat([tensors[p].detach().reshape(-1)[i].to(torch.float64) for p, i in self.picks])

    def tap(self, directions: Iterator[Tensor] | Sequence[Tensor], into: list[Tensor]) -> Iterator[Tensor]:
        """Pass ``directions`` (one tensor per block tensor) through, appending the sampled entries of u to
        ``into`` (a flat float64 tensor, the order of ``picks``): u is seen while it is drawn anyway."""
        wanted = dict(self.picks)
        parts = []
        for k, u in enumerate(directions):
            if k in wanted:
                parts.append(as_tensor(u).detach().reshape(-1)[wanted[k]].to(torch.float64))
            yield u
        into.append(torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64))


@dataclass(frozen=True)
class RoundingSample:
    """What rounding did to one ZO step, on the coordinate sample (see the module docstring); ``error_sq``
    is ||x_after - (x_before - eta g)||^2 scaled to the whole block (the theory's s^2 of that step)."""

    residue: float
    lost: float
    error_sq: float


def rounding_sample(x0: Tensor, x1: Tensor, update: Tensor, *, dtype: torch.dtype, total: int) -> RoundingSample:
    """From the sampled x before and after a step and its intended update (float64), ``dtype`` being the
    dtype that holds the iterate."""
    err = x1 - (x0 + update)
    moving = update != 0
    below = update.abs() < spacing(x0, dtype) / 2
    lost = float((below & moving).sum()) / max(int(moving.sum()), 1)
    norm = float(torch.linalg.vector_norm(x0))
    err_sq = float(err.square().sum())
    return RoundingSample(
        residue=math.sqrt(err_sq) / norm if norm > 0 else float("nan"),
        lost=lost,
        error_sq=err_sq * total / max(len(x0), 1),
    )


def predicted_lost_fraction(tensors: Sequence[Tensor], scale: float, dtype: torch.dtype | None = None) -> float:
    """The expected fraction of coordinates whose update c u_i (u_i ~ N(0, 1), |c| = ``scale``) is below half
    the spacing of their value: mean_i erf(spacing(x_i) / (2 sqrt(2) scale)). Needs only the weights'
    magnitudes and the update's scale (eta phi / q), so it is known at the first step. Tensor by tensor,
    so no float64 copy of the whole block is alive."""
    if not scale > 0:
        return 0.0
    acc, count = 0.0, 0
    for t in tensors:
        s = spacing(t.reshape(-1), dtype or t.dtype)
        acc += float(torch.special.erf(s / (2 * math.sqrt(2) * scale)).sum())
        count += t.numel()
    return acc / max(count, 1)


# --- the drift of perturb/restore alone (step size 0), the measurement behind the README's table ---------


@dataclass(frozen=True)
class DriftRow:
    """x after ``steps`` ZO steps of step size 0 (perturb +mu u, -2 mu u, +mu u: nothing should change):
    ||x_t - x_0|| / ||x_0|| and the fraction of weights changed."""

    dtype: str
    precision: str
    steps: int
    drift: float
    changed: float


def restore_drift(
    d: int = 1_000_000,
    *,
    dtype: torch.dtype = torch.bfloat16,
    precision: str = "plain",
    steps: Sequence[int] = (1, 100, 1000),
    mu: float = 1e-3,
    rms: float = 0.02,
    seed: int = 0,
) -> list[DriftRow]:
    """Run ``zo.inplace.zo_step_inplace_from`` with eta = 0 on ``d`` weights N(0, rms^2) in ``dtype`` (a loss
    that ignores them), each step's noise from ``rng.zo_generator(seed, 0, t)``; a row at each of ``steps``."""
    from ..rng import zo_generator
    from .inplace import zo_step_inplace_from

    x = (torch.randn(d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * rms).to(dtype)
    x0 = x.to(torch.float64)
    master = [x.to(torch.float32)] if precision == "master" else None
    rows, done = [], 0
    for target in sorted(steps):
        for t in range(done, target):
            gen = zo_generator(seed, 0, t)
            zo_step_inplace_from(gen, [x], lambda: 0.0, mu=mu, eta=0.0, precision=precision, master=master)
        done = target
        diff = x.to(torch.float64) - x0
        drift = float(torch.linalg.vector_norm(diff) / torch.linalg.vector_norm(x0))
        changed = float((diff != 0).double().mean())
        rows.append(DriftRow(str(dtype).replace("torch.", ""), precision, target, drift, changed))
    return rows


# --- one run's precision state ---------------------------------------------------------------------------


@dataclass(eq=False)
class RunPrecision:
    """A model run's ZO precision: for each ZO block ("x", "y") the coordinate sample that measures its
    rounding and, in mode master, its float32 master copy (flat, like the block's buffer). Lives as long as
    the run; a checkpoint stores ``masters``."""

    mode: str
    probes: dict[str, CoordinateSample]
    masters: dict[str, Tensor]

    @classmethod
    def for_run(cls, objective, mode: str, blocks: Sequence[str]) -> RunPrecision:
        check_precision(mode)
        probes, masters = {}, {}
        for b in blocks:
            probes[b] = CoordinateSample.fixed(block_tensors(objective, getattr(objective, b)))
            if mode == "master":
                masters[b] = getattr(objective, b).detach().to(torch.float32).clone()
        return cls(mode, probes, masters)

    def step_options(self, objective, block: str) -> dict:
        """The keyword arguments of ``zo_step_inplace_from`` for a step on ``block``."""
        master = self.masters.get(block)
        views = block_tensors(objective, master, block=block) if master is not None else None
        return {"precision": self.mode, "master": views, "probe": self.probes.get(block)}

    def iterate(self, objective, block: str) -> list[Tensor]:
        """The tensors that hold the iterate of ``block``: its master copy (mode master) or the weights."""
        master = self.masters.get(block)
        if master is not None:
            return block_tensors(objective, master, block=block)
        return block_tensors(objective, getattr(objective, block))

    def iterate_dtype(self, objective, block: str) -> torch.dtype:
        return self.iterate(objective, block)[0].dtype


def block_tensors(objective, flat: Tensor, *, block: str | None = None) -> list[Tensor]:
    """The per-parameter views of ``flat`` (a block buffer of ``objective``, or a tensor laid out like
    block ``block``), in the order the in-place step visits them."""
    if block is None:
        block = "x" if flat is objective.x else "y"
    layout = objective.x_layout if block == "x" else objective.y_layout
    return list(layout.views(flat).values())


# --- warnings and the run's summary ------------------------------------------------------------------------


class LostUpdateWarning(UserWarning):
    """Most of the ZO update is below half the spacing of the weights: round to nearest drops it."""


def lost_update_message(fraction: float, dtype: torch.dtype, scale: float) -> str:
    name = str(dtype).replace("torch.", "")
    return (
        f"{100 * fraction:.0f}% of the ZO update (eta |phi| / q = {scale:.3g} per unit of u) is below half the "
        f"{name} spacing of the weights and rounds away: x moves by the rounding of perturb/restore, not by the "
        "algorithm (use --zo-precision master, or a larger eta_x)"
    )


def precision_summary(
    mode: str, steps, *, eta: float, d: int, q: int, x_norm: float, dtype: torch.dtype, constants=None
) -> dict:
    """The run summary's ZO-precision entries from the per-step (residue, lost, phi) rows ``steps``: means,
    the rounding noise s^2 = E||e_t||^2 (residue x ||x||)^2, its Theorem-R term next to the ZO variance term
    (``theory.bounds.rounding_noise_terms``; sigma_x^2 from the constants, else the measured mean phi^2 =
    E_i ||grad_x f_i||^2 >= sigma_x^2, so the ratio is then an under-estimate), and a one-line note when
    most of the update was lost."""
    from ..theory.bounds import rounding_noise_terms

    rows = [r for r in steps if math.isfinite(r[0])]
    out = {"zo_precision": mode, "zo_residue_mean": None, "zo_lost_mean": None, "zo_precision_note": None}
    if not rows:
        return out
    res2 = sum(r[0] ** 2 for r in rows) / len(rows)
    lost = sum(r[1] for r in rows) / len(rows)
    phi2 = sum(r[2] ** 2 for r in rows if math.isfinite(r[2])) / len(rows)
    s2 = res2 * x_norm**2
    c = constants
    known = c is not None and c.joint_L_x and c.sigma2_x is not None
    lam, sx2 = (c.joint_L_x, c.sigma2_x) if known else (1.0, phi2)
    rounding, variance = rounding_noise_terms(s2, eta, d_x=d, Lambda_x=lam, sx2=sx2, q=q)
    ratio = rounding / variance if variance > 0 else math.inf
    where = "the problem's constants" if known else "sigma_x^2 <= mean phi^2, L_x cancels"
    out.update(
        zo_residue_mean=math.sqrt(res2),
        zo_lost_mean=lost,
        zo_rounding_noise=s2,
        zo_rounding_term=rounding if known else None,
        zo_variance_term=variance if known else None,
        zo_rounding_vs_variance=ratio,
        zo_precision_theory=(
            f"rounding noise s^2 = {s2:.3g} per step adds 3 L_x s^2 to B_R (Theorem R), {ratio:.3g} x its ZO "
            f"variance term 26 (d_x+1)/q L_x eta_x^2 sigma_x^2 ({where})"
        ),
    )
    if lost > 0.5 and mode != "stochastic":
        name = str(dtype).replace("torch.", "")
        out["zo_precision_note"] = (
            f"ZO precision {mode}: {100 * lost:.0f}% of the x update was below half the {name} spacing and "
            f"rounded away (restore residue {math.sqrt(res2):.2g} of ||x|| per step): not a run of the algorithm"
        )
    return out
