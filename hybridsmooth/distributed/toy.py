"""A tiny regression problem for the distributed steps: an MLP (the base weights x) with a LoRA adapter
(y) on its middle layer, its data, and how the data is split over ranks.

The base layers are separate modules that the forward calls as modules, so FSDP2 can shard each one
(``fully_shard`` hooks run on a module call) while the adapter stays a plain, replicated parameter.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..objectives.module import ModuleObjective

Batch = tuple[Tensor, Tensor]


class LoRAMLP(nn.Module):
    """out = W3 tanh(W2 h + B A h + b2) + b3, h = tanh(W1 in + b1); x = base.*, y = lora_a, lora_b."""

    def __init__(self, d_in: int = 6, hidden: int = 10, d_out: int = 3, rank: int = 2, *, seed: int = 0, dtype=None):
        super().__init__()
        dtype = dtype or torch.float64
        self.base = nn.Sequential(
            nn.Linear(d_in, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh(), nn.Linear(hidden, d_out)
        ).to(dtype)
        self.lora_a = nn.Parameter(torch.empty(rank, hidden, dtype=dtype))
        self.lora_b = nn.Parameter(torch.empty(hidden, rank, dtype=dtype))
        # our own generator: the same seed gives the same weights in every process, whatever ran before
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64) / p.shape[-1] ** 0.5)

    def forward(self, inputs: Tensor) -> Tensor:
        h = self.base[1](self.base[0](inputs))
        h = self.base[3](self.base[2](h) + h @ self.lora_a.T @ self.lora_b.T)
        return self.base[4](h)


def is_base(name: str) -> bool:
    return name.startswith("base.")


def is_adapter(name: str) -> bool:
    return name.startswith("lora_")


def mse(call, batch: Batch) -> Tensor:
    """Mean squared error over a batch: every example has the same number of outputs, so the mean over a
    union of batches is the batch-size-weighted mean of their means."""
    inputs, targets = batch
    return (call(inputs) - targets).pow(2).mean()


def toy_data(n_examples: int, *, d_in: int = 6, d_out: int = 3, seed: int = 1, dtype=torch.float64) -> Batch:
    """Inputs and targets of a smooth teacher plus noise (a loss that stays well above zero)."""
    g = torch.Generator().manual_seed(seed)
    inputs = torch.randn(n_examples, d_in, generator=g, dtype=torch.float64)
    teacher = torch.randn(d_in, d_out, generator=g, dtype=torch.float64)
    targets = torch.sin(inputs @ teacher) + 0.1 * torch.randn(n_examples, d_out, generator=g, dtype=torch.float64)
    return inputs.to(dtype), targets.to(dtype)


def rank_slice(n: int, rank: int, world: int) -> slice:
    """Rank ``rank``'s contiguous part of n examples (sizes differ by at most one, earlier ranks larger)."""
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return slice(start, start + base + (rank < extra))


def split_batches(batches: list[Batch], rank: int, world: int) -> list[Batch]:
    """Each minibatch cut to this rank's share: the ranks together hold exactly the union."""
    return [tuple(t[rank_slice(len(b[0]), rank, world)] for t in b) for b in batches]


def minibatches(data: Batch, n: int) -> list[Batch]:
    """The data cut into n consecutive minibatches."""
    return [tuple(t[s] for t in data) for s in (rank_slice(len(data[0]), i, n) for i in range(n))]


def toy_objective(batches: list[Batch], *, seed: int = 0, dtype=torch.float64, **model_kw) -> ModuleObjective:
    """The model as a ModuleObjective (x = base weights, y = adapter) over ``batches``."""
    model = LoRAMLP(seed=seed, dtype=dtype, **model_kw)
    return ModuleObjective(model, batches, mse, is_x=is_base, is_y=is_adapter, name="lora-mlp")
