"""Partial re-orthogonalisation for single-vector Lanczos: Simon's recurrence for the loss of orthogonality.

Full re-orthogonalisation reads the whole Krylov basis twice per product (a projection and an update). On a
block of 22.7M base weights that is 91 MB a row, and past a few rows it costs more than the product itself.
Yet Lanczos needs only *semi*-orthogonality, |q_i^T q_k| <= sqrt(eps) for i != k: then the projected matrix
T_n is, to working precision, the projection of A on an orthonormal basis, its Ritz values carry no spurious
copies, and they agree with those of full re-orthogonalisation to about eps ||A|| (Simon, "The Lanczos
algorithm with partial reorthogonalization", Math. Comp. 42, 1984). Orthogonality is lost only as Ritz
values converge, so most steps need just the three-term recurrence.

The estimates omega_{j+1,k} ~ q_{j+1}^T q_k come from the Lanczos coefficients alone (no pass over the
basis): with A q_k = beta_k q_{k+1} + alpha_k q_k + beta_{k-1} q_{k-1},

    beta_j omega_{j+1,k} = beta_k omega_{j,k+1} + (alpha_k - alpha_j) omega_{j,k} + beta_{k-1} omega_{j,k-1}
                           - beta_{j-1} omega_{j-1,k} + psi_k,

where psi_k models the rounding of one step: here eps times the largest |alpha| + 2 beta seen so far, with
the sign of the rest so that it never cancels, and ``noise`` times that where the products themselves carry
rounding error (an autograd product in float32 is not exactly symmetric). When an estimate exceeds
sqrt(eps), the new vector gets a full Gram-Schmidt pass, and so does the next one (the three-term recurrence
carries the loss of q_j into q_{j+2}); both estimates then restart at the rounding level.
"""

from __future__ import annotations

import math

import numpy as np
import torch

# the solvers re-orthogonalise partially by default from this many unknowns: the base weights of every real
# model here (22.7M for MiniLM), where a pass over the basis costs a share of a product, and never on the small
# test operators, whose numbers then stay those of full re-orthogonalisation
PARTIAL_REORTH_FROM = 1 << 20


def partial_by_default(op) -> bool:
    """Whether a solver on ``op`` re-orthogonalises partially unless told otherwise: on operators of at least
    ``PARTIAL_REORTH_FROM`` unknowns whose products are exact to rounding (the estimates model rounding
    alone; a finite-difference product carries more)."""
    return op.shape[0] >= PARTIAL_REORTH_FROM and op.exact_products


def for_operator(op) -> SemiOrthogonality:
    """The estimates for a Lanczos run on ``op``, at the rounding unit of its dtype."""
    return SemiOrthogonality(torch.finfo(op.dtype).eps)


class SemiOrthogonality:
    """The omega estimates of one Lanczos run (module docstring). ``needs_full_pass(alpha_j, beta_j)`` asks
    whether the new vector w (after its local orthogonalisation against q_j and q_{j-1}, norm beta_j) needs a
    full pass; ``record(alpha_j, beta_j, full)`` commits step j with the norm after that pass, if any."""

    def __init__(self, eps: float, noise: float = 10.0):
        if not 0 < eps < 1 or not noise >= 1:
            raise ValueError(f"need 0 < eps < 1 and noise >= 1, got {eps}, {noise}")
        self.eps, self.noise = float(eps), float(noise)
        self.level = math.sqrt(self.eps)
        self.alpha: list[float] = []
        self.beta: list[float] = []
        self.cur = np.ones(1)  # omega_{j,k}, k = 0..j (omega_{j,j} = 1)
        self.prev = np.zeros(0)  # omega_{j-1,k}, k = 0..j-1
        self.force_next = False
        self.full_passes = 0
        self._scale = 0.0
        self._pending = np.zeros(0)  # the estimates of the step ``needs_full_pass`` last asked about

    @property
    def floor(self) -> float:
        """The estimate of a vector just orthogonalised: the rounding of one pass."""
        return self.eps * self.noise

    def needs_full_pass(self, alpha_j: float, beta_j: float) -> bool:
        j = len(self.alpha)
        self._scale = max(self._scale, abs(alpha_j) + 2.0 * abs(beta_j), *(abs(b) for b in self.beta[-1:]))
        new = np.full(j + 1, self.floor)
        if j >= 2 and beta_j > 0:
            a, b = np.asarray(self.alpha), np.asarray(self.beta)
            k = np.arange(j - 1)  # q_j and q_{j-1} were removed from w explicitly: their estimates stay at the floor
            t = b[k] * self.cur[k + 1] + (a[k] - alpha_j) * self.cur[k] - b[j - 1] * self.prev[k]
            t[1:] += b[k[1:] - 1] * self.cur[k[1:] - 1]
            psi = self.eps * self.noise * self._scale
            new[: j - 1] = (t + np.where(t >= 0, psi, -psi)) / beta_j
        self._pending = new
        return self.force_next or bool(np.abs(new).max() > self.level)

    def record(self, alpha_j: float, beta_j: float, full: bool) -> None:
        """Commits step j, which ``needs_full_pass`` was asked about."""
        j = len(self.alpha)
        new = self._pending
        if full:
            self.full_passes += 1
            # a pass the estimates asked for is followed by one more; a forced one ends the pair
            self.force_next = not self.force_next and bool(np.abs(new).max() > self.level)
            new = np.full(j + 1, self.floor)
        else:
            self.force_next = False
        self.alpha.append(float(alpha_j))
        self.beta.append(float(beta_j))
        self.prev, self.cur = self.cur, np.append(new, 1.0)

    def fresh_direction(self) -> None:
        """The last new vector was replaced by a random one orthogonal to the whole basis (a closed Krylov
        space): it is orthogonal to the rounding level, and the recurrence starts anew through beta = 0."""
        self.beta[-1] = 0.0
        self.cur = np.append(np.full(len(self.cur) - 1, self.floor), 1.0)
        self.force_next = False
