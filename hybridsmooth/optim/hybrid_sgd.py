"""Reshuffling hybrid SGD (THEORY 2.1) and its baselines, as configurations of one loop.

One step on sample i at z = (x, y), for a method that updates x by ZO and y by FO (``hybrid``):

    g_x = (1/q) sum_j phi_j u_j,  phi_j = [f_i(x + mu u_j, y) - f_i(x - mu u_j, y)] / (2 mu)   (THEORY 2.2)
    g_y = grad_y f_i(x_read, y)        x_read = x (Jacobi) or x - eta_x g_x (Gauss-Seidel)      (THEORY 2.3)
    x <- x - eta_x g_x,   y <- y - eta_y g_y

``fo_point`` moves the FO evaluation: ``plus`` uses grad_y f_i(x_read + mu u_1, y) (the point of the "+"
forward pass), ``sym`` the average over x_read +- mu u_1. The other methods swap a block's rule: FO
(exact per-sample gradient), ZO (the estimator above) or frozen.

All seeds run as one batched computation: x has shape (S, d_x), y (S, d_y), sample indices are a
LongTensor (S,) per step, and seed index b draws its orders and noise from its own counter-based stream
keyed by (run seed, b, epoch, step) (``rng.SeedStreams``), so its run does not depend on the batch. The
loop (``optim.batched_run``) takes every step's sample and noise from ``optim.schedule.epoch_schedule``.
With ``seeds=None`` the blocks have no batch dimension (one run; this is also the path of torch models,
whose parameters carry no batch dimension).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import torch
from torch import Tensor

from ..objectives.base import Objective
from ..zo.estimators import FORMS, Form, ZOEstimate, zo_gradient
from ..zo.gaussian_split import check_stream
from ..zo.precision import ZO_PRECISIONS
from .limits import BlockMode, StepLimit, step_limits
from .orders import ORDERS, Order

Method = Literal["hybrid", "fo_full", "fo_peft", "zo_full", "zo_peft"]
Update = Literal["jacobi", "gauss_seidel"]
FOPoint = Literal["clean", "plus", "sym"]

# method -> (rule of the x block, rule of the y block)
METHODS: dict[str, tuple[BlockMode, BlockMode]] = {
    "hybrid": ("zo", "fo"),
    "fo_full": ("fo", "fo"),
    "fo_peft": ("frozen", "fo"),
    "zo_full": ("zo", "frozen"),
    "zo_peft": ("frozen", "zo"),
}
UPDATES: tuple[str, ...] = ("jacobi", "gauss_seidel")
FO_POINTS: tuple[str, ...] = ("clean", "plus", "sym")


def _choice(name: str, value: str, accepted) -> None:
    if value not in accepted:
        raise ValueError(f"unknown {name} {value!r}; accepted: {', '.join(accepted)}")


@dataclass(frozen=True)
class HybridSGDConfig:
    """Everything that defines a run except the objective and the number of seeds (THEORY 2.1)."""

    method: Method = "hybrid"
    eta_x: float = 0.0
    eta_y: float = 0.0
    epochs: int = 20
    order: Order = "rr"
    update: Update = "jacobi"
    fo_point: FOPoint = "clean"
    form: Form = "central"
    mu: float = 1e-3
    q: int = 1
    seed: int = 0
    # one default for every kind of run (synthetic and model): a run has diverged once its loss exceeds this
    # multiple of its start loss. A wide margin, because a seed frozen by mistake (a noisy ZO run rising for
    # a while near its step-size limit) would bias every mean over seeds, while a run that truly diverges
    # grows geometrically and crosses 1e6 a few epochs or steps after 1e3. Figures that want an earlier stop
    # set their own factor.
    divergence_factor: float = 1e6
    # how the in-place ZO step of a torch model handles the weights' precision (zo.precision): "plain" moves
    # the weights in their own dtype, "master" keeps a float32 copy of the ZO block as the iterate,
    # "stochastic" rounds the update stochastically. Left out of a run's identity while "plain"
    # (RunDescription.to_dict), so runs described before it existed keep their hashes.
    zo_precision: str = "plain"
    # how the in-place ZO step of a torch model draws a Gaussian direction (zo.gaussian_split): "sequential"
    # from the step's generator, entry after entry; "split" as independently seeded chunks on all threads (the
    # same distribution, other numbers). Left out of a run's identity while "sequential", like zo_precision.
    zo_stream: str = "sequential"

    def __post_init__(self):
        _choice("method", self.method, tuple(METHODS))
        _choice("sample order", self.order, ORDERS)
        _choice("update", self.update, UPDATES)
        _choice("fo_point", self.fo_point, FO_POINTS)
        _choice("ZO estimator form", self.form, FORMS)
        for block, mode in zip("xy", METHODS[self.method]):
            eta = getattr(self, f"eta_{block}")
            if not isinstance(eta, (int, float)) or not math.isfinite(eta):
                raise ValueError(f"eta_{block} must be a finite number, got {eta!r}")
            if mode == "frozen" and eta != 0:
                raise ValueError(f"method {self.method} keeps {block} frozen: eta_{block} must be 0, got {eta}")
            # a ZO block at step size 0 is a control: its forward passes run, its weights move only by the
            # rounding of perturb-and-restore (the claim test's hybrid at eta_x = 0 against FO-PEFT)
            if mode != "frozen" and not (eta > 0 or (mode == "zo" and eta == 0)):
                raise ValueError(f"method {self.method} updates {block}: eta_{block} must be positive, got {eta}")
        if self.fo_point != "clean" and METHODS[self.method] != ("zo", "fo"):
            raise ValueError(
                f"fo_point {self.fo_point!r} needs a ZO x block and an FO y block "
                f"(method hybrid), got method {self.method}"
            )
        if not isinstance(self.epochs, int) or self.epochs < 0:
            raise ValueError(f"epochs must be a non-negative integer, got {self.epochs!r}")
        if not (isinstance(self.mu, (int, float)) and math.isfinite(self.mu) and self.mu > 0):
            raise ValueError(f"the smoothing radius mu must be a finite positive number, got {self.mu!r}")
        if not isinstance(self.q, int) or self.q < 1:
            raise ValueError(f"the number of ZO directions q must be an integer >= 1, got {self.q!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if not (isinstance(self.divergence_factor, (int, float)) and self.divergence_factor > 1):
            raise ValueError(f"divergence_factor must be a number > 1, got {self.divergence_factor!r}")
        _choice("zo_precision", self.zo_precision, ZO_PRECISIONS)
        if self.zo_precision != "plain" and "zo" not in self.modes:
            raise ValueError(f"zo_precision {self.zo_precision!r} needs a ZO block; method {self.method} has none")
        check_stream(self.zo_stream, self.form)
        if self.zo_stream != "sequential" and "zo" not in self.modes:
            raise ValueError(f"zo_stream {self.zo_stream!r} needs a ZO block; method {self.method} has none")

    @property
    def modes(self) -> tuple[BlockMode, BlockMode]:
        return METHODS[self.method]


def config_step_limits(objective: Objective, config: HybridSGDConfig) -> tuple[StepLimit, ...]:
    """The step-size limits that ``objective``'s known constants set for the rules and step sizes of ``config``."""
    return step_limits(
        objective.constants,
        modes=config.modes,
        eta_x=config.eta_x,
        eta_y=config.eta_y,
        d_x=objective.d_x,
        d_y=objective.d_y,
        n=objective.n,
        q=config.q,
    )


