"""The MeZO in-place seed trick on a list of parameter tensors (THEORY 2.2, [MEZO]).

One ZO step on the block x (any list of tensors: a model's base weights, or flat vectors), never storing
a copy of x. For each direction j = 1..q, from a private generator (seeded by (run_seed, epoch, step), or the
one the step schedule hands a training loop):

    perturb   x <- x + mu u_j                      (u_j regenerated tensor by tensor)
    forward   L+ = loss()
    perturb   x <- x - 2 mu u_j                    (central / spsa; forward form: x <- x - mu u_j, restore)
    forward   L- = loss()
    step      phi_j = (L+ - L-)/(2 mu)             (forward form: (L+ - L0)/mu, L0 = loss() at x, once;
                                                   ``projected_gradient``, the formula of ``zo_gradient_along``)
    perturb   x <- x + mu u_j                      (restore)
    update    x <- x - (eta/q) sum_j phi_j u_j     (u_j regenerated again)

Two noise modes, same numbers from the same seed:

* ``regenerate`` (memory-optimal, MeZO): u_j is never stored; the generator state before u_j is saved (a
  few bytes) and u_j is redrawn tensor by tensor when needed. The restore of the LAST direction is fused
  with its update, add_((mu - eta phi_q/q) u_q), so with q = 1 the central noise is generated 3 times per
  step, not 4 (forward form: 2, not 3). Earlier directions cannot fuse: every phi_j must be measured at
  the same base point x, so their updates wait until all q are measured.
* ``buffer``: u_j is drawn once into a buffer (one extra copy of x per direction) and reused.

The spsa form's Rademacher u_j stays packed in both modes (``zo.signs``: 64 signs per generator draw, added in
cache-sized chunks), so its regeneration costs a fraction of a Gaussian one and its buffer 1/32 of x (float32).
In precision plain it also draws runs of adjacent views as one tensor (``zo.flat_runs``: the same signs) and
can move only the rows the loss reads for the measuring forwards (``rows``; ``zo.read_rows``). A regenerated
Gaussian u_j of a float32 or float64 CPU tensor over 2^20 entries is drawn while it is added, a chunk at a
time (``zo.gaussian_chunks``: the bits of the whole draw), so the step holds no whole tensor of noise.

Two Gaussian streams (``stream``): ``sequential`` (default) draws u_j from the step's generator entry after
entry, on one core; ``split`` (``zo.gaussian_split``) draws a base seed from it and u_j as independently seeded
chunks, drawn and added on all the CPU's threads. Same distribution, other numbers for the same seed.

Both modes draw u_j tensor by tensor in the order of ``params`` with each tensor's own shape, dtype and
device, and apply the identical sequence of ``add_`` calls, so their results agree bitwise. For a single
flat tensor and q = 1 the direction is bitwise the one ``zo_gradient`` draws from the same generator;
the in-place gradient itself agrees with ``zo_gradient`` only to rounding, because x - mu u is reached
as (x + mu u) - 2 mu u in place, not computed fresh (see ``zo.inplace_reference.reference_step``).

An exception inside ``loss`` (or anywhere in the step) restores x before it propagates (try/finally),
to rounding: x + mu u - mu u is x up to a few ulp of |x| + mu |u| (check 16).
"""

# Over 450 lines on purpose: perturb, restore and update of one step share the private _PerturbedBlock state
# and its two precision variants; splitting them would expose that state across modules.
from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from ..rng import zo_generator
from .estimators import Form, check_form, check_mu, check_q, draw_directions, projected_gradient
from .gaussian_chunks import CHUNK as GAUSSIAN_CHUNK
from .gaussian_chunks import GaussianDraw, chunks_apply
from .gaussian_split import SplitDraw, add_split, check_stream, materialize_split, split_directions
from .precision import (
    CoordinateSample,
    RoundingSample,
    check_precision,
    rounding_sample,
    rounding_seed,
    stochastic_round,
)
from .signs import PackedSigns, add_direction, as_tensor, draw_signs

