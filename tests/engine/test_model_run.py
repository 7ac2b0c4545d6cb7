"""The shared training core on torch models: in-place hybrid steps, records, resume, noise modes, bf16."""

import pytest
import torch
from tiny_model_runs import hybrid, run_of, tiny

from hybridsmooth.engine.model_run import train_model
from hybridsmooth.errors import UsageError
from hybridsmooth.objectives.llm import make_llm_objective
from hybridsmooth.optim import HybridSGDConfig
from hybridsmooth.optim.hybrid_sgd import grad_y_only

pytestmark = pytest.mark.llm


def test_hybrid_step_changes_y_by_backprop_and_leaves_base_gradients_empty():
    obj = tiny()
    x0, y0 = obj.initial_point()
    cfg = hybrid()
    # the first step runs on sample order[0] of epoch 0; its exact adapter gradient at the start point
    from hybridsmooth.optim.orders import sample_orders

    i0 = int(sample_orders("rr", n=obj.n, epoch=0, run_seed=cfg.seed, batch=1)[0, 0])
    gy = grad_y_only(obj, x0, y0, i0)
    res = train_model(obj, run_of(cfg, steps=1))
    torch.testing.assert_close(obj.y, y0 - cfg.eta_y * gy, rtol=0, atol=1e-7)
    assert not torch.equal(obj.x, x0)  # the ZO step moved the base weights
    assert all(p.grad is None for p in obj.model.parameters())
    row = res.steps.iloc[0]
    assert row["sample"] == i0 and row["grad_y_norm"] == pytest.approx(float(gy.double().norm()), rel=1e-6)
    # the ZO move is -eta_x * phi * u, so its size is eta_x |phi| ||u|| with ||u||^2 ~ d_x
    move = float((obj.x - x0).double().norm())
    assert move == pytest.approx(cfg.eta_x * abs(row["zo_phi"]) * obj.d_x**0.5, rel=0.05)


def test_noise_modes_give_the_same_run():
    runs = []
    for mode in ("regenerate", "buffer"):
        obj = tiny()
        res = train_model(obj, run_of(hybrid(), steps=4, noise_mode=mode))
        runs.append((res.steps[["loss", "zo_phi", "grad_y_norm"]].to_numpy(), obj.x.clone(), obj.y.clone()))
    assert (runs[0][0] == runs[1][0]).all()
    assert torch.equal(runs[0][1], runs[1][1]) and torch.equal(runs[0][2], runs[1][2])


def test_resume_reproduces_the_uninterrupted_run(tmp_path):
    cfg = hybrid()
    full = tiny()
    a = train_model(full, run_of(cfg, steps=6, eval_every=3), out_dir=tmp_path / "a")
    part = tiny()
    train_model(part, run_of(cfg, steps=3, eval_every=3, checkpoint_every=3), out_dir=tmp_path / "b")
    resumed = tiny()  # a fresh model, as after a restart
    b = train_model(
        resumed, run_of(cfg, steps=6, eval_every=3, checkpoint_every=3), out_dir=tmp_path / "b", resume=True
    )
    cols = ["step", "epoch", "k", "sample", "loss", "zo_phi", "grad_y_norm"]
    assert (a.steps[cols].to_numpy() == b.steps[cols].to_numpy()).all()
    assert torch.equal(full.x, resumed.x) and torch.equal(full.y, resumed.y)
    assert a.evals[["step", "dev_loss", "dev_accuracy"]].equals(b.evals[["step", "dev_loss", "dev_accuracy"]])
    assert (tmp_path / "b" / "metrics.csv").is_file() and (tmp_path / "b" / "evals.csv").is_file()
    with pytest.raises(UsageError, match=r"holds a different run \(optimizer.eta_y: 0.01 there, 0.5 here\)"):
        train_model(tiny(), run_of(hybrid(eta_y=0.5), steps=6, eval_every=3), out_dir=tmp_path / "b", resume=True)


