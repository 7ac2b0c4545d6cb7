"""Forward-only curvature (curvature.forward_only): ground truth on quadratics first, then the live-weight
contract (bitwise restore, no graph), the `estimate --forward-only` command and the zo_view figure."""

import json
import math

import pytest
import torch
from torch import nn

from hybridsmooth.cli import main
from hybridsmooth.curvature.forward_only import (
    compare_diagonals,
    forward_probes,
    forward_trace,
    hizoo_diagonal,
    hutchinson_hvp,
)
from hybridsmooth.zo.inplace import noise

TINY = "llm:model=tiny-llama,adapter=lora,n_train=2,n_dev=1,n_test=1,batch_size=2,max_length=8"


def _quadratic(spectrum, seed=0, diagonal=False):
    """(x, A, loss closure) for f(x) = x^T A x / 2 + b^T x with eigenvalues ``spectrum``."""
    g = torch.Generator().manual_seed(seed)
    d = len(spectrum)
    lam = torch.tensor(spectrum, dtype=torch.float64)
    Q = torch.eye(d, dtype=torch.float64) if diagonal else torch.linalg.qr(torch.randn(d, d, generator=g).double())[0]
    A = Q @ torch.diag(lam) @ Q.T
    b = torch.randn(d, generator=g, dtype=torch.float64)
    x = torch.randn(d, generator=g, dtype=torch.float64)
    return x, A, lambda: 0.5 * x @ A @ x + b @ x


@pytest.mark.parametrize("mu", [1e-2, 1.0, 10.0])
def test_second_difference_is_exactly_uAu_on_a_quadratic(mu):
    x, A, loss = _quadratic([5.0, 2.0, 1.0, 0.5, -0.3, 0.0])
    run = forward_probes([x], loss, mu=mu, n_dirs=8, seed=3)
    gen = torch.Generator().manual_seed(3)
    for s in run.table.second_diff:
        (u,) = noise([x], form="central", generator=gen)
        assert s == pytest.approx(float(u @ A @ u), rel=1e-7, abs=1e-7)


def test_trace_mean_within_its_standard_error():
    spectrum = [10.0, 4.0, 2.0, 1.0, 1.0, 0.5, 0.1, -0.2]
    x, A, loss = _quadratic(spectrum, seed=1)
    n = 3000
    row = forward_trace([x], loss, mu=0.1, n_dirs=n, seed=7).iloc[0]
    assert abs(row.estimate - sum(spectrum)) <= 4 * row.stderr
    # Var(u^T A u) = 2 tr(A^2) for Gaussian u: the reported error is the right size
    assert row.stderr == pytest.approx(math.sqrt(2 * sum(v * v for v in spectrum) / n), rel=0.15)
    assert row.forwards == 1 + 2 * n
    # the same values give tr(A^2) = Var(s)/2 (E[(u^T A u)^2] = (tr A)^2 + 2 tr(A^2))
    assert row.tr_H2 == pytest.approx(sum(v * v for v in spectrum), rel=0.15)


def test_hizoo_diagonal_matches_the_true_diagonal():
    spectrum = [6.0, 3.0, 1.0, 0.5, -1.0]
    x, A, loss = _quadratic(spectrum, diagonal=True)
    est = hizoo_diagonal([x], loss, mu=0.5, n_dirs=6000, seed=2)
    mean, se = est.mean[0], est.stderr[0]
    assert torch.all((mean - torch.tensor(spectrum, dtype=torch.float64)).abs() <= 4.5 * se)
    # the one group (the tensor) sums the diagonal: its trace, with its own error
    g = est.groups.iloc[0]
    assert abs(g.estimate - sum(spectrum)) <= 4.5 * g.stderr and g["size"] == len(spectrum)