NoiseMode = Literal["regenerate", "buffer"]
NOISE_MODES: tuple[str, ...] = ("regenerate", "buffer")

LossClosure = Callable[[], "Tensor | float"]


@dataclass(frozen=True)
class InplaceStep:
    """One in-place ZO step: phi, L+ and L- per direction (L- is f(x) for the forward form), f(x) when
    the forward form evaluated it, how many times the noise was generated for each tensor, and seconds."""

    phi: tuple[float, ...]
    loss_plus: tuple[float, ...]
    loss_minus: tuple[float, ...]
    loss_at_x: float | None
    noise_draws: int
    seconds: float
    # what rounding did to the step, on the probe's coordinates (only when a probe was given)
    rounding: RoundingSample | None = None


# --- the four verbs ---------------------------------------------------------------------------------


def noise(
    params: Sequence[Tensor],
    *,
    form: Form,
    generator: torch.Generator,
    state: Tensor | None = None,
    packed: bool = False,
    lazy: bool = False,
    stream: str = "sequential",
) -> Iterator[Tensor | PackedSigns | GaussianDraw | SplitDraw]:
    """u tensor by tensor in the order of ``params`` (same shape/dtype/device as each), drawn from
    ``generator`` after setting it to ``state`` (the regeneration point) when given. ``packed``: the spsa
    form's signs stay packed (``zo.signs``; the same values, added in chunks by ``perturb``). ``lazy``: a
    Gaussian direction of a tensor longer than a chunk is drawn while it is added, a chunk at a time, where
    that gives the same numbers (``zo.gaussian_chunks``); each must be used before the next is asked for.
    ``stream`` split: a Gaussian u is the split stream's (``zo.gaussian_split``), drawn when it is used, or
    drawn whole when ``lazy`` is False."""
    if state is not None:
        generator.set_state(state)
    if stream == "split" and form != "spsa":
        draws = split_directions([p.shape for p in params], generator=generator, dtypes=[p.dtype for p in params])
        yield from (draws if lazy else materialize_split(draws))
        return
    for p in params:
        if packed and form == "spsa":
            yield draw_signs(tuple(p.shape), generator=generator, dtype=p.dtype, device=p.device)
        elif (
            lazy
            and form != "spsa"
            and p.numel() > GAUSSIAN_CHUNK
            and p.is_contiguous()
            and chunks_apply(p.device, p.dtype)
        ):
            u = GaussianDraw(tuple(p.shape), generator=generator, dtype=p.dtype)
            yield u
            if not u.drawn:  # the next draw would take this one's numbers
                raise RuntimeError("a lazy Gaussian direction was skipped; it must be added before the next is drawn")
        else:
            yield draw_directions(tuple(p.shape), form=form, generator=generator, dtype=p.dtype, device=p.device)


def perturb(params: Sequence[Tensor], directions: Iterator | Sequence, scale: float) -> None:
    """x <- x + scale * u in place, one tensor at a time (so at most one tensor of noise is alive; a chunk of it
    for packed signs and lazy Gaussian draws); a split-stream direction in one pass over all the tensors' chunks
    on all threads (its draws take nothing from a generator when used, so they can be gathered first)."""
    directions = iter(directions)
    first = next(directions, None)
    with torch.no_grad():
        if isinstance(first, SplitDraw):
            draws = [first, *directions]
            if len(draws) != len(params):
                raise ValueError(f"{len(params)} tensors but {len(draws)} directions")
            add_split(params, draws, scale)
            return
        # the sequential draws stay lazy: each must be added before the next is drawn
        for p, u in zip(params, itertools.chain(() if first is None else (first,), directions), strict=True):
            add_direction(p, u, scale)


def forward(loss: LossClosure) -> float:
    """Evaluate the loss closure without building a graph; it must return a scalar."""
    with torch.no_grad():
        value = loss()
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"the loss closure must return a scalar, got shape {tuple(value.shape)}")
        value = value.item()
    return float(value)


