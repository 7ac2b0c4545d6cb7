"""Figures as experiments: ``EXPERIMENTS`` maps a figure name to its ``Experiment`` (config -> CSV tables ->
plot). Four theory figures are implemented; the paper's seven figures (THEORY 8) are listed, not built yet."""
from __future__ import annotations

from .registry import Experiment, not_implemented_plot, not_implemented_run, select, validate_config
from . import theory_figures as tf

_THEORY = [
    Experiment(
        name="stability_region", kind="theory", title="Exact stability region of (eta_x, eta_y) (check 8)",
        caption=("Exact spectral radius of the hybrid second-moment map (central ZO on x, FO on y, Jacobi, n = 1) "
                 "on a log-log grid of (eta_x, eta_y) for a random positive definite H with dense cross blocks, "
                 "its rho = 1 edge, and Theorem R's admissible box (C1)-(C2) drawn inside it (THEORY check 8); "
                 "exact linear algebra, no sampling."),
        quick={"mode": "quick", "d_x": 4, "d_y": 3, "seed": 0, "grid": 48, "span": [0.05, 2000.0]},
        full={"mode": "full", "d_x": 4, "d_y": 3, "seed": 0, "grid": 160, "span": [0.02, 5000.0]},
        run=tf.run_stability, plot=tf.plot_stability, main_table="stability_region.csv", tables=("box.csv",),
        required_keys=("d_x", "d_y", "seed", "grid", "span"), validate=tf.validate_stability),
    Experiment(
        name="bound_vs_measured", kind="theory", title="Theorem R bound B_R vs measured LHS (check 11)",
        caption=("Theorem R's left-hand side (1/T) sum_t eta_x||grad_x f||^2 + eta_y||grad_y f||^2 measured by "
                 "hybrid RR-SGD (seed mean, min..max bars over seeds) against the bound B_R, on a coupled block "
                 "quadratic and a nonconvex Cauchy-loss sum, at 100% and 10% of the (C1)-(C2) caps, central and "
                 "forward ZO, two mu (THEORY check 11); log-log with the line LHS = B_R."),
        quick={"mode": "quick", "size": "fast", "seeds": 10, "T": 40, "fractions": [1.0, 0.1],
               "forms": ["central", "forward"], "mus": [1e-3, 1e-1], "run_seed": 11},
        full={"mode": "full", "size": "full", "seeds": 20, "T": 100, "fractions": [1.0, 0.5, 0.1],
              "forms": ["central", "forward"], "mus": [1e-3, 1e-1], "run_seed": 11},
        run=tf.run_bound, plot=tf.plot_bound, main_table="bound_vs_measured.csv",
        required_keys=("size", "seeds", "T", "fractions", "forms", "mus"), validate=tf.validate_bound),
    Experiment(
        name="rate_slopes", kind="theory", title="Rate slopes of Phi(T) (check 12a/12b)",
        caption=("Phi(T) = (1/T) sum_t ||grad f(z_t)||^2 against T (log-log) for hybrid RR-SGD on a Cauchy-loss sum "
                 "with eta ~ T^-1/2 (12a) and on an interpolating x-block with eta ~ T^-1/3 (12b): seed mean with "
                 "10-90% band, least-squares fit with its 95% bootstrap interval, and the predicted slopes -1/2 "
                 "and -2/3 (THEORY 6.5, check 12)."),
        quick={"mode": "quick", "cases": ["12a", "12b"], "Ts": [32, 64, 128, 256], "T_ref": 32, "seeds": 10},
        full={"mode": "full", "cases": ["12a", "12b"], "Ts": [2**k for k in range(6, 13)], "T_ref": 32,
              "seeds": 20},
        run=tf.run_slopes, plot=tf.plot_slopes, main_table="rate_slopes.csv",
        required_keys=("cases", "Ts", "T_ref", "seeds"), validate=tf.validate_slopes),
    Experiment(
        name="speedup_vs_rho", kind="theory", title="Two-step speed-up vs rho = L_x/L_y (check 13)",
        caption=("Epochs to reduce ||grad_y f||^2 (y-target) and E||grad f||^2 (full target) by 1e-6 with one "
                 "shared step divided by the epochs with two step sizes, against rho = L_x/L_y, on the separable "
                 "quadratic of THEORY 6.4 (n = 1, central ZO): exact recursion curves, simulated points with a "
                 "bootstrap interval over seeds, and s_exact, s_theory (THEORY check 13)."),
        quick={"mode": "quick", "d_x": 8, "d_y": 8, "kappa_y": 10.0, "target": 1e-6, "seeds": 50, "n_boot": 200,
               "rhos_simulated": [1.0, 3.0, 10.0], "rhos_exact": [1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0,
                                                                 30.0, 50.0, 100.0]},
        full={"mode": "full", "d_x": 8, "d_y": 8, "kappa_y": 20.0, "target": 1e-6, "seeds": 200, "n_boot": 500,
              "rhos_simulated": [1.0, 3.0, 10.0, 30.0],
              "rhos_exact": [1.0, 1.5, 2.0, 3.0, 5.0, 7.0, 10.0, 15.0, 20.0, 30.0, 50.0, 100.0]},
        run=tf.run_speedup, plot=tf.plot_speedup, main_table="speedup_vs_rho.csv", tables=("speedup_theory.csv",),
        required_keys=("d_x", "d_y", "kappa_y", "target", "seeds", "rhos_simulated", "rhos_exact"),
        validate=tf.validate_speedup),
]

