"""The configs of the method-comparison figures (Fig 3, 6, 7): hand-set step sizes per model and the panels,
one problem with its methods, seeds and steps each, in quick and full mode."""

from __future__ import annotations

from .paper_setup import FULL_DATA, llm_problem

# Plain SGD step sizes, set by hand per model and kept inside the FO limit 2/L_y of the measured adapter
# curvature: MiniLM LoRA on tweets L_y ~ 1.1 (eta_y = 0.5; 1.0 makes the dev loss jump), on BBC topics
# L_y ~ 0.2 at the start (eta_y = 0.3: 1.0 oscillates within 16 steps), SmolLM2 LoRA L_y ~ 7 (eta_y = 0.1;
# 1.0 diverges). The ZO x-steps sit far above the
# ZO mean-square limit 2/(L_x (d_x + 2)) ~ 1e-8 of a 2.3e7-dimensional block, as MeZO's do (1e-6 on SmolLM2).
QUICK_STEPS = {
    "hybrid": [1e-5, 0.5],
    "fo_peft": [0.0, 0.5],
    "fo_full": [1e-3, 0.5],
    "zo_full": [1e-5, 0.0],
    "zo_peft": [0.0, 1e-2],
}
QUICK_STEPS_TOPIC = {**QUICK_STEPS, "hybrid": [1e-5, 0.3], "fo_peft": [0.0, 0.3], "fo_full": [1e-3, 0.3]}
QUICK_STEPS_SMOLLM2 = {"hybrid": [1e-6, 0.1], "fo_peft": [0.0, 0.1], "zo_full": [1e-6, 0.0]}
FULL_STEPS_SMOLLM2 = {**QUICK_STEPS_SMOLLM2, "fo_full": [1e-5, 0.1], "zo_peft": [0.0, 1e-3]}


def panel_config(
    problem: str,
    label: str,
    *,
    methods=None,
    seeds=(0, 1),
    steps: int = 24,
    eval_every: int = 4,
    eval_limit: int | None = 32,
    mu: float = 1e-3,
) -> dict:
    """One panel: a problem and its label, the methods with their [eta_x, eta_y], seeds, steps and evaluations."""
    return {
        "label": label,
        "problem": problem,
        "methods": dict(methods or QUICK_STEPS),
        "seeds": list(seeds),
        "steps": steps,
        "eval_every": eval_every,
        "eval_limit": eval_limit,
        "mu": mu,
    }


# window = one epoch of the quick data (64 examples / batch 8): the running mean then averages every minibatch once
FIG3_QUICK = {
    "mode": "quick",
    "window": 8,
    "target_fraction": 0.5,
    "panels": [panel_config(llm_problem("minilm", "lora"), "MiniLM + LoRA, tweet sentiment")],
}
FIG3_FULL = {
    "mode": "full",
    "window": 63,
    "target_fraction": 0.5,
    "panels": [
        panel_config(
            llm_problem("smollm2", "lora", **FULL_DATA),
            "SmolLM2-135M + LoRA, tweet sentiment",
            seeds=range(5),
            steps=1000,
            eval_every=100,
            eval_limit=500,
            methods=FULL_STEPS_SMOLLM2,
        )
    ],
}
# Figure 7: Figure 3's runs (shared) plus the hybrid with its FO gradient at the perturbed points (THEORY 2.3)
FIG7_QUICK = {**FIG3_QUICK, "panels": [{**FIG3_QUICK["panels"][0], "fo_points": ["plus", "sym"]}]}
FIG7_FULL = {**FIG3_FULL, "panels": [{**FIG3_FULL["panels"][0], "fo_points": ["plus", "sym"]}]}
FIG6_QUICK = {
    "mode": "quick",
    "window": 8,
    "target_fraction": 0.5,
    "panels": [
        FIG3_QUICK["panels"][0],
        panel_config(
            llm_problem("minilm", "lora", "topic"),
            "MiniLM + LoRA, BBC topics (5 classes)",
            seeds=(0,),
            steps=16,
            eval_every=4,
            methods=QUICK_STEPS_TOPIC,
        ),
        panel_config(
            llm_problem("smollm2", "lora"),
            "SmolLM2-135M + LoRA, tweet sentiment",
            seeds=(0,),
            steps=8,
            eval_every=4,
            eval_limit=32,
            methods=QUICK_STEPS_SMOLLM2,
        ),
    ],
}
FIG6_FULL = {
    "mode": "full",
    "window": 63,
    "target_fraction": 0.5,
    "panels": [
        FIG3_FULL["panels"][0],
        panel_config(
            llm_problem("smollm2", "lora", "topic", **FULL_DATA),
            "SmolLM2-135M + LoRA, BBC topics",
            seeds=range(5),
            steps=1000,
            eval_every=100,
            eval_limit=500,
            methods=FULL_STEPS_SMOLLM2,
        ),
        panel_config(
            llm_problem("smollm2", "prompt", **FULL_DATA),
            "SmolLM2-135M + prompt tuning, tweet sentiment",
            seeds=range(5),
            steps=1000,
            eval_every=100,
            eval_limit=500,
            methods=FULL_STEPS_SMOLLM2,
        ),
        panel_config(
            llm_problem("minilm", "lora", **FULL_DATA),
            "MiniLM + LoRA, tweet sentiment",
            seeds=range(5),
            steps=1000,
            eval_every=100,
            eval_limit=500,
        ),
    ],
}