def update(params: Sequence[Tensor], directions: Iterator | Sequence, coefficient: float) -> None:
    """x <- x + coefficient * u (coefficient = -eta phi / q, or mu - eta phi / q when fused with a restore)."""
    perturb(params, directions, coefficient)


# --- the step ---------------------------------------------------------------------------------------


def _hooked(hook: LossClosure) -> float:
    value = hook()
    return float(value.item() if isinstance(value, Tensor) else value)


def _check_params(params: Sequence[Tensor]) -> list[Tensor]:
    params = list(params)
    if not params or not all(isinstance(p, Tensor) for p in params):
        raise ValueError("params must be a non-empty list of tensors")
    if not all(p.is_floating_point() for p in params):
        raise ValueError("params must be floating-point tensors")
    if len({id(p) for p in params}) != len(params):
        raise ValueError("params lists the same tensor twice; it would be perturbed twice")
    if len({p.device for p in params}) != 1:
        raise ValueError(f"params must share one device (one generator), got {sorted({str(p.device) for p in params})}")
    return params


class _PerturbedBlock:
    """The block during one step: x = x0 + offset * u_current, with the directions u_1..u_q drawn tensor by
    tensor from ``generator`` and kept in buffers (``buffer``) or redrawn from the generator state saved
    before each (``regenerate``). ``draws`` counts the generations of noise."""

    def __init__(
        self, params: list[Tensor], *, form: Form, generator: torch.Generator, buffered: bool, stream="sequential"
    ):
        self.params, self.form, self.generator, self.buffered = params, form, generator, buffered
        self.stream = stream
        self.states: list[Tensor] = []
        self.buffers: list[list[Tensor]] = []
        self.draws = 0
        self.offset, self.current = 0.0, -1

    def new_direction(self) -> None:
        """Direction j = current + 1: save its regeneration point (buffer mode: draw it once, now)."""
        self.states.append(self.generator.get_state())
        if self.buffered:
            self.buffers.append(
                list(noise(self.params, form=self.form, generator=self.generator, packed=True, stream=self.stream))
            )
            self.draws += 1
        self.current = len(self.states) - 1

    def directions(self, j: int, capture: tuple | None = None) -> Iterator[Tensor] | list[Tensor]:
        """u_j tensor by tensor; ``capture`` = (probe, list) also records u_j on the probe's coordinates."""
        if self.buffered:
            out = self.buffers[j]
        else:
            self.draws += 1
            out = noise(
                self.params,
                form=self.form,
                generator=self.generator,
                state=self.states[j],
                packed=True,
                lazy=True,
                stream=self.stream,
            )
        return out if capture is None else capture[0].tap(out, capture[1])

    def settle(self, update: float, capture: tuple | None = None) -> None:
        """Restore fused with the update along u_current: x <- x0 + ``update`` u_current (one generation)."""
        perturb(self.params, self.directions(self.current, capture), -self.offset + update)
        self.offset = 0.0

    def add_along(self, j: int, coefficient: float, capture: tuple | None = None) -> None:
        """x <- x + coefficient u_j (the update of an earlier direction, once all phi_j are measured)."""
        update(self.params, self.directions(j, capture), coefficient)

    def move(self, scale: float, *, offset: float) -> None:
        """x <- x + scale * u_current, after which x = x0 + ``offset`` * u_current."""
        perturb(self.params, self.directions(self.current), scale)
        self.offset = offset

    def restore(self) -> None:
        if self.offset != 0.0:
            perturb(self.params, self.directions(self.current), -self.offset)
            self.offset = 0.0


