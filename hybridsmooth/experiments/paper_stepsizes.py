"""The paper's two step-size figures (THEORY 8): Figure 2 (loss over a grid of (eta_x, eta_y), the one-rate
diagonal, the theory pair and a heat map of final loss, ``paper_fig2``) and Figure 4 (the soft-prompt ablation
over mu and eta_x/eta_y, ``paper_fig4``); this module registers them.

Both train the hybrid method (ZO on all base weights x, FO on the adapter y) through ``figure_runs.train_all``
(``stepsize_setup``), so runs are stored once under ``<runs>/model_runs`` and shared.
"""

from __future__ import annotations

from .paper_fig2 import (
    FIG2_CONSTANTS,
    FIG2_FULL,
    FIG2_KEYS,
    FIG2_QUICK,
    FIG2_RUNS,
    FIG2_TABLE,
    fig2_runs,
    plot_fig2,
    run_fig2,
    validate_fig2,
)
from .paper_fig4 import (
    FIG4_FULL,
    FIG4_KEYS,
    FIG4_QUICK,
    FIG4_RUNS,
    FIG4_TABLE,
    fig4_runs,
    plot_fig4,
    run_fig4,
    validate_fig4,
)
from .registry import Experiment

EXPERIMENTS: list[Experiment] = [
    Experiment(
        name="fig2",
        kind="paper",
        title="Loss under learning-rate configurations (Fig 2)",
        caption=(
            "Training loss (running mean of the minibatch loss) vs step of the hybrid method (ZO on all base "
            "weights, FO on LoRA) over a grid of (eta_x, eta_y) that contains the one-rate diagonal "
            "eta_x = eta_y, with the best single rate, the best pair and the theory pair (0.5 x the ZO "
            "mean-square limit 2/(L_x(d_x+2)) and 0.5 x the FO limit 2/L_y, L_x and L_y measured in the run by "
            "a few Lanczos iterations on one minibatch at the start point), and a heat map of final loss. "
            "Runs the training core stops (loss not finite or above 10 x the first step's) are "
            "shown hatched / with an x; runs that blow up less keep their final loss. Reconstruction: "
            "quick mode is MiniLM-L6 (22.7M) on 64 sentiment tweets, 20 steps, 3 x 3 grid, 1 seed, not the "
            "paper's OPT-1.3B; full mode is SmolLM2-135M, 7 x 7 grid, 300 steps, 3 seeds on a GPU."
        ),
        quick=FIG2_QUICK,
        full=FIG2_FULL,
        run=run_fig2,
        plot=plot_fig2,
        main_table=FIG2_TABLE,
        tables=(FIG2_RUNS, FIG2_CONSTANTS),
        required_keys=FIG2_KEYS,
        validate=validate_fig2,
        runs=fig2_runs,
    ),
    Experiment(
        name="fig4",
        kind="paper",
        title="Prompt-tuning ablation (Fig 4)",
        caption=(
            "Training loss (running mean) vs step of the hybrid method with a soft prompt (10 virtual tokens "
            "+ the classification head as y, ZO on all base weights), in two one-at-a-time sweeps sharing "
            "the centre run: mu in {1e-4, 1e-3, 1e-2} at a fixed (eta_x, eta_y), and eta_x/eta_y over "
            "0.1x-10x a reference ratio (eta_x varied, eta_y fixed) at mu = 1e-3. The reference pair is "
            "a hand-picked stable pair (the panel titles give it), not one from measured constants (the "
            "theory ratio L_y/(L_x(d_x+2)) is of order 1/d_x and would leave x frozen over these steps). "
            "Reconstruction: quick mode is MiniLM-L6 on 64 sentiment tweets, 20 steps, 1 seed, not OPT-1.3B "
            "on SST-2; full mode is SmolLM2-135M, 500 steps, 3 seeds on a GPU."
        ),
        quick=FIG4_QUICK,
        full=FIG4_FULL,
        run=run_fig4,
        plot=plot_fig4,
        main_table=FIG4_TABLE,
        tables=(FIG4_RUNS,),
        required_keys=FIG4_KEYS,
        validate=validate_fig4,
        runs=fig4_runs,
    ),
]
