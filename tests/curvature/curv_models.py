"""Small objectives with known Hessians for the curvature tests.

* ``TinyAttentionObjective``: a one-layer attention + MLP block (a few hundred float64 parameters) called
  through ``torch.func.functional_call`` over a flat parameter vector split into x (base weights) and
  y (a low-rank adapter on the query map plus the head), on minibatches of unequal size.
* ``LogisticObjective``: logistic regression whose Hessian is X^T D X / n in closed form.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.func import functional_call

from hybridsmooth.objectives.base import FiniteSum, GradientsFromLoss, broadcast_blocks

DT = torch.float64


def named_views(flat, names, shapes) -> dict:
    """The named parameters as views of consecutive slices of a flat vector, in the order of ``names``."""
    out, off = {}, 0
    for n in names:
        k = math.prod(shapes[n])
        out[n] = flat[off : off + k].view(shapes[n])
        off += k
    return out


def autograd_block_grads(loss, x, y):
    """(grad_x, grad_y) of loss(x, y) by autograd on detached copies, whatever the caller's grad mode."""
    with torch.enable_grad():
        xr, yr = x.detach().requires_grad_(True), y.detach().requires_grad_(True)
        return torch.autograd.grad(loss(xr, yr), (xr, yr))


class TinyBlock(nn.Module):
    """Single-head self-attention with a LoRA-style query adapter, a tanh-GELU MLP, mean pooling, a linear head."""

    def __init__(self, dim: int = 6, hidden: int = 8, rank: int = 2, dropout: float = 0.0):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(dim, dim, bias=False) for _ in range(4))
        self.up, self.down = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.lora_a = nn.Parameter(torch.randn(rank, dim) * 0.3)
        self.lora_b = nn.Parameter(torch.randn(dim, rank) * 0.3)
        self.head = nn.Linear(dim, 1)
        self.dropout = dropout

    def forward(self, h):  # h: (batch, tokens, dim)
        q = self.q(h) + h @ self.lora_a.T @ self.lora_b.T
        att = torch.softmax(q @ self.k(h).transpose(-1, -2) / math.sqrt(h.shape[-1]), dim=-1)
        h = h + self.o(att @ self.v(h))
        h = h + self.down(nn.functional.gelu(self.up(h), approximate="tanh"))
        if self.dropout:
            h = nn.functional.dropout(h, p=self.dropout, training=True)
        return self.head(h.mean(dim=1)).squeeze(-1)


class TinyAttentionObjective(GradientsFromLoss):
    """f_i = mean squared error over minibatch i; f = sum_i (|B_i| / N) f_i (the mean over all N examples)."""

    name = "tiny-attention"

    def __init__(self, *, batch_sizes=(4, 4, 3), tokens: int = 3, dim: int = 6, seed: int = 0, dropout: float = 0.0):
        g = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)  # nn.Linear init only; the curvature code never reads the global RNG
        self.module = TinyBlock(dim=dim, dropout=dropout).to(DT)
        names = [n for n, _ in self.module.named_parameters()]
        self.y_names = [n for n in names if n.startswith(("lora_", "head"))]
        self.x_names = [n for n in names if n not in self.y_names]
        params = dict(self.module.named_parameters())
        self.shapes = {n: p.shape for n, p in params.items()}
        self._x0 = torch.cat([params[n].detach().reshape(-1) for n in self.x_names])
        self._y0 = torch.cat([params[n].detach().reshape(-1) for n in self.y_names])
        self.d_x, self.d_y = self._x0.numel(), self._y0.numel()
        total = sum(batch_sizes)
        inputs = torch.randn(total, tokens, dim, generator=g, dtype=DT)
        targets = torch.randn(total, generator=g, dtype=DT)
        self.inputs, self.targets = inputs, targets
        bounds = torch.cumsum(torch.tensor((0,) + tuple(batch_sizes)), 0).tolist()
        self.batches = [(inputs[a:b], targets[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        self.n = len(self.batches)
        self.weights = torch.tensor([s / total for s in batch_sizes], dtype=DT)
        self.dtype, self.device = DT, torch.device("cpu")

    def _params(self, x, y):
        return {**named_views(x, self.x_names, self.shapes), **named_views(y, self.y_names, self.shapes)}

    def loss(self, x, y, idx=None):
        inp, tgt = (self.inputs, self.targets) if idx is None else self.batches[idx]
        pred = functional_call(self.module, self._params(x, y), (inp,))
        return ((pred - tgt) ** 2).mean()

    def _grad(self, x, y, idx=None):
        return autograd_block_grads(lambda xr, yr: self.loss(xr, yr, idx), x, y)

    def initial_point(self, batch=None):
        return self._x0.clone(), self._y0.clone()

    def dense_hessian(self, idx=None):
        z0 = torch.cat([self._x0, self._y0])
        return torch.autograd.functional.hessian(
            lambda z: self.loss(z[: self.d_x], z[self.d_x :], idx), z0, vectorize=True
        )


class LogisticObjective(FiniteSum):
    """f_i(z) = log(1 + exp(-t_i a_i^T z)); grad^2 f = (1/n) sum_i s_i (1 - s_i) a_i a_i^T,
    s_i = sigmoid(t_i a_i^T z)."""

    name = "logistic"

    def __init__(self, *, n: int = 40, d_x: int = 12, d_y: int = 5, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.A = torch.randn(n, d_x + d_y, generator=g, dtype=DT)
        self.t = torch.where(torch.rand(n, generator=g, dtype=DT) < 0.5, -1.0, 1.0).to(DT)
        x0 = 0.3 * torch.randn(d_x, generator=g, dtype=DT)
        y0 = 0.3 * torch.randn(d_y, generator=g, dtype=DT)
        super().__init__(n=n, d_x=d_x, d_y=d_y, x0=x0, y0=y0)

    def _sample_losses(self, x, y):
        z = torch.cat(broadcast_blocks(x, y), dim=-1)
        return nn.functional.softplus(-(z @ self.A.T) * self.t)

    def exact_hessian(self, x, y, idx=None):
        z = torch.cat([x, y])
        s = torch.sigmoid(self.t * (self.A @ z))
        w = s * (1 - s)
        if idx is not None:
            return w[idx] * torch.outer(self.A[idx], self.A[idx])
        return (self.A.T * w) @ self.A / self.n