class _MasterBlock(_PerturbedBlock):
    """ZO precision ``master``: float32 ``masters`` (shaped like the weights) are the iterate x; the weights
    only receive rounded copies, w = fl(x32 + offset u), so the restore is a copy and exact, and the update
    x32 <- x32 + c u is applied in float32. The directions are drawn with the masters' dtype."""

    def __init__(self, weights: list[Tensor], masters: list[Tensor], **kw):
        super().__init__(masters, **kw)
        self.weights = weights

    def _write(self, directions, *, offset: float, update: float = 0.0) -> None:
        with torch.no_grad():
            for w, m, u in zip(self.weights, self.params, directions, strict=True):
                u = as_tensor(u)
                if update != 0.0:
                    m.add_(u, alpha=update)
                w.copy_(m if offset == 0.0 else torch.add(m, u, alpha=offset))

    def move(self, scale: float, *, offset: float) -> None:
        if offset == 0.0:  # back to x: a copy, no noise needed
            self.restore()
            return
        self._write(self.directions(self.current), offset=offset)
        self.offset = offset

    def settle(self, update: float, capture: tuple | None = None) -> None:
        self._write(self.directions(self.current, capture), offset=0.0, update=update)
        self.offset = 0.0

    def add_along(self, j: int, coefficient: float, capture: tuple | None = None) -> None:
        self._write(self.directions(j, capture), offset=0.0, update=coefficient)

    def restore(self) -> None:
        with torch.no_grad():
            for w, m in zip(self.weights, self.params, strict=True):
                w.copy_(m)
        self.offset = 0.0


class _StochasticBlock(_PerturbedBlock):
    """ZO precision ``stochastic``: as ``plain``, but every move that carries an update (the restore fused
    with it) is computed in a wider dtype and rounded stochastically into the weights (seeded), so the
    update survives in expectation without a copy of x."""

    def __init__(self, params: list[Tensor], *, rounding: torch.Generator, **kw):
        super().__init__(params, **kw)
        self.rounding = rounding

    def _round_add(self, directions, coefficient: float) -> None:
        with torch.no_grad():
            for p, u in zip(self.params, directions, strict=True):
                wide = torch.float32 if p.dtype in (torch.bfloat16, torch.float16) else torch.float64
                v = torch.add(p.to(wide), as_tensor(u).to(wide), alpha=coefficient)
                p.copy_(stochastic_round(v, p.dtype, self.rounding))

    def settle(self, update: float, capture: tuple | None = None) -> None:
        self._round_add(self.directions(self.current, capture), -self.offset + update)
        self.offset = 0.0

    def add_along(self, j: int, coefficient: float, capture: tuple | None = None) -> None:
        self._round_add(self.directions(j, capture), coefficient)


def _make_block(
    params, *, form, generator, noise_mode, precision, master, rows=None, merge=True, stream="sequential"
) -> _PerturbedBlock:
    kw = dict(form=form, generator=generator, buffered=noise_mode == "buffer")
    if stream != "sequential":  # the spsa form's signs have one stream (_check_step_options refuses another)
        kw["stream"] = stream
    if rows is not None and (form != "spsa" or precision != "plain"):
        raise ValueError(
            f"rows: only the spsa form in precision plain moves rows alone bitwise as the whole tensor "
            f"(got form {form}, precision {precision})"
        )
    if form == "spsa" and precision == "plain":
        from .read_rows import plain_spsa_block

        return plain_spsa_block(params, rows=rows, merge=merge, **kw)
    if precision == "master":
        masters = _check_params(master) if master is not None else None
        if masters is None or [m.shape for m in masters] != [p.shape for p in params]:
            raise ValueError("ZO precision master needs ``master``: one float32 tensor per parameter, same shapes")
        return _MasterBlock(params, masters, **kw)
    if precision == "stochastic":
        rounding = torch.Generator(device=params[0].device)
        rounding.manual_seed(rounding_seed(generator))
        return _StochasticBlock(params, rounding=rounding, **kw)
    return _PerturbedBlock(params, **kw)


