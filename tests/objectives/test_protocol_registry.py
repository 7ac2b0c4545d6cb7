"""The Objective protocol on every registered problem, each built from its registry ``example`` spec.

The cases are read from the registry, so a new problem is tested as soon as it has a row there. Gradients are
checked against central finite differences of the loss (the examples are float64), constant Hessians against
finite differences of the gradient, and closed-form constants against the Hessian they describe.
"""

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hybridsmooth.objectives import Objective
from hybridsmooth.objectives.registry import REGISTRY, describe_problems, make_problem, parse_spec

# model problems load a (tiny) transformer: several seconds, once per module
CASES = [pytest.param(name, marks=pytest.mark.llm) if name == "llm" else name for name in sorted(REGISTRY)]
OBJECTIVES_DIR = Path(__file__).resolve().parents[2] / "hybridsmooth" / "objectives"


@pytest.fixture(scope="module", params=CASES)
def problem(request):
    return make_problem(REGISTRY[request.param].example)


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _point(obj: Objective) -> tuple[torch.Tensor, torch.Tensor]:
    """The initial point moved by about 0.01 in a random direction: not a point the builder chose."""
    x, y = obj.initial_point()
    g = _generator(1)
    scale = 0.01 / max(1, obj.d_x + obj.d_y) ** 0.5
    return (
        x + scale * torch.randn(x.shape, generator=g, dtype=x.dtype),
        y + scale * torch.randn(y.shape, generator=g, dtype=y.dtype),
    )