class ZOStep(Protocol):
    """Replaceable ZO block step: returns the new block and the estimate (an in-place variant for torch
    models may perturb and update the parameters it is given and return them)."""

    def __call__(
        self,
        loss_fn: Callable[[Tensor], Tensor],
        v: Tensor,
        *,
        eta: float,
        mu: float,
        form: Form,
        q: int,
        generator: torch.Generator,
    ) -> tuple[Tensor, ZOEstimate]: ...


def zo_step(
    loss_fn: Callable[[Tensor], Tensor],
    v: Tensor,
    *,
    eta: float,
    mu: float,
    form: Form,
    q: int,
    generator: torch.Generator,
) -> tuple[Tensor, ZOEstimate]:
    """v <- v - eta g_v with the two-point estimate g_v of THEORY 2.2 (out of place, batched)."""
    est = zo_gradient(loss_fn, v, mu=mu, form=form, q=q, generator=generator)
    return v - eta * est.grad, est


def grad_y_only(objective: Objective, x: Tensor, y: Tensor, idx) -> Tensor:
    """grad_y f_idx(x, y); a torch model leaves the x block out of autograd (no graph over the base weights)."""
    return objective.grad(x, y, idx, blocks="y")[1]


def fo_block_gradient(
    objective: Objective,
    x: Tensor,
    y: Tensor,
    idx,
    *,
    fo_point: FOPoint = "clean",
    mu: float = 0.0,
    u1: Tensor | None = None,
) -> Tensor:
    """The adapter gradient of THEORY 2.3 at x (the FO read point): clean grad_y f_i(x, y); plus
    grad_y f_i(x + mu u_1, y); sym the average of grad_y f_i(x +- mu u_1, y)."""
    if fo_point == "clean":
        return grad_y_only(objective, x, y, idx)
    if u1 is None:
        raise ValueError(f"fo_point {fo_point!r} needs the first ZO direction u_1 (an out-of-place ZO step)")
    if fo_point == "plus":
        return grad_y_only(objective, x + mu * u1, y, idx)
    if fo_point == "sym":
        return 0.5 * (grad_y_only(objective, x + mu * u1, y, idx) + grad_y_only(objective, x - mu * u1, y, idx))
    raise ValueError(f"unknown fo_point {fo_point!r}; accepted: {', '.join(FO_POINTS)}")


