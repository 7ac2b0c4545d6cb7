"""hybridsmooth.theory.real_model: exact answers on a block quadratic, structure on tiny-llama (THEORY 3.1-3.5, 4.4)."""

import json
import math

import numpy as np
import pytest
import torch

from hybridsmooth import cli
from hybridsmooth.errors import UsageError
from hybridsmooth.objectives.quadratic import make_block_quadratic
from hybridsmooth.rng import zo_generator
from hybridsmooth.theory import real_model as rm
from hybridsmooth.theory import real_model_measure as rmm
from hybridsmooth.theory.suite import SUITE_COLUMNS

pytestmark = pytest.mark.theory

TINY = "llm:model=tiny-llama,adapter=lora,n_train=4,batch_size=4,max_length=16,n_dev=0,n_test=0,lora_r=2"


def _quad(coupling: float):
    return make_block_quadratic(dx=12, dy=4, Lx=10.0, Ly=1.0, coupling=coupling, n=3, seed=3)


def _blocks(obj):
    H = obj.H.numpy() if isinstance(obj.H, torch.Tensor) else np.asarray(obj.H)
    d = obj.d_x
    return H, H[:d, :d], H[d:, d:], H[:d, d:]


# --- exact answers on a quadratic ------------------------------------------------------------------------


def test_point_curvature_reproduces_exact_block_norms():
    obj = _quad(0.6)
    H, Hxx, Hyy, Hxy = _blocks(obj)
    x, y = obj.initial_point()
    pc = rmm.point_curvature(obj, x, y, idx=1, max_iter=40, tol=1e-10)
    assert pc.L_x == pytest.approx(np.linalg.norm(Hxx, 2), rel=1e-8)
    assert pc.L_y == pytest.approx(np.linalg.norm(Hyy, 2), rel=1e-8)
    assert pc.L_xy == pytest.approx(np.linalg.norm(Hxy, 2), rel=1e-8)
    gx, gy = obj.grad(x, y, 1)
    assert pc.grad_norm == pytest.approx(float(torch.sqrt(gx @ gx + gy @ gy)), rel=1e-12)


def test_secants_equal_the_hessian_along_the_move():
    """On a quadratic grad_b moves by H_bb db exactly: the x move is along the ZO direction u of
    zo_generator(seed, 0, t) and the first y move along grad_y f_idx(z0)."""
    obj = _quad(0.6)
    _, Hxx, Hyy, _ = _blocks(obj)
    s = rm.RealModelSettings(steps=3, eta_x=1e-2, eta_y=1e-1, idx=2, seed=5)
    x0, y0 = obj.initial_point()
    run = rmm.fixed_sample_secant_run(
        obj, x0, y0, steps=s.steps, idx=s.idx, eta_x=s.eta_x, eta_y=s.eta_y, mu=s.mu, seed=s.seed
    )
    steps, xe, ye = run.steps, run.x, run.y
    assert len(steps) == 3 and not torch.equal(xe, x0) and not torch.equal(ye, y0)
    u = torch.randn(x0.shape, generator=zo_generator(5, 0, 0), dtype=x0.dtype).numpy()
    assert steps[0].secant_x == pytest.approx(np.linalg.norm(Hxx @ u) / np.linalg.norm(u), rel=1e-8)
    gy = obj.grad(x0, y0, 2)[1].numpy()
    assert steps[0].secant_y == pytest.approx(np.linalg.norm(Hyy @ gy) / np.linalg.norm(gy), rel=1e-8)
    assert steps[0].step_y == pytest.approx(0.1 * np.linalg.norm(gy), rel=1e-10)
    for st in steps:  # a Rayleigh-type quotient never exceeds the norm
        assert st.secant_x <= np.linalg.norm(Hxx, 2) * (1 + 1e-10)
        assert st.secant_y <= np.linalg.norm(Hyy, 2) * (1 + 1e-10)


