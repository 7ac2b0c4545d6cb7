"""Small model objectives for the outside-oracle tests: classifiers with an adapter, and model-shaped
objectives whose Hessians are known in closed form."""

from __future__ import annotations

import torch
from torch import nn

from hybridsmooth.objectives.llm import cross_entropy_loss
from hybridsmooth.objectives.module import ModuleObjective


class AdaptedClassifier(nn.Module):
    """tanh MLP 5 -> 6 -> 3 with a rank-2 adapter on the first layer; x = the MLP, y = the adapter."""

    def __init__(self, features: int = 5, hidden: int = 6, classes: int = 3, rank: int = 2):
        super().__init__()
        self.first, self.second = nn.Linear(features, hidden), nn.Linear(hidden, classes)
        self.adapter_a = nn.Parameter(torch.randn(rank, features) * 0.5)
        self.adapter_b = nn.Parameter(torch.randn(hidden, rank) * 0.5)

    def forward(self, inputs):
        h = self.first(inputs) + inputs @ self.adapter_a.T @ self.adapter_b.T
        return self.second(torch.tanh(h))


def scores(call, batch):
    return call(batch["inputs"])


def classifier_objective(dtype=torch.float64, examples: int = 12, seed: int = 0) -> ModuleObjective:
    """An AdaptedClassifier on random data as a ModuleObjective with a ``scores_fn`` (one minibatch)."""
    torch.manual_seed(seed)
    model = AdaptedClassifier().to(dtype)
    g = torch.Generator().manual_seed(seed + 1)
    batch = {
        "inputs": torch.randn(examples, 5, generator=g, dtype=dtype),
        "labels": torch.randint(0, 3, (examples,), generator=g),
    }
    obj = ModuleObjective(
        model,
        [batch],
        cross_entropy_loss(scores),
        is_x=lambda name: not name.startswith("adapter"),
        is_y=lambda name: name.startswith("adapter"),
        name="adapted-classifier",
    )
    obj.scores_fn = scores
    return obj


# --- closed forms: x = the weight matrix, y = the bias ----------------------------------------------------
def model_objective(model: nn.Module, batch: dict, loss) -> ModuleObjective:
    return ModuleObjective(
        model, [batch], loss, is_x=lambda n: n.endswith("weight"), is_y=lambda n: n.endswith("bias"), name="closed"
    )


def linear_regression(n: int = 9, features: int = 4, outputs: int = 2, seed: int = 0):
    """f = mean over examples of ||W a + b - t||^2: H = (2/N) I_outputs (x) [a 1]^T [a 1], in (W row-major, b)
    order, i.e. the Kronecker blocks of [W; b] reordered."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, features, generator=g, dtype=torch.float64)
    T = torch.randn(n, outputs, generator=g, dtype=torch.float64)
    model = nn.Linear(features, outputs).to(torch.float64)

    def loss(call, batch):
        return ((call(batch["inputs"]) - batch["targets"]) ** 2).sum(dim=1).mean()

    obj = model_objective(model, {"inputs": A, "targets": T}, loss)
    ones = torch.ones(n, 1, dtype=torch.float64)
    M = torch.cat([A, ones], dim=1)
    joint = (2.0 / n) * torch.kron(torch.eye(outputs, dtype=torch.float64), M.T @ M)
    return obj, _reorder_weight_bias(joint, outputs, features)


def logistic_regression(n: int = 10, features: int = 4, seed: int = 0):
    """f = mean BCE(sigmoid(w.a + b), t): H = (1/N) [a 1]^T D [a 1], D = diag(p (1 - p))."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, features, generator=g, dtype=torch.float64)
    t = (torch.rand(n, generator=g, dtype=torch.float64) > 0.5).to(torch.float64)
    model = nn.Linear(features, 1).to(torch.float64)

    def loss(call, batch):
        return nn.functional.binary_cross_entropy_with_logits(call(batch["inputs"]).squeeze(-1), batch["targets"])

    obj = model_objective(model, {"inputs": A, "targets": t}, loss)
    with torch.no_grad():
        p = torch.sigmoid(model(A).squeeze(-1))
    M = torch.cat([A, torch.ones(n, 1, dtype=torch.float64)], dim=1)
    return obj, M.T @ torch.diag(p * (1 - p)) @ M / n


def softmax_regression(n: int = 10, features: int = 3, classes: int = 3, seed: int = 0):
    """f = mean CE(softmax(W a + b), t): H = (1/N) sum_i (diag(p_i) - p_i p_i^T) (x) [a_i 1][a_i 1]^T."""
    g = torch.Generator().manual_seed(seed)
    A = torch.randn(n, features, generator=g, dtype=torch.float64)
    t = torch.randint(0, classes, (n,), generator=g)
    model = nn.Linear(features, classes).to(torch.float64)

    def loss(call, batch):
        return nn.functional.cross_entropy(call(batch["inputs"]), batch["targets"])

    obj = model_objective(model, {"inputs": A, "targets": t}, loss)
    with torch.no_grad():
        P = torch.softmax(model(A), dim=1)
    M = torch.cat([A, torch.ones(n, 1, dtype=torch.float64)], dim=1)
    joint = sum(torch.kron(torch.diag(p) - torch.outer(p, p), torch.outer(m, m)) for p, m in zip(P, M)) / n
    return obj, _reorder_weight_bias(joint, classes, features)


def _reorder_weight_bias(joint: torch.Tensor, rows: int, features: int) -> torch.Tensor:
    """A Hessian in the order (row 0: w_0.., b_0; row 1: ...) -> the objective's order (W row-major, then b)."""
    width = features + 1
    weight = [r * width + j for r in range(rows) for j in range(features)]
    bias = [r * width + features for r in range(rows)]
    order = torch.tensor(weight + bias)
    return joint[order][:, order]