def test_hutchinson_diagonal_is_exact_for_a_diagonal_matrix_and_comparable():
    spectrum = [6.0, 3.0, 1.0, 0.5, -1.0]
    x, A, loss = _quadratic(spectrum, diagonal=True)
    row, hut = hutchinson_hvp(lambda z: A @ z, x, n_probes=4, seed=0)
    # Rademacher z: z * (A z) = diag(A) exactly when A is diagonal
    assert torch.equal(hut.mean[0], torch.tensor(spectrum, dtype=torch.float64)) and row["stderr"] == 0
    assert row["tr_H2"] == pytest.approx(sum(v * v for v in spectrum), rel=1e-12)
    hz = hizoo_diagonal([x], loss, mu=0.5, n_dirs=4000, seed=2)
    cmp = compare_diagonals(hz, hut)
    assert cmp.iloc[-1].group == "all" and cmp.iloc[-1].cosine > 0.95


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 1))
        self.data = torch.randn(9, 5)

    def forward(self):
        return self.lin(self.data).pow(2).mean()


def test_live_weights_come_back_bitwise_and_no_graph_is_built():
    net = _Net()
    params = list(net.parameters())
    before = [p.detach().clone() for p in params]
    seen = []

    def loss():
        seen.append(torch.is_grad_enabled())
        out = net()
        assert not out.requires_grad
        return out

    est = hizoo_diagonal(params, loss, mu=1e-2, n_dirs=5, seed=0)
    assert seen and not any(seen)
    assert all(torch.equal(p, b) for p, b in zip(params, before))
    assert all(p.grad is None for p in params)
    assert len(est.groups) == len(params)

    def failing_hook(*_):
        raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        forward_probes(params, loss, mu=1e-1, n_dirs=3, seed=1, hooks=[failing_hook])
    assert all(torch.equal(p, b) for p, b in zip(params, before))


def test_estimate_forward_only_prints_a_table_on_a_tiny_model(capsys):
    assert main(["estimate", TINY, "--forward-only", "--directions", "4", "--idx", "0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "forward-only curvature of H_xx" in out
    assert "second-difference" in out and "hizoo-diagonal-sum" in out and "stderr" in out


def test_zo_view_quick_mode_runs_and_plots(tmp_path):
    from hybridsmooth.experiments import zo_view

    cfg = {**zo_view.ZO_VIEW_QUICK, "models": ["tiny-llama"], "qs": [1, 2], "reps": 2, "probes": 2, "steps": 1}
    cfg["max_length"] = 8
    zo_view.run_zo_view(cfg, tmp_path)
    png = tmp_path / "zo_view.png"
    zo_view.plot_zo_view(tmp_path, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # what wrote the tables, beside the config: a rerun elsewhere can tell why its last bits differ
    env = json.loads((tmp_path / "environment.json").read_text())
    assert env["threads"] == torch.get_num_threads() and env["cpu"] and env["torch_version"] == torch.__version__
    assert "threads" not in json.loads((tmp_path / "config.json").read_text())  # not part of figures' reuse check


def test_the_short_hybrid_run_records_its_zo_losses_and_repeats_bitwise():
    from hybridsmooth.experiments import zo_view

    cfg = {**zo_view.ZO_VIEW_QUICK, "models": ["tiny-llama"], "steps": 3}
    ends = []
    for _ in range(2):
        obj = zo_view._objective(cfg, "tiny-llama", "prompt")
        table = zo_view.short_hybrid_run(obj, cfg)
        ends.append((table, obj.x.clone(), obj.y.clone()))
    table = ends[0][0]
    assert list(table.step) == [0, 1, 2] and table[["loss_plus", "loss_minus"]].gt(0).all().all()
    # phi is the central difference of the two recorded losses
    assert torch.allclose(
        torch.tensor(table.phi.to_numpy()),
        torch.tensor(((table.loss_plus - table.loss_minus) / (2 * cfg["mu"])).to_numpy()),
        rtol=1e-4,
    )
    assert ends[0][0].equals(ends[1][0]) and torch.equal(ends[0][1], ends[1][1]) and torch.equal(ends[0][2], ends[1][2])
