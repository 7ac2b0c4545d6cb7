"""The four figures the theory makes checkable (THEORY 8, last list); this module registers them, one module
per figure holds its config check, run (CSV tables) and plot (reads only those tables).

* ``stability_region`` -- check 8: exact spectral radius of the hybrid second-moment map on a log-log grid of
  (eta_x, eta_y), its rho = 1 boundary, and the Theorem R box (C1)-(C2) with n = 1 inside it.
* ``bound_vs_measured`` -- check 11: Theorem R's LHS per seed against B_R (THEORY 6.1) over step-size
  fractions, ZO forms, mu and instances.
* ``rate_slopes`` -- check 12a/12b: Phi(T) against T with fitted log-log slopes, their bootstrap intervals and
  the predicted slopes -1/2 and -2/3 (THEORY 6.5).
* ``speedup_vs_rho`` -- check 13: epochs one step / two steps against rho = L_x/L_y with s_exact and s_theory
  (THEORY 6.4).

The problem instances, step-size rules and statistics are those of ``hybridsmooth.theory`` (no copies); the
figure modules only sweep them wider and store per-seed values so that the plots can show spread.
"""

from __future__ import annotations

from . import low_precision, theory_bound, theory_pep, theory_slopes, theory_speedup, theory_stability
from .registry import Experiment
from .zo_view import KEYS as ZO_VIEW_KEYS
from .zo_view import ZO_VIEW_FULL, ZO_VIEW_QUICK, plot_zo_view, run_zo_view, validate_zo_view