@pytest.mark.parametrize("coupling", [0.0, 0.8])
def test_joint_condition_matches_dense_eigenvalues(coupling):
    obj = _quad(coupling)
    H, Hxx, Hyy, _ = _blocks(obj)
    Lx, Ly = np.linalg.norm(Hxx, 2), np.linalg.norm(Hyy, 2)
    x, y = obj.initial_point()
    jr = rmm.joint_at(obj, x, y, idx=0, L_x=Lx, L_y=Ly, max_iter=40, tol=1e-10)
    s = np.r_[np.full(obj.d_x, Lx**-0.5), np.full(obj.d_y, Ly**-0.5)]
    ev = np.linalg.eigvalsh(s[:, None] * H * s[None, :])
    assert jr.lambda_max == pytest.approx(ev[-1], rel=1e-8)
    assert jr.lambda_min == pytest.approx(ev[0], rel=1e-8, abs=1e-10)
    assert (jr.lambda_max > 1 + 1e-6) == (coupling > 0)  # (BD) with Lambda fails exactly when coupled (THEORY 3.2)


def test_zo_error_moment_matches_quadratic_value():
    """Central form on a quadratic: E||g - grad||^2 = (d + 1)||grad||^2 exactly (THEORY 4.3)."""
    obj = _quad(0.5)
    x, y = obj.initial_point()
    zo = rmm.zo_error_moment(obj, x, y, idx=0, mu=1e-3, n_directions=3000, L=10.0, seed=1)
    assert zo.quadratic_value == pytest.approx((obj.d_x + 1) * zo.grad_norm2, rel=1e-12)
    assert abs(zo.error_mean - zo.quadratic_value) <= 5 * zo.error_se
    assert zo.d2_bound >= 2 * (obj.d_x + 1) * zo.grad_norm2 and zo.z_seed_2_bound >= zo.d2_bound


def test_measure_on_quadratic_gives_consistent_verdicts():
    obj = _quad(0.8)
    rep = rm.measure_real_model(
        obj,
        rm.RealModelSettings(steps=3, lanczos_iter=40, tol=1e-10, zo_directions=50, eta_x=1e-2, eta_y=1e-1),
        spec="quad",
    )
    by = {c.check: c for c in rep.checks}
    assert by["real: (H1) max secant_x <= Lanczos L_x(z0)"].verdict in ("pass", "vacuous pass")
    assert by["real: (H2) max secant_y <= Lanczos L_y(z0)"].verdict in ("pass", "vacuous pass")
    assert by["real: (BD) lambda_max(Lambda^-1/2 H Lambda^-1/2) <= 1, measured Lambda at z0"].verdict == "fail"
    # constant Hessian: the end point has the same constants
    assert rep.end.L_x == pytest.approx(rep.start.L_x, rel=1e-8)
    assert rep.end.L_y == pytest.approx(rep.start.L_y, rel=1e-8)


def test_settings_reject_bad_values():
    with pytest.raises(UsageError, match="steps"):
        rm.RealModelSettings(steps=0)
    with pytest.raises(UsageError, match="eta_x"):
        rm.RealModelSettings(eta_x=-1.0)
    with pytest.raises(UsageError, match="size"):
        rm.RealModelSettings.for_size("huge")
    obj = _quad(0.0)
    with pytest.raises(UsageError, match="idx"):
        rm.measure_real_model(obj, rm.RealModelSettings(idx=obj.n))


# --- tiny-llama: finite, complete, verdicts consistent --------------------------------------------------


def _verdict_consistent(row) -> bool:
    """The one_sided rule recomputed from the row: rows with a Monte Carlo error (the ZO rows) pass iff
    mean + 4 se <= bound, the others iff computed <= bound + atol (their tolerance is the atol)."""
    se = row["details"].get("se") if isinstance(row["details"], dict) else None
    if se is not None:
        ok = row["computed"] + 4 * se <= row["theoretical"]
    else:
        ok = row["computed"] <= row["theoretical"] + row["tolerance"]
    return ok == (row["verdict"] != "fail")


