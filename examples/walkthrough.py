"""From a problem to a verdict, end to end: estimate the constants, train at steps chosen from them, check the
theorem, plot. Runs in well under a minute on a laptop CPU:

    python examples/walkthrough.py [OUTPUT_FOLDER]

It writes ``constants.csv``, ``metrics.csv``, ``checks.csv`` and ``walkthrough.png`` to the folder (default
``runs/walkthrough``) and prints what it finds.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import hybridsmooth as hs  # noqa: E402

SPEC = "quadratic:dx=20,dy=5,Lx=10,Ly=1,coupling=0.5,n=8,seed=0"


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    f = hs.problem(SPEC)

    # 1. estimate: the block constants at the starting point, by Hessian-vector products and Lanczos
    constants = hs.block_constants(f).to_frame()
    constants.to_csv(out / "constants.csv", index=False)
    print(constants.to_string(index=False))
    L = dict(zip(constants.block, constants.estimate))

    # 2. train: the ZO step at half the mean-square limit 2/(L_x (d_x + 2)), the FO step at 1/L_y
    eta_x, eta_y = 1.0 / (L["xx"] * (f.d_x + 2)), 1.0 / L["yy"]
    run = hs.train(f, eta_x=eta_x, eta_y=eta_y, epochs=60, seeds=8)
    metrics = run.to_frame()
    metrics.to_csv(out / "metrics.csv", index=False)
    print(f"eta_x = {eta_x:.4g}, eta_y = {eta_y:.4g}: {run.diagnosis}")

    # 3. check: the theorem's assumptions on this problem, and the exact step-size checks of THEORY 7
    report = hs.check(only="8,13", problems=[f])
    report.to_frame().to_csv(out / "checks.csv", index=False)
    verdicts = report.to_frame().groupby(["expected", "verdict"]).size()
    print(verdicts.to_string())
    print("every row expected to pass passed" if report.ok else f"{len(report.failures())} rows failed")

    # 4. plot: the squared gradient norm over epochs, every seed and their mean
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for _, seed in metrics.groupby("seed"):
        ax.semilogy(seed.epoch, seed.grad_norm**2, color="0.75", lw=0.8)
    mean = metrics.groupby("epoch").grad_norm.apply(lambda g: (g**2).mean())
    ax.semilogy(mean.index, mean.values, color="C0", lw=2, label="mean over seeds")
    ax.set(xlabel="epoch", ylabel=r"$\|\nabla f(z_t)\|^2$", title="hybrid SGD on a coupled block quadratic")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "walkthrough.png", dpi=120)
    print(f"wrote {out}/constants.csv, metrics.csv, checks.csv, walkthrough.png")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/walkthrough"))