EXPERIMENTS: list[Experiment] = [
    Experiment(
        name="stability_region",
        kind="theory",
        title="Exact stability region of (eta_x, eta_y) (check 8)",
        caption=(
            "Exact spectral radius of the hybrid second-moment map (central ZO on x, FO on y, Jacobi, n = 1) "
            "on a log-log grid of (eta_x, eta_y) for a random positive definite H with dense cross blocks, "
            "its rho = 1 edge, and Theorem R's admissible box (C1)-(C2) drawn inside it (THEORY check 8); "
            "exact linear algebra, no sampling."
        ),
        quick={"mode": "quick", "d_x": 4, "d_y": 3, "seed": 0, "grid": 48, "span": [0.05, 2000.0]},
        full={"mode": "full", "d_x": 4, "d_y": 3, "seed": 0, "grid": 160, "span": [0.02, 5000.0]},
        run=theory_stability.run_stability,
        plot=theory_stability.plot_stability,
        main_table="stability_region.csv",
        tables=("box.csv",),
        required_keys=("d_x", "d_y", "seed", "grid", "span"),
        validate=theory_stability.validate_stability,
    ),
    Experiment(
        name="bound_vs_measured",
        kind="theory",
        title="Theorem R bound B_R vs measured LHS (check 11)",
        caption=(
            "Theorem R's left-hand side (1/T) sum_t eta_x||grad_x f||^2 + eta_y||grad_y f||^2 measured by "
            "hybrid RR-SGD (seed mean, min..max bars over seeds) against the bound B_R, on a coupled block "
            "quadratic and a nonconvex Cauchy-loss sum, at 100% and 10% of the (C1)-(C2) caps, central and "
            "forward ZO, two mu (THEORY check 11); log-log with the line LHS = B_R."
        ),
        quick={
            "mode": "quick",
            "size": "fast",
            "seeds": 10,
            "T": 40,
            "fractions": [1.0, 0.1],
            "forms": ["central", "forward"],
            "mus": [1e-3, 1e-1],
            "run_seed": 11,
        },
        full={
            "mode": "full",
            "size": "full",
            "seeds": 20,
            "T": 100,
            "fractions": [1.0, 0.5, 0.1],
            "forms": ["central", "forward"],
            "mus": [1e-3, 1e-1],
            "run_seed": 11,
        },
        run=theory_bound.run_bound,
        plot=theory_bound.plot_bound,
        main_table="bound_vs_measured.csv",
        required_keys=("size", "seeds", "T", "fractions", "forms", "mus"),
        validate=theory_bound.validate_bound,
        runs=theory_bound.bound_runs,
    ),
    Experiment(
        name="rate_slopes",
        kind="theory",
        title="Rate slopes of Phi(T) (check 12a/12b)",
        caption=(
            "Phi(T) = (1/T) sum_t ||grad f(z_t)||^2 against T (log-log) for hybrid RR-SGD on a Cauchy-loss sum "
            "with eta ~ T^-1/2 (12a) and on an interpolating x-block with eta ~ T^-1/3 (12b): seed mean with "
            "10-90% band, least-squares fit with its 95% bootstrap interval, and the predicted slopes -1/2 "
            "and -2/3 (THEORY 6.5, check 12)."
        ),
        quick={"mode": "quick", "cases": ["12a", "12b"], "Ts": [32, 64, 128, 256], "T_ref": 32, "seeds": 10},
        full={"mode": "full", "cases": ["12a", "12b"], "Ts": [2**k for k in range(6, 13)], "T_ref": 32, "seeds": 20},
        run=theory_slopes.run_slopes,
        plot=theory_slopes.plot_slopes,
        main_table="rate_slopes.csv",
        required_keys=("cases", "Ts", "T_ref", "seeds"),
        validate=theory_slopes.validate_slopes,
        runs=theory_slopes.slopes_runs,
    ),
    Experiment(
        name="speedup_vs_rho",
        kind="theory",
        title="Two-step speed-up vs rho = L_x/L_y (check 13)",
        caption=(
            "Epochs to reduce ||grad_y f||^2 (y-target) and E||grad f||^2 (full target) by 1e-6 with one "
            "shared step divided by the epochs with two step sizes, against rho = L_x/L_y, on the separable "
            "quadratic of THEORY 6.4 (n = 1, central ZO): exact recursion curves, simulated points with a "
            "bootstrap interval over seeds, and s_exact, s_theory (THEORY check 13)."
        ),
        quick={
            "mode": "quick",
            "d_x": 8,
            "d_y": 8,
            "kappa_y": 10.0,
            "target": 1e-6,
            "seeds": 50,
            "n_boot": 200,
            "rhos_simulated": [1.0, 3.0, 10.0],
            "rhos_exact": [1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0],
        },
        full={
            "mode": "full",
            "d_x": 8,
            "d_y": 8,
            "kappa_y": 20.0,
            "target": 1e-6,
            "seeds": 200,
            "n_boot": 500,
            "rhos_simulated": [1.0, 3.0, 10.0, 30.0],
            "rhos_exact": [1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0],
        },
        run=theory_speedup.run_speedup,
        plot=theory_speedup.plot_speedup,
        main_table="speedup_vs_rho.csv",
        tables=("speedup_theory.csv",),
        required_keys=("d_x", "d_y", "kappa_y", "target", "seeds", "rhos_simulated", "rhos_exact"),
        validate=theory_speedup.validate_speedup,
    ),
    Experiment(
        name="zo_view",
        kind="theory",
        title="What a ZO step sees on a real model (THEORY 4.3)",
        caption=(
            "Central ZO estimate of the base-weight gradient with q directions against the backprop gradient of the "
            "same minibatch: cosine and relative error ||g_q - grad||^2/||grad||^2 with the closed form (d_x+1)/q "
            "(dashed; directions shared across q, 1-stderr bars); tr(H_xx) from the second differences of the "
            "ZO step's own forward values against Hutchinson's trace from HVPs; the HiZOO-style forward-only "
            "diagonal against the Hutchinson diagonal, summed per weight tensor. Quick mode: tiny-bert (random "
            "init, LoRA), 4 x 16 tokens; full mode: MiniLM and SmolLM2 with LoRA and prompt tuning at the start "
            "point and after a short hybrid run, 8 x 32 tokens."
        ),
        quick=ZO_VIEW_QUICK,
        full=ZO_VIEW_FULL,
        run=run_zo_view,
        plot=plot_zo_view,
        main_table="zo_view.csv",
        tables=("zo_view_trace.csv", "zo_view_diag.csv"),
        required_keys=ZO_VIEW_KEYS,
        validate=validate_zo_view,
    ),
    Experiment(
        name="low_precision",
        kind="theory",
        title="The ZO step in bfloat16 / float16: rounding drift and lost updates",
        caption=(
            "Left: ||x_t - x_0|| / ||x_0|| after t ZO steps of step size 0 (perturb +mu u, -2 mu u, +mu u: nothing "
            "should move) on weights N(0, 0.02^2), mu = 1e-3, per dtype, plain in-place mode and bfloat16 with a "
            "float32 master copy (exact: drift 0). Middle and right: a short hybrid run of tiny-llama + LoRA in "
            "float32, bfloat16 plain, bfloat16 master and bfloat16 stochastic rounding from one start and seed: "
            "the per-step fraction of the ZO update below half the spacing of its weight (measured on a fixed "
            "coordinate sample), and the minibatch loss. Quick: 100k weights, 300 steps; full: 1M, 1000."
        ),
        quick={
            "mode": "quick",
            "weights": 100_000,
            "drift_steps": [1, 3, 10, 30, 100, 300],
            "mu": 1e-3,
            "problem": "llm:model=tiny-llama,adapter=lora,n_train=16,batch_size=4,max_length=20",
            "run_steps": 24,
            "eta_x": 1e-5,
            "eta_y": 1e-2,
        },
        full={
            "mode": "full",
            "weights": 1_000_000,
            "drift_steps": [1, 3, 10, 30, 100, 300, 1000],
            "mu": 1e-3,
            "problem": "llm:model=minilm,adapter=lora,n_train=64,batch_size=8,max_length=32",
            "run_steps": 100,
            "eta_x": 1e-6,
            "eta_y": 1e-2,
        },
        run=low_precision.run_low_precision,
        plot=low_precision.plot_low_precision,
        main_table="low_precision_drift.csv",
        tables=("low_precision_runs.csv",),
        required_keys=("weights", "drift_steps", "mu", "problem", "run_steps", "eta_x", "eta_y"),
        validate=low_precision.validate_low_precision,
    ),
    Experiment(
        name="pep_worst_case",
        kind="theory",
        title="PEP worst case of Theorem R's LHS vs B_R and measured (check 16)",
        caption=(
            "Theorem R's bound B_R (q -> inf, mu = 0), the PEP worst case of its left-hand side over all functions "
            "meeting (R1)-(R2) (Clarabel/SCS), and the measured LHS of a quadratic with the same constants, "
            "against T, deterministic and RR n = 2 (sigma^2 = 0.5); right: the paper's stated renderings A/B/B' "
            "as eps^2(T) against the PEP worst min_t ||grad f||^2 (rescaled units, Lambda = I, Delta0 = 1)."
        ),
        quick={"mode": "quick", "Ts_deterministic": [1, 2, 4, 8], "Ts_rr": [1], "delta": 0.9, "seeds": 16},
        full={"mode": "full", "Ts_deterministic": [1, 2, 4, 8, 16], "Ts_rr": [1, 2], "delta": 0.9, "seeds": 64},
        run=theory_pep.run_pep,
        plot=theory_pep.plot_pep,
        main_table="pep_worst_case.csv",
        tables=("pep_renderings.csv",),
        required_keys=("Ts_deterministic", "Ts_rr", "seeds"),
        validate=theory_pep.validate_pep,
    ),
]
