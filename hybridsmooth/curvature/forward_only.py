"""Forward-only curvature of the ZO block from the ZO step's own function values (THEORY 4.3).

A central ZO step evaluates f(x + mu u) and f(x - mu u) along each Gaussian direction u. With f(x), once per
point, the same values give the second difference

    s(u) = (f(x + mu u) - 2 f(x) + f(x - mu u)) / mu^2  =  u^T H u + O(mu^2 |u|^4)

(exactly u^T H u on a quadratic, for every mu), and E_u[u^T H u] = tr H for u ~ N(0, I). A HiZOO-style
diagonal (Zhao et al. 2024, with Sigma = I) reuses the same s(u):

    D(u) = s(u) (u * u - 1) / 2,   unbiased for diag H on a quadratic: E[(u^T H u)(u_k^2 - 1)] = 2 H_kk.

Nothing here builds an autograd graph: the loss runs under ``torch.no_grad`` on the live weights, which are
perturbed in place. Every point x0 +- mu u is written fresh from a snapshot of the block and the block is
copied back from it at the end, so the weights come back bitwise (the seed trick alone restores only to
rounding, ``zo.inplace``). Memory: the weights, one snapshot of the block and one direction; no activations
are kept (an entrywise diagonal adds two float64 copies of the block; group sums alone add
none). ``hutchinson_hvp`` is the reference the forward-only numbers are compared with.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor

from ..zo.estimators import check_mu, check_q, projected_gradient
from ..zo.inplace import forward, noise
from . import draws

LossClosure = Callable[[], "Tensor | float"]
# called once per direction with (j, u per tensor, phi_j, s_j): the consumers that share one pass
DirectionHook = Callable[[int, list[Tensor], float, float], None]


@dataclass(frozen=True)
class ProbeRun:
    """One forward-only pass: a row per direction (j, loss_plus, loss_minus, loss_at_x, phi, second_diff)."""

    table: pd.DataFrame
    mu: float
    seed: int
    forwards: int
    seconds: float


def _checked_params(params: Sequence[Tensor]) -> list[Tensor]:
    params = list(params)
    if not params or not all(isinstance(p, Tensor) and p.is_floating_point() for p in params):
        raise ValueError("params must be a non-empty list of floating-point tensors")
    return params


def _set_point(params: list[Tensor], saved: list[Tensor], u: list[Tensor], scale: float) -> None:
    """x <- x0 + scale u, written from the snapshot (never x +- 2 mu u in place, which drifts by rounding)."""
    for p, x0, ui in zip(params, saved, u, strict=True):
        p.copy_(x0).add_(ui, alpha=scale)


def forward_probes(
    params: Sequence[Tensor],
    loss: LossClosure,
    *,
    mu: float = 1e-3,
    n_dirs: int = 16,
    seed: int = 0,
    hooks: Sequence[DirectionHook] = (),
) -> ProbeRun:
    """f at x and at x +- mu u_j for n_dirs Gaussian directions from a generator seeded with ``seed``, drawn
    tensor by tensor as a ZO step draws them (``zo.inplace.noise``); each hook sees (j, u_j, phi_j, s_j).

    ``loss`` evaluates the objective at the current values of ``params`` on a fixed minibatch."""
    params, mu, n_dirs = _checked_params(params), check_mu(mu), check_q(n_dirs)
    gen = torch.Generator(device=params[0].device).manual_seed(int(seed))
    rows, t0 = [], time.perf_counter()
    with torch.no_grad():
        saved = [p.detach().clone() for p in params]
        try:
            f0 = forward(loss)
            for j in range(n_dirs):
                u = list(noise(params, form="central", generator=gen))
                _set_point(params, saved, u, mu)
                lp = forward(loss)
                _set_point(params, saved, u, -mu)
                lm = forward(loss)
                phi = projected_gradient(lp, lm, mu=mu, form="central")
                s = (lp - 2.0 * f0 + lm) / mu**2
                rows.append(dict(j=j, loss_plus=lp, loss_minus=lm, loss_at_x=f0, phi=phi, second_diff=s))
                for hook in hooks:
                    hook(j, u, phi, s)
        finally:
            # bitwise restore, also when the loss or a hook raises
            for p, x0 in zip(params, saved):
                p.copy_(x0)
    return ProbeRun(pd.DataFrame(rows), mu, int(seed), 1 + 2 * n_dirs, time.perf_counter() - t0)


def mean_row(values: Sequence[float], **fields) -> dict:
    """estimate (sample mean), stderr (sample std / sqrt n) and n, plus the given fields."""
    v = torch.tensor(list(values), dtype=torch.float64)
    se = float(v.std(unbiased=True) / math.sqrt(len(v))) if len(v) > 1 else float("nan")
    return dict(**fields, estimate=float(v.mean()), stderr=se, n=len(v))


def forward_trace(
    params: Sequence[Tensor], loss: LossClosure, *, mu: float = 1e-3, n_dirs: int = 16, seed: int = 0
) -> pd.DataFrame:
    """tr H of the block by second differences: one row (method, estimate, stderr, n, forwards, seconds, mu)."""
    run = forward_probes(params, loss, mu=mu, n_dirs=n_dirs, seed=seed)
    return pd.DataFrame([trace_row(run)])


def trace_row(run: ProbeRun) -> dict:
    """The trace row of a pass; tr_H2 = Var(s)/2 estimates tr(H^2) = ||H||_F^2, since for Gaussian u
    E[(u^T H u)^2] = (tr H)^2 + 2 tr(H^2) (THEORY 4.3): the size of H even when its trace cancels."""
    s = run.table["second_diff"]
    row = mean_row(s, method="second-difference", mu=run.mu, forwards=run.forwards, seconds=run.seconds)
    return row | dict(tr_H2=float(s.var(ddof=1)) / 2 if len(s) > 1 else float("nan"))


# --- diagonals: HiZOO (forward only) and Hutchinson (HVP) share one accumulator ---------------------------------


def tensor_groups(params: Sequence[Tensor]) -> dict[str, tuple[int, slice]]:
    """One group per tensor: name -> (tensor index, slice over its flattened entries)."""
    return {f"param{i}": (i, slice(0, p.numel())) for i, p in enumerate(params)}


def flat_groups(slices: Mapping[str, slice]) -> dict[str, tuple[int, slice]]:
    """Groups of one flat block (e.g. a module objective's ``x_layout.slices()``): name -> (0, slice)."""
    return {name: (0, sl) for name, sl in slices.items()}


class DiagonalAccumulator:
    """Running mean and standard error of per-sample diagonal estimates v (a list of tensors shaped like the
    block), entrywise and summed over groups of entries (a layer's share of the trace, with its own error)."""

    def __init__(
        self, params: Sequence[Tensor], groups: Mapping[str, tuple[int, slice]] | None = None, *, entrywise=True
    ):
        self.groups = dict(tensor_groups(params) if groups is None else groups)
        # float64 sums: the mean of many noisy samples must not lose digits. entrywise=False keeps the group
        # sums only (no block-sized buffers: the memory of inference for a model too large for HVPs)
        shapes = [p.shape for p in params] if entrywise else []
        self.total = [torch.zeros(s, dtype=torch.float64, device=params[0].device) for s in shapes]
        self.total_sq = [torch.zeros_like(t) for t in self.total]
        self.group_samples: list[list[float]] = []

    def add(self, v: Sequence[Tensor]) -> None:
        for t, t2, vi in zip(self.total, self.total_sq, v):
            vd = vi.detach().to(torch.float64)
            t.add_(vd)
            t2.addcmul_(vd, vd)
        self.group_samples.append([float(v[i].reshape(-1)[sl].sum()) for i, sl in self.groups.values()])

    def add_hizoo(self, u: Sequence[Tensor], s: float) -> None:
        """The HiZOO sample s (u * u - 1) / 2 of one direction."""
        self.add([(ui * ui - 1.0) * (0.5 * s) for ui in u])

    def hook(self, j: int, u: list[Tensor], phi: float, s: float) -> None:
        self.add_hizoo(u, s)

    def result(self, method: str) -> DiagonalEstimate:
        n = len(self.group_samples)
        mean = [t / n for t in self.total]
        var = [((t2 / n - m * m) * n / max(n - 1, 1)).clamp_min(0) for t2, m in zip(self.total_sq, mean)]
        stderr = [(v / n).sqrt() for v in var]
        cols = list(zip(*self.group_samples)) if n else [[] for _ in self.groups]
        rows = [
            mean_row(vals, method=method, group=name, size=sl.stop - sl.start)
            for (name, (_, sl)), vals in zip(self.groups.items(), cols)
        ]
        return DiagonalEstimate(method, mean, stderr, n, pd.DataFrame(rows))


@dataclass(frozen=True)
class DiagonalEstimate:
    """Entrywise mean and stderr (lists of float64 tensors shaped like the block; empty when the accumulator kept
    group sums only), the sample count and a tidy table with one row per group (method, group, size,
    estimate = the group's trace, stderr, n)."""

    method: str
    mean: list[Tensor]
    stderr: list[Tensor]
    n: int
    groups: pd.DataFrame

    def flat(self) -> Tensor:
        return torch.cat([m.reshape(-1) for m in self.mean])


def hizoo_diagonal(
    params: Sequence[Tensor],
    loss: LossClosure,
    *,
    mu: float = 1e-3,
    n_dirs: int = 16,
    seed: int = 0,
    groups: Mapping[str, tuple[int, slice]] | None = None,
) -> DiagonalEstimate:
    """diag H of the block from forward values only (HiZOO with Sigma = I, module docstring)."""
    acc = DiagonalAccumulator(_checked_params(params), groups)
    forward_probes(params, loss, mu=mu, n_dirs=n_dirs, seed=seed, hooks=[acc.hook])
    return acc.result("hizoo")


def hutchinson_hvp(
    matvec: Callable[[Tensor], Tensor],
    like: Tensor,
    *,
    n_probes: int = 8,
    seed: int = 0,
    groups: Mapping[str, tuple[int, slice]] | None = None,
) -> tuple[dict, DiagonalEstimate]:
    """Hutchinson's trace and diagonal from Hessian-vector products on one flat block: Rademacher z, one at a
    time (a (probes x d) matrix of a model would not fit), trace sample z^T H z, diagonal sample z * H z."""
    n_probes = check_q(n_probes)
    gen = draws.generator(seed, like.device)
    acc = DiagonalAccumulator([like], groups)
    values, squares, t0 = [], [], time.perf_counter()
    for _ in range(n_probes):
        z = draws.signs(tuple(like.shape), gen, like.dtype, like.device)
        hz = matvec(z).detach()
        v = z * hz
        values.append(float(v.to(torch.float64).sum()))
        squares.append(float(hz.to(torch.float64).pow(2).sum()))  # E||H z||^2 = tr(H^2) for E[z z^T] = I
        acc.add([v])
    row = mean_row(values, method="hutchinson-hvp", mu=float("nan"), forwards=0, seconds=time.perf_counter() - t0)
    return row | dict(tr_H2=sum(squares) / len(squares)), acc.result("hutchinson-hvp")


def compare_diagonals(a: DiagonalEstimate, b: DiagonalEstimate) -> pd.DataFrame:
    """Per group: both group traces with their errors and the ratio a/b; the summary row 'all' holds the cosine
    and the relative L2 distance of the two full diagonal vectors (both noisy: a low cosine can be noise)."""
    merged = a.groups.merge(b.groups, on=["group", "size"], suffixes=(f"_{a.method}", f"_{b.method}"))
    merged["ratio"] = merged[f"estimate_{a.method}"] / merged[f"estimate_{b.method}"]
    va, vb = a.flat(), b.flat()
    cos = float(va @ vb / (va.norm() * vb.norm()).clamp_min(1e-300))
    rel = float((va - vb).norm() / vb.norm().clamp_min(1e-300))
    summary = dict(group="all", size=int(va.numel()), cosine=cos, rel_l2=rel)
    return pd.concat([merged, pd.DataFrame([summary])], ignore_index=True)


# --- on an objective: the x block of f_idx at its live point ---------------------------------------------------


def live_point(objective) -> tuple[Tensor, Tensor]:
    """(x, y) to perturb in place: a model objective's live buffers (its weights), else a fresh initial point."""
    from ..objectives.base import is_model_objective

    if is_model_objective(objective):
        return objective.x, objective.y
    x, y = objective.initial_point()
    if x.dim() != 1:
        raise ValueError("forward-only estimates need one flat point (no batch dimension)")
    return x, y


def x_groups(objective) -> dict[str, tuple[int, slice]] | None:
    """One group per weight tensor of a model's x block (its flat layout), None for a synthetic problem."""
    layout = getattr(objective, "x_layout", None)
    return None if layout is None else flat_groups(layout.slices())


def forward_only_table(objective, *, idx: int | None = 0, mu: float = 1e-3, n_dirs: int = 16, seed: int = 0):
    """(summary, groups): the block trace tr(H_xx) of f_idx by second differences and by the HiZOO diagonal
    (its sum), both with stderr and tr/d_x, from one forward-only pass; and the HiZOO per-group table."""
    x, y = live_point(objective)
    acc = DiagonalAccumulator([x], x_groups(objective), entrywise=False)
    run = forward_probes([x], lambda: objective.loss(x, y, idx), mu=mu, n_dirs=n_dirs, seed=seed, hooks=[acc.hook])
    diag = acc.result("hizoo")
    hizoo_trace = [sum(r) for r in acc.group_samples]
    rows = [trace_row(run), mean_row(hizoo_trace, method="hizoo-diagonal-sum", mu=mu, forwards=0, seconds=0.0)]
    for r in rows:
        r.update(quantity="tr(H_xx)", d_x=int(x.numel()), per_entry=r["estimate"] / x.numel())
    return pd.DataFrame(rows), diag.groups