# the paper's figures, THEORY 8: what each will show once the model-scale runs exist
_PAPER = {
    "fig1": ("Smoothness structures (Fig 1)", "block smoothness L_x, L_y, L_xy (HVP power iteration and secant "
             "estimates) vs training step, log scale, for prompt tuning and LoRA on SmolLM2-135M / sentiment tweets, "
             "with a histogram of L_x/L_y"),
    "fig2": ("Loss under learning-rate configurations (Fig 2)", "training loss vs step over a grid of (eta_x, eta_y) "
             "including eta_x = eta_y, marking the best single rate, the best pair and the theory pair eta_b ~ 1/L_b"),
    "fig3": ("Hybrid vs baselines (Fig 3)", "training loss and test accuracy vs step (mean +- std over 5 seeds) for "
             "Hybrid, FO-PEFT, FO-Full, ZO-Full (MeZO) and ZO-PEFT, with steps-to-target-loss"),
    "fig4": ("Prompt-tuning ablation (Fig 4)", "loss vs step for the soft-prompt variant sweeping mu in "
             "{1e-4, 1e-3, 1e-2} and eta_x/eta_y over a decade around the theory ratio"),
    "fig5": ("Lipschitz constants across models (Fig 5)", "bar chart of estimated L_x, L_y (with intervals) and "
             "rho across models x adapters x tasks, with the predicted speed-up s(rho) of THEORY 6.4"),
    "fig6": ("Curves for more models and data sets (Fig 6)", "Fig-3 panels over the small models and the two data "
             "sets (sentiment tweets, BBC News topics)"),
    "fig7": ("Performance vs wall-clock (Fig 7)", "Fig-3 curves against measured wall-clock time, with a per-step "
             "cost table (forward/backward counts and time ratios per method)"),
}

_PAPER_EXPERIMENTS = [
    Experiment(name=name, kind="paper", title=title, caption=f"Not implemented yet; will show {what} (THEORY 8).",
               quick={"mode": "quick"}, full={"mode": "full"}, run=not_implemented_run(name, what),
               plot=not_implemented_plot(name), main_table=f"{name}.csv", implemented=False)
    for name, (title, what) in _PAPER.items()
]

EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (*_THEORY, *_PAPER_EXPERIMENTS)}

__all__ = ["EXPERIMENTS", "Experiment", "select", "validate_config"]
