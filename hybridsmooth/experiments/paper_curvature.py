"""The paper's two curvature figures (THEORY 8): block smoothness along a hybrid run (Fig 1, ``paper_fig1``) and
the estimated Lipschitz constants across models, adapters and tasks with the predicted two-step speed-up (Fig 5,
``paper_fig5``); this module registers them.

Both measure block norms of the Hessian of ONE minibatch loss f_idx at a point by Lanczos on Hessian-vector
products (THEORY 3.1) through ``curvature.block_constants``: L_x = ||H_xx||, L_y = ||H_yy|| and, for Fig 1,
L_xy = sigma_max(H_xy) (largest-magnitude Lanczos on the dilation [[0, H_xy], [H_yx, 0]]). A budget of a few
products leaves the Ritz values unconverged: each one is a LOWER bound on the block norm (a Ritz value of a
symmetric operator lies inside its spectrum), and its residual ||A v - theta v|| is stored beside it (some
eigenvalue lies within the residual of theta).
"""

from __future__ import annotations

from .paper_fig1 import FIG1_FULL, FIG1_QUICK, plot_fig1, run_fig1, validate_fig1
from .paper_fig5 import FIG5_FULL, FIG5_QUICK, plot_fig5, run_fig5, validate_fig5
from .registry import Experiment

EXPERIMENTS: list[Experiment] = [
    Experiment(
        name="fig1",
        kind="paper",
        title="Smoothness structures (Fig 1)",
        caption=(
            "Block smoothness along one short hybrid run (seed 0; ZO on all base weights x, FO on the adapter y): "
            "Lanczos L_x = ||H_xx||, L_y = ||H_yy|| and L_xy = sigma_max(H_xy) of one minibatch loss at a few "
            "steps (filled markers: converged to the config's relative residual; open markers: unconverged Ritz "
            "values, i.e. lower bounds; bars: +residual), and the "
            "one-block secants ||grad_b f_i(z') - grad_b f_i(z_t)|| / ||z'_b - z_t,b|| of every step, for "
            "LoRA and prompt tuning; right: histogram of the per-step secant ratio with the Lanczos L_x/L_y. "
            "The ZO move follows one random direction, so secant_x sees the root-mean-square curvature of "
            "H_xx, far below L_x: the two ratios differ by construction. Reconstruction: quick mode uses "
            "MiniLM (22.7M, not SmolLM2/OPT), Lanczos to relative residual 1e-2 (at most 60 products) at the start "
            "and the end of a 12-step run only (three points of a 16-step run before: the steps and points pay "
            "for converged solves); full mode SmolLM2-135M on a GPU, relative residual 1e-3 (20-40 min)."
        ),
        quick=FIG1_QUICK,
        full=FIG1_FULL,
        run=run_fig1,
        plot=plot_fig1,
        main_table="fig1.csv",
        tables=("fig1_secants.csv",),
        required_keys=(
            "model",
            "adapters",
            "task",
            "steps",
            "measure_every",
            "lanczos_iter",
            "lanczos_rtol",
            "curvature_batch",
            "eta_x",
            "eta_y",
            "mu",
            "q",
            "seed",
        ),
        validate=validate_fig1,
    ),
    Experiment(
        name="fig5",
        kind="paper",
        title="Lipschitz constants across models (Fig 5)",
        caption=(
            "Lanczos estimates of L_x = ||H_xx|| (all base weights) and L_y = ||H_yy|| (adapter) at the "
            "start point across models x adapters x tasks: mean over minibatches with min..max bars "
            "(filled dots: every solve converged; unconverged Ritz values are lower bounds), rho = L_x/L_y per "
            "minibatch; right: THEORY 6.4's "
            "predicted two-step speed-up s_exact(rho; d_x, kappa_y) (n = 1 separable quadratic, kappa_y "
            "assumed; it is ~2 rho (d_x+2) and nearly independent of kappa_y) and s_theory (the cap ratio, "
            "information only) at the measured rho. Reconstruction: quick mode uses MiniLM and a "
            "random-initialised tiny LLaMA (its constants describe no trained model) on small data slices; to pay "
            "for solves run to relative residual 1e-2 (at most 60 products) it measures 2 minibatches per "
            "configuration (3 before) and cuts the news topics to 32 tokens like the tweets (64 in the other "
            "quick figures); full mode adds SmolLM2-135M on a GPU, 1e-3 (30-60 min)."
        ),
        quick=FIG5_QUICK,
        full=FIG5_FULL,
        run=run_fig5,
        plot=plot_fig5,
        main_table="fig5.csv",
        tables=("fig5_batches.csv", "fig5_speedup.csv"),
        required_keys=("models", "adapters", "tasks", "n_batches", "lanczos_iter", "lanczos_rtol", "kappa_y", "seed"),
        validate=validate_fig5,
    ),
]