def _measure(
    block: _PerturbedBlock,
    loss: LossClosure,
    *,
    mu: float,
    form: Form,
    f0: float | None,
    at_plus: LossClosure | None,
    at_minus: LossClosure | None,
) -> tuple[float, float]:
    """L+ = f(x + mu u_j) and L- = f(x - mu u_j) (forward form: f0) along a new direction u_j; leaves the
    block at x + mu u_j (forward) or x - mu u_j."""
    block.new_direction()
    block.move(mu, offset=mu)
    loss_plus = _hooked(at_plus) if at_plus is not None else forward(loss)
    if form == "forward":
        return loss_plus, f0
    block.move(-2 * mu, offset=-mu)
    return loss_plus, _hooked(at_minus) if at_minus is not None else forward(loss)


def _check_step_options(
    *, mu, eta, form, q, noise_mode, at_minus, stream="sequential"
) -> tuple[float, float, Form, int]:
    if at_minus is not None and check_form(form) == "forward":
        raise ValueError("at_minus needs a two-sided form (central or spsa): the forward form has no x - mu u")
    mu, q, form = check_mu(mu), check_q(q), check_form(form)
    check_stream(stream, form)
    eta = float(eta)
    if not math.isfinite(eta):
        raise ValueError(f"the step size eta must be a finite number, got {eta!r}")
    if noise_mode not in NOISE_MODES:
        raise ValueError(f"unknown noise mode {noise_mode!r}; accepted: {', '.join(NOISE_MODES)}")
    return mu, eta, form, q


def zo_step_inplace(
    params: Sequence[Tensor],
    loss: LossClosure,
    *,
    mu: float,
    eta: float,
    run_seed: int,
    epoch: int,
    step: int,
    form: Form = "central",
    q: int = 1,
    noise_mode: NoiseMode = "regenerate",
    loss_at_x: float | None = None,
    at_plus: LossClosure | None = None,
    at_minus: LossClosure | None = None,
    rows: Sequence[Tensor | None] | None = None,
    stream: str = "sequential",
) -> InplaceStep:
    """One in-place ZO step x <- x - (eta/q) sum_j phi_j u_j on ``params`` (see the module docstring), its
    noise from ``zo_generator(run_seed, epoch, step)`` on the device of ``params``: ``zo_step_inplace_from``
    with that generator."""
    _check_step_options(mu=mu, eta=eta, form=form, q=q, noise_mode=noise_mode, at_minus=at_minus, stream=stream)
    params = _check_params(params)  # after the options, whose errors come first
    return zo_step_inplace_from(
        zo_generator(run_seed, epoch, step, device=params[0].device),
        params,
        loss,
        mu=mu,
        eta=eta,
        form=form,
        q=q,
        noise_mode=noise_mode,
        loss_at_x=loss_at_x,
        at_plus=at_plus,
        at_minus=at_minus,
        rows=rows,
        stream=stream,
    )