def records_start_loss(config: HybridSGDConfig) -> bool:
    """Whether ``hybrid_step`` with ``info`` records f_i at the start point from its own gradient's forward:
    an FO x block (the joint gradient at (x, y)), or a frozen x with the adapter's clean Jacobi gradient."""
    x_mode, y_mode = config.modes
    clean_y = y_mode == "fo" and config.update == "jacobi" and config.fo_point == "clean"
    return x_mode == "fo" or (x_mode == "frozen" and clean_y)


def hybrid_step(
    objective: Objective,
    x: Tensor,
    y: Tensor,
    idx,
    config: HybridSGDConfig,
    generator: torch.Generator,
    *,
    zo_block_step: ZOStep = zo_step,
    info: dict | None = None,
    fo_x_update: Callable[[Tensor, Tensor, float], Tensor] | None = None,
) -> tuple[Tensor, Tensor]:
    """One inner step of THEORY 2.1 on sample(s) ``idx``: returns the new (x, y).

    ``info``, when given, receives what the step measured: ``zo_x`` / ``zo_y`` (the ZO estimates),
    ``grad_y`` (the adapter gradient used) and, where ``records_start_loss(config)``, ``loss``: f_i(x, y) from
    the forward of the step's own gradient, for per-step records. ``fo_x_update(x, grad_x, eta_x)`` replaces
    the out-of-place FO update of x, x - eta_x grad_x (``engine.model_step.sgd_in_place``: the same bits, in
    place).

    Under Jacobi with fo_point clean the adapter gradient is taken before x moves, so an in-place ZO step
    (which overwrites x) still gives the Jacobi update; plus and sym read x again after the ZO step and
    therefore need an out-of-place step (or one that restores x before returning).
    """
    x_mode, y_mode = config.modes
    c = config
    u1 = est = None
    gy = None
    # the gradient's own forward gives f_i at the start point: no second forward to record it
    want_loss = info is not None and records_start_loss(c)
    if x_mode == "fo":
        if want_loss:
            info["loss"], gx, gy_joint = objective.value_and_grad(x, y, idx)
        else:
            gx, gy_joint = objective.grad(x, y, idx)
        gy = gy_joint if c.update == "jacobi" else None  # one gradient call serves both blocks
        x_new = x - c.eta_x * gx if fo_x_update is None else fo_x_update(x, gx, c.eta_x)
    else:
        if y_mode == "fo" and c.update == "jacobi" and c.fo_point == "clean":
            if want_loss:
                info["loss"], _, gy = objective.value_and_grad(x, y, idx, blocks="y")
            else:
                gy = grad_y_only(objective, x, y, idx)
        if x_mode == "zo":
            x_new, est = zo_block_step(
                lambda xx: objective.loss(xx, y, idx), x, eta=c.eta_x, mu=c.mu, form=c.form, q=c.q, generator=generator
            )
            u1 = est.u[0] if est.u is not None else None
            if info is not None:
                info["zo_x"] = est
        else:
            x_new = x
    x_read = x_new if c.update == "gauss_seidel" else x
    if y_mode == "fo":
        if gy is None and x_mode == "zo" and getattr(est, "fo_grad", None) is not None:
            gy = est.fo_grad  # taken by an in-place ZO step at its perturbed point(s): fo_point plus / sym
        if gy is None:
            gy = fo_block_gradient(objective, x_read, y, idx, fo_point=c.fo_point, mu=c.mu, u1=u1)
        y_new = y - c.eta_y * gy
    elif y_mode == "zo":
        y_new, est_y = zo_block_step(
            lambda yy: objective.loss(x_read, yy, idx), y, eta=c.eta_y, mu=c.mu, form=c.form, q=c.q, generator=generator
        )
        if info is not None:
            info["zo_y"] = est_y
    else:
        y_new = y
    if info is not None and gy is not None:
        info["grad_y"] = gy
    return x_new, y_new


__all__ = [
    "FO_POINTS",
    "METHODS",
    "UPDATES",
    "HybridSGDConfig",
    "fo_block_gradient",
    "grad_y_only",
    "hybrid_step",
    "zo_step",
]
