"""The paper's method comparisons: Figure 3 (Hybrid vs the four baselines), Figure 6 (the same over more
model/data pairs) and Figure 7 (Figure 3 against measured wall-clock, with a per-step cost table).

One experiment shape serves all three: a list of *panels*, each a problem, the methods with their step sizes,
the seeds and the number of steps. Runs go through ``figure_runs`` (stored once, shared: Figure 7's quick
config is Figure 3's, so it re-plots Figure 3's runs against time instead of retraining).

This module registers them; ``training_configs`` holds their configs, ``training_runs`` the runs and tables,
``training_plots`` the plots.
"""

from __future__ import annotations

from .registry import Experiment
from .training_configs import FIG3_FULL, FIG3_QUICK, FIG6_FULL, FIG6_QUICK, FIG7_FULL, FIG7_QUICK
from .training_plots import plot_fig3, plot_fig6, plot_fig7
from .training_runs import panels_runs, run_fig3, run_fig6, run_fig7, validate_panels

# --- experiments ----------------------------------------------------------------------------------------------
_RECON = (
    "Reconstruction at small scale (THEORY 8): the paper used OPT-1.3B/LLaMA-7B on SST-2 and SuperGLUE tasks; "
    "quick mode uses MiniLM/SmolLM2-135M on small slices of real tweets and BBC News, plain SGD, few steps. "
    "Full mode (SmolLM2-135M, 1000 examples, 1000 steps x 5 seeds per method, on CUDA) has not been run."
)

EXPERIMENTS = [
    Experiment(
        name="fig3",
        kind="paper",
        title="Hybrid vs baselines (Fig 3)",
        caption=(
            "Training loss (running mean of the minibatch loss over one epoch), dev loss and dev accuracy vs "
            "step (mean +- std over seeds) for Hybrid (ZO x + FO y), FO-PEFT, FO-Full, ZO-Full (MeZO) and "
            "ZO-PEFT from one start point, with steps to a target dev loss halfway from the start to the best "
            "final dev loss (fig3_targets.csv, with the ratio to FO-PEFT). " + _RECON
        ),
        quick=FIG3_QUICK,
        full=FIG3_FULL,
        run=run_fig3,
        plot=plot_fig3,
        main_table="fig3.csv",
        tables=("fig3_evals.csv", "fig3_targets.csv"),
        required_keys=("panels", "window", "target_fraction"),
        validate=validate_panels,
        runs=panels_runs,
    ),
    Experiment(
        name="fig6",
        kind="paper",
        title="Curves for more models and data sets (Fig 6)",
        caption=(
            "Figure 3's panels over more model/data pairs: MiniLM on tweet sentiment and on 5-class BBC "
            "News topics, SmolLM2-135M (causal LM, prompt-based classification) on tweet sentiment with the "
            "three main methods. The paper's Vicuna/LLaMA-7B on WSC/WinoGrande are replaced by the models and "
            "data that install offline here. " + _RECON
        ),
        quick=FIG6_QUICK,
        full=FIG6_FULL,
        run=run_fig6,
        plot=plot_fig6,
        main_table="fig6.csv",
        tables=("fig6_evals.csv", "fig6_targets.csv"),
        required_keys=("panels", "window", "target_fraction"),
        validate=validate_panels,
        runs=panels_runs,
    ),
    Experiment(
        name="fig7",
        kind="paper",
        title="Performance vs wall-clock (Fig 7)",
        caption=(
            "Figure 3's runs (the same stored runs) against the measured wall-clock of their training steps "
            "(evaluations excluded), with a per-step cost table fig7_costs.csv: forward/backward passes per "
            "step and measured seconds per step as ratios to FO-PEFT and to a ZO-PEFT step (two forwards), "
            "with the hybrid's FO gradient at the clean point and at the perturbed points (plus: x + mu u, "
            "sym: the mean over x +- mu u, THEORY 2.3), which the in-place ZO step takes from its own "
            "forward passes. " + _RECON
        ),
        quick=FIG7_QUICK,
        full=FIG7_FULL,
        run=run_fig7,
        plot=plot_fig7,
        main_table="fig7_costs.csv",
        tables=("fig7.csv", "fig7_evals.csv", "fig7_targets.csv"),
        required_keys=("panels", "window", "target_fraction"),
        validate=validate_panels,
        runs=panels_runs,
    ),
]