def _unit_directions(obj: Objective, count: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = _generator(2)
    out = []
    for _ in range(count):
        u = torch.randn(obj.d_x + obj.d_y, generator=g, dtype=obj.dtype)
        u = u / u.norm()
        out.append((u[: obj.d_x], u[obj.d_x :]))
    return out


def _close(a, b, *, rtol=1e-7, atol=1e-9):
    torch.testing.assert_close(a, b, rtol=rtol, atol=atol)


# --- the protocol ---------------------------------------------------------------------------------------


def test_is_an_objective_with_the_protocol_attributes(problem):
    assert isinstance(problem, Objective)
    name, _ = parse_spec(problem.spec)
    assert problem.spec == REGISTRY[name].example
    assert problem.weights.shape == (problem.n,)
    assert float(problem.weights.sum()) == pytest.approx(1.0, rel=1e-12)
    assert bool((problem.weights > 0).all())
    assert isinstance(problem.batched, bool)
    x, y = problem.initial_point()
    assert x.shape == (problem.d_x,) and y.shape == (problem.d_y,)
    assert x.dtype == y.dtype == problem.dtype == torch.float64


def test_loss_is_finite_at_the_initial_point(problem):
    value = problem.loss(*problem.initial_point())
    assert value.shape == ()
    assert torch.isfinite(value)


def test_grad_matches_central_differences_of_the_loss(problem):
    x, y = _point(problem)
    gx, gy = problem.grad(x, y, blocks="xy")
    assert gx.shape == x.shape and gy.shape == y.shape
    # a model's float64 loss is good to about 1e-10 only (some steps of its forward pass are not float64):
    # a step of 1e-5 turns that into slopes off by a few percent, a step of 1e-3 into 1e-3
    h, rel = (1e-5, 1e-5) if problem.batched else (1e-3, 1e-2)
    for ux, uy in _unit_directions(problem, 3):
        slope = float(problem.loss(x + h * ux, y + h * uy) - problem.loss(x - h * ux, y - h * uy)) / (2 * h)
        exact = float(gx @ ux + gy @ uy)
        assert slope == pytest.approx(exact, rel=rel, abs=1e-7)


def test_one_block_grad_returns_only_that_block(problem):
    x, y = _point(problem)
    gx, gy = problem.grad(x, y, blocks="xy")
    only_x = problem.grad(x, y, blocks="x")
    only_y = problem.grad(x, y, blocks="y")
    assert only_x[1] is None and only_y[0] is None
    _close(only_x[0], gx)
    _close(only_y[1], gy)


def test_value_and_grad_agrees_with_loss_and_grad(problem):
    x, y = _point(problem)
    value = problem.loss(x, y)
    gx, gy = problem.grad(x, y)
    for blocks in ("xy", "x", "y"):
        v, vx, vy = problem.value_and_grad(x, y, blocks=blocks)
        _close(v, value)
        assert (vx is None) == ("x" not in blocks) and (vy is None) == ("y" not in blocks)
        if vx is not None:
            _close(vx, gx)
        if vy is not None:
            _close(vy, gy)


def _hessian_by_differences(obj: Objective, x: torch.Tensor, y: torch.Tensor, h: float = 1e-5) -> torch.Tensor:
    """Columns (grad(z + h e_j) - grad(z - h e_j)) / 2h, symmetrised."""
    z = torch.cat([x, y])
    cols = []
    for j in range(z.numel()):
        e = torch.zeros_like(z)
        e[j] = h
        plus, minus = obj.grad((z + e)[: obj.d_x], (z + e)[obj.d_x :]), obj.grad((z - e)[: obj.d_x], (z - e)[obj.d_x :])
        cols.append((torch.cat(plus) - torch.cat(minus)) / (2 * h))
    H = torch.stack(cols, dim=1)
    return (H + H.T) / 2


def test_constant_hessian_is_none_or_the_hessian(problem):
    H = problem.constant_hessian()
    if H is None:
        return
    d = problem.d_x + problem.d_y
    assert H.shape == (d, d)
    for x, y in (problem.initial_point(), _point(problem)):
        _close(_hessian_by_differences(problem, x, y), H, rtol=1e-6, atol=1e-6)


def test_a_batch_of_points_gives_the_points_evaluated_alone(problem):
    if not problem.batched:
        pytest.skip("unbatched: the weights live in one model")
    x0, y0 = _point(problem)
    g = _generator(3)
    x = x0 + torch.randn((3, problem.d_x), generator=g, dtype=x0.dtype)
    y = y0 + torch.randn((3, problem.d_y), generator=g, dtype=y0.dtype)
    losses = problem.loss(x, y)
    gx, gy = problem.grad(x, y)
    assert losses.shape == (3,) and gx.shape == x.shape and gy.shape == y.shape
    for s in range(3):
        _close(losses[s], problem.loss(x[s], y[s]))
        ax, ay = problem.grad(x[s], y[s])
        _close(gx[s], ax)
        _close(gy[s], ay)


def test_weighted_sample_losses_and_grads_sum_to_the_full_ones(problem):
    x, y = _point(problem)
    value, gx, gy = problem.value_and_grad(x, y)
    parts = [problem.value_and_grad(x, y, i) for i in range(problem.n)]
    w = problem.weights.to(problem.dtype)
    _close(sum(float(w[i]) * parts[i][0] for i in range(problem.n)), value)
    _close(sum(float(w[i]) * parts[i][1] for i in range(problem.n)), gx)
    _close(sum(float(w[i]) * parts[i][2] for i in range(problem.n)), gy)


def test_closed_form_constants_are_the_block_norms_of_a_constant_hessian(problem):
    H, c = problem.constant_hessian(), problem.constants
    if H is None:
        pytest.skip("no constant Hessian to compare the constants with")
    dx = problem.d_x
    blocks = {"L_x": H[:dx, :dx], "L_y": H[dx:, dx:], "L_xy": H[:dx, dx:]}
    for name, block in blocks.items():
        value = getattr(c, name)
        if value is not None:
            norm = float(torch.linalg.matrix_norm(block, 2)) if block.numel() else 0.0
            assert value == pytest.approx(norm, rel=1e-10, abs=1e-12), name


# --- the table itself -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_listed_defaults_are_the_builder_signature_defaults(name):
    entry = REGISTRY[name]
    params = inspect.signature(entry.build).parameters
    for key, default in entry.defaults.items():
        assert params[key].kind is inspect.Parameter.KEYWORD_ONLY and params[key].default == default, key
    # what the builder takes besides the keys: the spec string, and keywords a spec cannot express
    left_out = {k: p.default for k, p in params.items() if k not in entry.defaults}
    assert set(left_out) - {"spec"} <= {"dtype"}, left_out
    assert all(not isinstance(v, str) for k, v in left_out.items() if k == "dtype")
    listed = f"{name}:" + ",".join(f"{k}={params[k].default}" for k in entry.defaults)
    assert listed in describe_problems().splitlines()


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_rules_name_keys_and_the_example_parses(name):
    entry = REGISTRY[name]
    assert set(entry.rules) <= set(entry.defaults)
    assert parse_spec(entry.example)[0] == name
    assert entry.summary and "\n" not in entry.summary


def test_importing_the_registry_loads_no_model_library():
    code = (
        "import sys, hybridsmooth.objectives.registry; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('transformers', 'peft', 'gguf')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_no_problem_module_imports_the_registry():
    """The table imports the problem modules, never the reverse: no import cycle, no registration at import."""
    for path in sorted(OBJECTIVES_DIR.glob("*.py")):
        if path.name == "registry.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [getattr(node, "module", None) or ""] + [a.name for a in node.names]
                assert not any(n.split(".")[-1] in ("registry", "problems") for n in names), path.name