@pytest.mark.parametrize(
    "method,etas",
    [
        ("fo_peft", dict(eta_x=0.0, eta_y=1e-2)),
        ("zo_full", dict(eta_y=0.0)),
        ("fo_full", {}),
        ("zo_peft", dict(eta_x=0.0)),
    ],
)
def test_baselines_touch_only_their_blocks(method, etas):
    obj = tiny()
    x0, y0 = obj.initial_point()
    res = train_model(obj, run_of(hybrid(method=method, **etas), steps=2))
    assert torch.equal(obj.x, x0) == (method in ("fo_peft", "zo_peft"))
    assert torch.equal(obj.y, y0) == (method == "zo_full")
    assert res.steps["loss"].notna().all()


def test_bfloat16_prompt_tuning_runs_on_cpu():
    obj = tiny(adapter="prompt", virtual_tokens=2, dtype="bfloat16")
    assert obj.x.dtype == torch.bfloat16
    res = train_model(obj, run_of(hybrid(eta_x=1e-3, mu=1e-2), steps=2))
    assert torch.isfinite(torch.tensor(res.steps["loss"].to_numpy())).all()


def test_divergence_stops_keeps_records_and_explains(tmp_path):
    obj = tiny()
    # one FO step of size 100 on all weights wrecks the tiny model (loss ~1e3 after it)
    res = train_model(
        obj,
        run_of(HybridSGDConfig(method="fo_full", eta_x=100.0, eta_y=100.0, seed=0), steps=30, divergence_factor=2.0),
        out_dir=tmp_path,
    )
    assert res.diverged and res.completed_steps < 30
    assert "diverged at step" in res.diagnosis and "estimate L_x and L_y" in res.diagnosis
    assert len(res.steps) == res.completed_steps
    assert (tmp_path / "summary.json").is_file()


def test_bad_inputs():
    obj = tiny()
    with pytest.raises(UsageError, match="fo_point"):
        train_model(obj, run_of(hybrid(fo_point="plus", update="gauss_seidel"), steps=1))
    with pytest.raises(UsageError, match="two-sided"):
        train_model(obj, run_of(hybrid(fo_point="sym", form="forward"), steps=1))
    with pytest.raises(UsageError, match="noise mode"):
        run_of(hybrid(), steps=1, noise_mode="bogus")
    with pytest.raises(UsageError, match="output folder"):
        train_model(obj, run_of(hybrid(), steps=1), resume=True)


def test_hybrid_steps_on_the_real_smollm2():
    """A handful of in-place hybrid steps on SmolLM2-135M (4 examples of <= 32 tokens per minibatch)."""
    obj = make_llm_objective(
        model="smollm2", adapter="lora", n_train=8, n_dev=4, n_test=0, batch_size=4, max_length=32, seed=0
    )
    x0, y0 = obj.initial_point()
    res = train_model(obj, run_of(hybrid(eta_x=1e-6, eta_y=1e-3, mu=1e-3), steps=3))
    assert not res.diverged and len(res.steps) == 3
    assert res.steps["loss"].between(0.0, 2.0).all() and res.steps["grad_y_norm"].gt(0).all()
    assert all(p.grad is None for p in obj.model.parameters())
    assert not torch.equal(obj.x, x0) and not torch.equal(obj.y, y0)
    # the ZO move stays tiny: eta_x |phi| sqrt(d_x) per step
    assert float((obj.x - x0).norm()) < 3 * 1e-6 * res.steps["zo_phi"].abs().sum() * obj.d_x**0.5
    assert 0.0 <= res.evals["dev_accuracy"].iloc[-1] <= 1.0 and len(res.evals) == 2