def zo_step_inplace_from(
    generator: torch.Generator,
    params: Sequence[Tensor],
    loss: LossClosure,
    *,
    mu: float,
    eta: float,
    form: Form = "central",
    q: int = 1,
    noise_mode: NoiseMode = "regenerate",
    loss_at_x: float | None = None,
    at_plus: LossClosure | None = None,
    at_minus: LossClosure | None = None,
    precision: str = "plain",
    master: Sequence[Tensor] | None = None,
    probe: CoordinateSample | None = None,
    rows: Sequence[Tensor | None] | None = None,
    stream: str = "sequential",
) -> InplaceStep:
    """One in-place ZO step x <- x - (eta/q) sum_j phi_j u_j on ``params``, u_1..u_q drawn from ``generator``
    (on the device of ``params``) from its current state on; the step advances it.

    ``loss`` is a closure that evaluates f_i at the current values of ``params`` on a fixed sample; it is
    called under ``torch.no_grad()`` (it may enable grad inside itself). ``loss_at_x`` supplies f_i(x) for
    the forward form when the caller already has it (e.g. from the clean first-order pass).

    ``at_plus`` / ``at_minus`` replace the loss evaluation at x + mu u_1 / x - mu u_1 (first direction
    only): each is called there, with grad enabled, and returns f_i. A caller uses them to take the other
    block's first-order gradient at the perturbed point from the same forward pass (fo_point plus / sym,
    THEORY 2.3), which saves the separate forward a clean-point gradient costs.

    ``precision`` (``zo.precision``): ``plain`` moves the weights in their own dtype; ``master`` keeps the
    iterate in ``master`` (float32 tensors shaped like ``params``) and writes rounded copies into the
    weights (exact restore); ``stochastic`` rounds the update stochastically. ``probe``, a fixed sample of
    coordinates, adds what rounding did to the step (``InplaceStep.rounding``) at the cost of a few
    gathers: the sampled u_j are read while the update regenerates them anyway.

    ``rows`` (form spsa, precision plain, no probe; ``zo.read_rows``): per parameter, None or the rows the
    loss reads; the measuring moves skip the other rows, the update moves them all.

    ``stream`` (Gaussian forms): ``sequential`` or ``split`` (module docstring; ``zo.gaussian_split``).
    """
    mu, eta, form, q = _check_step_options(
        mu=mu, eta=eta, form=form, q=q, noise_mode=noise_mode, at_minus=at_minus, stream=stream
    )
    params = _check_params(params)
    t0 = time.perf_counter()
    kind = check_precision(precision)
    if rows is not None and probe is not None:
        raise ValueError("a rounding probe needs the dense step (rows=None)")
    block = _make_block(
        params,
        form=form,
        generator=generator,
        noise_mode=noise_mode,
        precision=kind,
        master=master,
        rows=rows,
        merge=probe is None,  # the probe's coordinates name the tensors as given
        stream=stream,
    )
    x0 = probe.gather(block.params) if probe is not None else None  # block.params: the iterate (master or weights)
    taps: list[Tensor] = []
    capture = (probe, taps) if probe is not None else None
    f0 = None
    if form == "forward":
        f0 = forward(loss) if loss_at_x is None else float(loss_at_x)
    try:
        phis, plus, minus = _directions_and_update(
            block, loss, mu=mu, eta=eta, form=form, q=q, f0=f0, at_plus=at_plus, at_minus=at_minus, capture=capture
        )
    finally:
        block.restore()
    rounding = None
    if probe is not None:
        # the updates were applied for u_q first, then u_1..u_{q-1}: the coefficients in that order
        coefs = [-eta * phis[-1] / q] + [-eta * p / q for p in phis[:-1]]
        upd = sum(c * u for c, u in zip(coefs, taps))
        dtype = block.params[0].dtype
        rounding = rounding_sample(x0, probe.gather(block.params), upd, dtype=dtype, total=probe.total)
    return InplaceStep(
        phi=tuple(phis),
        loss_plus=tuple(plus),
        loss_minus=tuple(minus),
        loss_at_x=f0,
        noise_draws=block.draws,
        seconds=time.perf_counter() - t0,
        rounding=rounding,
    )


def _directions_and_update(
    block: _PerturbedBlock, loss, *, mu, eta, form, q, f0, at_plus, at_minus, capture
) -> tuple[list[float], list[float], list[float]]:
    """Measure phi_1..phi_q at the same base point, then apply the update (module docstring)."""
    phis, plus, minus = [], [], []
    for j in range(q):
        lp, lm = _measure(
            block,
            loss,
            mu=mu,
            form=form,
            f0=f0,
            at_plus=at_plus if j == 0 else None,
            at_minus=at_minus if j == 0 else None,
        )
        phis.append(projected_gradient(lp, lm, mu=mu, form=form))
        plus.append(lp)
        minus.append(lm)
        if j < q - 1:
            block.move(-block.offset, offset=0.0)
    # restore + update of the last direction, fused: one more generation of u_q instead of two
    block.settle(-eta * phis[-1] / q, capture)
    for j in range(q - 1):
        block.add_along(j, -eta * phis[j] / q, capture)
    return phis, plus, minus