@pytest.fixture(scope="module")
def tiny_report():
    torch.set_num_threads(1)
    from hybridsmooth.problems import make_problem

    obj = make_problem(TINY)
    return rm.measure_real_model(obj, rm.RealModelSettings(steps=2, lanczos_iter=6, zo_directions=3), spec=TINY)


def test_tiny_llama_report_is_finite_and_complete(tiny_report):
    r = tiny_report
    for p in (r.start, r.end):
        for v in (p.loss, p.grad_x_norm, p.grad_y_norm, p.L_x, p.L_y):
            assert math.isfinite(v) and v >= 0
        assert p.L_x > 0 and p.L_y > 0
    assert r.start.L_xy is not None and math.isfinite(r.start.L_xy)
    assert len(r.steps) == 2 and all(
        s.step_x > 0 and s.step_y > 0 and math.isfinite(s.secant_x) and math.isfinite(s.secant_y) for s in r.steps
    )
    assert math.isfinite(r.joint.lambda_max) and r.joint.lambda_min <= r.joint.lambda_max
    # M's diagonal blocks are H_bb / L_b, whose extreme eigenvalue has magnitude ~1: ||M|| cannot be far below 1
    assert max(r.joint.lambda_max, -r.joint.lambda_min) >= 0.9
    assert r.zo.d == r.d_x and math.isfinite(r.zo.error_mean) and r.zo.error_se >= 0
    names = [c.check for c in r.checks]
    assert len(names) == 9 and len(set(names)) == 9  # H1, H2, BD, G1-G3, three ZO rows
    assert all(c.expected == "report" for c in r.checks)
    df = rm.checks_table(r)
    assert all(_verdict_consistent(row) for _, row in df.iterrows())
    json.dumps(rm.report_dict(r), default=float)  # JSON-ready


def test_tiny_llama_suite_rows_have_check_columns(tiny_report):
    df = rm.suite_rows(tiny_report)
    assert list(df.columns) == list(SUITE_COLUMNS) + ["key", "details"]
    assert (df.key == "real_model").all() and (df.expected == "report").all()


def test_check_command_dispatches_llm_specs(monkeypatch, capsys):
    """``hybridsmooth check llm:...`` runs the real-model checks only (no suite) and exits 0 (all rows report)."""
    small = rm.RealModelSettings(steps=1, lanczos_iter=4, zo_directions=2, end_point=False, joint=False)
    monkeypatch.setattr(rm.RealModelSettings, "for_size", classmethod(lambda cls, size, **kw: small))
    code = cli.main(["check", TINY, "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert code == 0
    assert rows and all(r["key"] == "real_model" for r in rows)
    assert {r["check"] for r in rows} >= {
        "real: (H1) max secant_x <= Lanczos L_x(z0)",
        "real: ZO E||g - grad_x f||^2 <= (D-2)",
    }


def test_estimate_secant_steps_option(capsys):
    """``estimate --secant-steps N --end-point``: the secant run rides along; on a quadratic every secant is at most
    the exact block norm and the end point has the same exact constants."""
    code = cli.main(
        [
            "estimate",
            "quadratic:dx=12,dy=4,coupling=0.5,seed=3",
            "--secant-steps",
            "3",
            "--end-point",
            "--eta-x",
            "0.01",
            "--eta-y",
            "0.1",
            "--json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    run = out["secant_run"]
    assert len(run["steps"]) == 3
    exact = {r["block"]: r["exact"] for r in out["rows"]}
    assert run["max_secant_x"] <= exact["xx"] * (1 + 1e-10) and run["max_secant_y"] <= exact["yy"] * (1 + 1e-10)
    assert [r["block"] for r in out["end_point_rows"]] == [r["block"] for r in out["rows"]]
    for r in out["end_point_rows"]:
        assert r["estimate"] == pytest.approx(r["exact"], rel=1e-6)


def test_estimate_rejects_negative_secant_steps(capsys):
    assert cli.main(["estimate", "quadratic:dx=4,dy=2", "--secant-steps", "-1"]) == 2
    assert "--secant-steps" in capsys.readouterr().err
