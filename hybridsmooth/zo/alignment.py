"""How well a ZO estimate points along the backprop gradient of the same minibatch (THEORY 4.3).

For q Gaussian directions the central estimate g_q = (1/q) sum_j phi_j u_j has, on a linear (or quadratic)
function, E g_q = grad and E||g_q - grad||^2 / ||grad||^2 = (d + 1) / q exactly (Cov = (||g||^2 I + g g^T)/q).
This module measures, for a list of q, the cosine cos(g_q, grad) and the relative error ||g_q - grad||^2 /
||grad||^2 with their standard errors.

The directions are shared across q: one pass draws n = reps * max(q) directions (two forwards each, see
``curvature.forward_only.forward_probes``) and each q cuts them into n / q consecutive groups, one estimate
per group. So q = 1 gets n samples and q = max(q) gets ``reps``; the groups of one q are independent, the
levels are not (they reuse the same directions, which is what makes the comparison across q cheap).
``cos_ref`` = 1 / sqrt(1 + (d + 1)/q) is the cosine the expectations give for large q on a linear function
(a ratio of expectations, not E cos: at q = 1 E cos is about sqrt(2/pi) of it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch
from torch import Tensor

from .estimators import check_q


def _dot(a: Sequence[Tensor], b: Sequence[Tensor]) -> float:
    return sum(float(torch.dot(ai.reshape(-1).double(), bi.reshape(-1).double())) for ai, bi in zip(a, b))


class AlignmentAccumulator:
    """Builds g_q group by group from (u_j, phi_j) and records cos and relative error when a group is full;
    memory: one running estimate per q (a copy of the block each)."""

    def __init__(self, grad: Sequence[Tensor], qs: Sequence[int]):
        self.grad = [g.detach() for g in grad]
        self.qs = sorted({check_q(q) for q in qs})
        self.grad_sq = _dot(self.grad, self.grad)
        if not self.grad_sq > 0:
            raise ValueError("the backprop gradient is zero: cosine and relative error are undefined")
        self.running = {q: [torch.zeros_like(g) for g in self.grad] for q in self.qs}
        self.count = {q: 0 for q in self.qs}
        self.samples: list[dict] = []

    @property
    def d(self) -> int:
        return sum(g.numel() for g in self.grad)

    def hook(self, j: int, u: list[Tensor], phi: float, s: float) -> None:
        for q in self.qs:
            for acc, ui in zip(self.running[q], u):
                acc.add_(ui.to(acc.dtype), alpha=phi / q)
            self.count[q] += 1
            if self.count[q] % q == 0:
                self._close(q)

    def _close(self, q: int) -> None:
        est = self.running[q]
        # ||g - grad||^2 = ||g||^2 - 2 <g, grad> + ||grad||^2, without a third copy of the block
        ee, eg = _dot(est, est), _dot(est, self.grad)
        cos = eg / math.sqrt(max(ee * self.grad_sq, 1e-300))
        rel = (ee - 2 * eg + self.grad_sq) / self.grad_sq
        self.samples.append(dict(q=q, group=self.count[q] // q - 1, cos=cos, rel_err=rel))
        for acc in est:
            acc.zero_()

    def table(self) -> pd.DataFrame:
        """One row per q: groups, cos and rel_err (means) with stderr, theory (d + 1)/q, ratio, cos_ref."""
        per = pd.DataFrame(self.samples, columns=["q", "group", "cos", "rel_err"])
        rows = []
        for q in self.qs:
            s = per[per.q == q]
            n = len(s)
            se = lambda c: float(s[c].std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")  # noqa: E731
            theory = (self.d + 1) / q
            rows.append(
                dict(
                    q=q,
                    groups=n,
                    cos=float(s.cos.mean()) if n else float("nan"),
                    cos_se=se("cos"),
                    cos_ref=1.0 / math.sqrt(1.0 + theory),
                    rel_err=float(s.rel_err.mean()) if n else float("nan"),
                    rel_err_se=se("rel_err"),
                    theory=theory,
                    ratio=float(s.rel_err.mean()) / theory if n else float("nan"),
                )
            )
        return pd.DataFrame(rows)


def zo_alignment(
    params: Sequence[Tensor],
    loss,
    grad: Sequence[Tensor],
    *,
    qs: Sequence[int] = (1, 4, 16, 64),
    reps: int = 1,
    mu: float = 1e-3,
    seed: int = 0,
    extra_hooks: Sequence = (),
) -> pd.DataFrame:
    """The alignment table of ``AlignmentAccumulator`` for the central ZO estimate of the block ``params``
    (perturbed in place, restored bitwise) against ``grad`` (same shapes), on reps * max(qs) directions.
    ``extra_hooks`` share the pass (e.g. the forward-only trace and diagonal)."""
    from ..curvature.forward_only import forward_probes  # the curvature package imports zo: import on use

    acc = AlignmentAccumulator(grad, qs)
    n = check_q(reps) * max(acc.qs)
    forward_probes(params, loss, mu=mu, n_dirs=n, seed=seed, hooks=[acc.hook, *extra_hooks])
    return acc.table()