@pytest.mark.parametrize("fo_point", ["plus", "sym"])
@pytest.mark.parametrize("noise_mode", ["regenerate", "buffer"])
def test_fo_point_plus_and_sym_take_the_adapter_gradient_at_the_perturbed_points(fo_point, noise_mode):
    """THEORY 2.3 in place: grad_y at x + mu u_1 (plus) or its average over x +- mu u_1 (sym), taken in the ZO
    step's own forward passes, equals the out-of-place gradient at the regenerated direction."""
    from hybridsmooth.optim.orders import sample_orders
    from hybridsmooth.zo.inplace_reference import regenerate_directions

    obj = tiny()
    x0, y0 = obj.initial_point()
    cfg = hybrid(fo_point=fo_point, mu=1e-2)
    i0 = int(sample_orders("rr", n=obj.n, epoch=0, run_seed=cfg.seed, batch=1)[0, 0])
    u = torch.cat(
        [
            t.reshape(-1)
            for t in regenerate_directions(
                list(obj.x_layout.views(obj.x).values()), run_seed=cfg.seed, epoch=0, step=0
            )[0]
        ]
    )
    plus = grad_y_only(obj, x0 + cfg.mu * u, y0, i0)
    minus = grad_y_only(obj, x0 - cfg.mu * u, y0, i0)
    expected = plus if fo_point == "plus" else 0.5 * (plus + minus)
    # the clean-point gradient differs: the test can tell the three points apart
    assert float((grad_y_only(obj, x0, y0, i0) - expected).norm()) > 1e-4 * float(expected.norm())
    res = train_model(obj, run_of(cfg, steps=1, noise_mode=noise_mode))
    torch.testing.assert_close(obj.y, y0 - cfg.eta_y * expected, rtol=0, atol=1e-6)
    assert res.steps.iloc[0]["grad_y_norm"] == pytest.approx(float(expected.double().norm()), rel=1e-5)
    assert all(p.grad is None for p in obj.model.parameters())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_the_in_place_sgd_update_rounds_as_the_out_of_place_one(dtype):
    from hybridsmooth.engine.model_step import sgd_in_place

    gen = torch.Generator().manual_seed(0)
    x = torch.randn(10_000, generator=gen).to(dtype)
    g = (torch.randn(10_000, generator=gen) * 10.0 ** torch.randint(-6, 3, (10_000,), generator=gen)).to(dtype)
    expected = x - 0.037 * g
    out = sgd_in_place(x, g.clone(), 0.037)
    assert out is x and torch.equal(x, expected)


def test_fo_full_runs_update_the_live_weights_in_place_with_the_out_of_place_bits(monkeypatch):
    from hybridsmooth.engine import model_step

    runs = []
    for in_place in (True, False):
        if not in_place:
            monkeypatch.setattr(model_step, "sgd_in_place", lambda x, g, eta: x - eta * g)
        obj = tiny()
        res = train_model(obj, run_of(hybrid(method="fo_full", eta_x=1e-2), steps=4))
        runs.append((res.steps[["loss", "grad_y_norm"]].to_numpy(), obj.x.clone(), obj.y.clone()))
    assert (runs[0][0] == runs[1][0]).all()
    assert torch.equal(runs[0][1], runs[1][1]) and torch.equal(runs[0][2], runs[1][2])


@pytest.mark.parametrize("method,etas", [("fo_peft", dict(eta_x=0.0, eta_y=1e-2)), ("fo_full", dict(eta_x=1e-2))])
def test_fo_steps_record_their_loss_from_the_gradients_forward(monkeypatch, method, etas):
    from hybridsmooth.engine import model_step

    def counted_run():
        obj = tiny()
        forwards = []
        obj.model.register_forward_pre_hook(lambda *_: forwards.append(1))
        res = train_model(
            obj, run_of(hybrid(method=method, **etas), steps=4), evaluate=lambda _: {"loss": 0.0, "accuracy": 0.0}
        )
        return res.steps["loss"].to_numpy(), len(forwards), obj.x.clone(), obj.y.clone()

    loss, forwards, x, y = counted_run()
    assert forwards == 4  # one forward per step: the gradient's, no logging forward beside it
    # the earlier path: a separate no-grad forward at each step's start point records the loss
    monkeypatch.setattr(model_step, "records_start_loss", lambda config: False)
    loss_before, forwards_before, x_before, y_before = counted_run()
    assert forwards_before == 8
    assert torch.allclose(torch.tensor(loss), torch.tensor(loss_before), rtol=1e-6, atol=0.0)
    assert torch.equal(x, x_before) and torch.equal(y, y_before)  # the steps themselves are unchanged
