"""Cost of the training core's steps on one model and one minibatch: time and peak memory, as ratios.

Every operation runs the project's own code path on the same ModuleObjective and the same minibatch:

* ``forward``     one forward pass without a graph (``objective.loss`` under no_grad): the inference reference;
* ``2 forwards``  two of them back to back: the time reference of a ZO step;
* ``zo regen``    ``zo.inplace.zo_step_inplace`` over every base-weight tensor (the objective's per-tensor
                  views of x), noise regenerated from (run seed, epoch, step) [MeZO's seed trick];
* ``zo regen before`` the same step with each tensor's Gaussian noise drawn whole before it is added (the former
                  step; the same numbers: ``zo.gaussian_chunks``; only when asked for);
* ``zo buffer``   the same step with the noise drawn once into a buffer (one extra copy of x);
* ``zo rademacher`` the regenerating step with Rademacher directions (form spsa), packed 64 signs per draw,
                  adjacent tensors drawn as one (``zo.flat_runs``); on a model whose word embedding only its
                  lookup reads (MiniLM, an untied LLaMA) the two measuring moves touch only the batch's rows
                  of it (``zo.read_rows``): what ``train_model`` runs;
* ``zo rademacher before`` the same step tensor by tensor with every row moved (the former step; only when
                  asked for);
* ``zo split``    the regenerating Gaussian step with the split stream (``zo.gaussian_split``: independently
                  seeded chunks drawn and added on all threads; the same distribution, other numbers);
* ``zo buffer split`` the split stream's direction drawn once per step into a buffer, on all threads;
* ``fo-peft``     ``optim.hybrid_sgd.hybrid_step`` with method fo_peft (x out of autograd); the loss that
                  ``train_model`` records comes from the gradient's own forward;
* ``fo-peft before`` the same step after a separate no-grad forward that recorded the loss (the former
                  ``train_model`` step; only when asked for; ``fo-full before`` likewise);
* ``hybrid``      ``hybrid_step`` with method hybrid and the in-place ZO block step of
                  ``engine.model_step.inplace_zo_block_step`` (regenerated noise): what ``train_model`` runs;
* ``hybrid before`` the same with whole Gaussian draws (the former step; only when asked for);
* ``hybrid plus`` the same with the adapter gradient from the ZO step's own forward at x + mu u (fo_point plus);
* ``hybrid rad+plus`` fo_point plus with Rademacher directions: the cheapest hybrid step (rows read, as above);
* ``hybrid rad+plus before`` the same with the former ZO step (only when asked for);
* ``hybrid split+plus`` fo_point plus with the split Gaussian stream;
* ``fo-full``     ``hybrid_step`` with method fo_full (the gradient of every weight), for contrast, its update
                  of x in place as ``train_model`` makes it (``engine.model_step.sgd_in_place``);
* ``fo-full copy`` the same with the update of x out of place and copied into the live weights (before);
* ``fo-full scaled`` the same with the gradient multiplied by its minibatch weight 1.0 into a fresh vector
                  (before; only when asked for).

Time: one warm-up of each, then ``--reps`` round-robin repetitions (interleaved, so a busy neighbour on a
shared host slows every operation alike); medians reported. Peak memory: on CUDA
``torch.cuda.max_memory_allocated`` with a reset before each operation (it counts every live tensor:
weights, batch, activations, noise). On the CPU each operation runs in a FRESH subprocess that loads the
model, builds the batch, resets the RSS high-water mark and runs the operation twice; its peak is the bytes
of the model's tensors (parameters + buffers: what the CUDA number counts too) plus the peak RSS growth
over the two calls (see ``benchmarks/_memory.py``). Outside a kept heap glibc is told to return every
allocation over 128 KiB to the kernel when freed (``MALLOC_MMAP_THRESHOLD_``), so freed-but-cached heap
cannot hide growth.

Heap (``--heap``): ``train_model`` runs its steps under glibc's own thresholds (``default``). ``--heap
keep,default`` also times every operation with freed memory kept in the heap (``curvature.heap``, what the
eigen-solvers run with), in the same rounds, each operation once untimed in its block before its timed call,
and prints each one's keep / default ratio of time and of peak memory. Measured: only FO-Full gains (SmolLM2
0.96x time, MiniLM about 0.83x) and every step holds 1.1-2.0x the memory, so training keeps glibc's thresholds.

    .venv/bin/python benchmarks/training_core.py                       # SmolLM2-135M + LoRA r=8, 16 x 64, fp32
    .venv/bin/python benchmarks/training_core.py --quick               # tiny-llama, < 1 minute
    .venv/bin/python -m benchmarks.training_core --llama 1.3b --device cuda --dtype bfloat16   # see gpu_check.sh
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script (benchmarks/ on sys.path) or with -m from the repo root
    sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from benchmarks._memory import start_rss_window  # noqa: E402
from hybridsmooth.curvature import heap  # noqa: E402

OPERATIONS = (
    "forward",
    "2 forwards",
    "zo regen",
    "zo regen before",
    "zo buffer",
    "zo rademacher",
    "zo split",
    "zo buffer split",
    "fo-peft",
    "hybrid",
    "hybrid before",
    "hybrid plus",
    "hybrid rad+plus",
    "hybrid split+plus",
    "fo-full",
    "fo-full copy",
    "zo rademacher before",
    "hybrid rad+plus before",
    "fo-peft before",
    "fo-full before",
    "fo-full scaled",
)
# the code paths a change replaced, timed beside their successors only when asked for
ON_REQUEST = (
    "zo regen before",
    "hybrid before",
    "fo-full copy",
    "zo rademacher before",
    "hybrid rad+plus before",
    "fo-peft before",
    "fo-full before",
    "fo-full scaled",
)
# random LLaMA shapes for --llama (weights drawn by transformers' own init; no checkpoint needed)
LLAMA_SHAPES = {
    # 1.3B LLaMA-shaped (OpenLLaMA/ TinyLlama-like widths, untied embeddings): 1,345,423,360 base weights
    "1.3b": dict(
        hidden_size=2048,
        num_hidden_layers=24,
        num_attention_heads=16,
        num_key_value_heads=16,
        intermediate_size=5504,
        vocab_size=32000,
        tie_word_embeddings=False,
    ),
    # a tiny one to prove the code path on the CPU
    "tiny": dict(
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        intermediate_size=128,
        vocab_size=1000,
        tie_word_embeddings=False,
    ),
}
MIB = 2**20
HEAPS = ("default", "keep")
HEAP_LABELS = {"default": "glibc's own thresholds, as train_model runs", "keep": "freed memory kept in the heap"}


# --- the objective ----------------------------------------------------------------------------------------
def _pad_to_width(batch: dict, width: int, pad_id: int) -> dict:
    """Left-pad a prompt batch to exactly ``width`` tokens, so every run measures B x T tokens."""
    ids, mask = batch["input_ids"], batch["attention_mask"]
    extra = width - ids.shape[1]
    if extra <= 0:
        return batch
    pad = torch.full((ids.shape[0], extra), pad_id, dtype=ids.dtype, device=ids.device)
    return dict(batch, input_ids=torch.cat([pad, ids], 1), attention_mask=torch.cat([torch.zeros_like(pad), mask], 1))


def _synthetic_batch(vocab: int, batch_size: int, length: int, seed: int) -> dict:
    g = torch.Generator().manual_seed(seed)
    return {
        "input_ids": torch.randint(0, vocab, (batch_size, length), generator=g),
        "attention_mask": torch.ones(batch_size, length, dtype=torch.long),
        "labels": torch.randint(0, 2, (batch_size,), generator=g),
    }


def _random_llama(shape: str, *, dtype: torch.dtype, device: str, seed: int):
    """A LLaMA of the named shape with transformers' random init, built directly in ``dtype`` on ``device``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(max_position_embeddings=2048, **LLAMA_SHAPES[shape])
    cfg._attn_implementation = "eager"
    torch.manual_seed(seed)  # transformers' init draws from the global generator; fixed for reproducibility
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            net = LlamaForCausalLM(cfg)
    finally:
        torch.set_default_dtype(previous)
    return net


def build_objective(args):
    """(objective, description) for the arguments: a named model / checkpoint with real tweets (padded to
    exactly batch x length tokens), or a random LLaMA shape / any checkpoint with synthetic token ids."""
    from hybridsmooth.objectives.llm import (
        DTYPES,
        add_adapter,
        causal_scores,
        cross_entropy_loss,
        is_adapter_name,
        is_base_name,
        make_llm_objective,
    )
    from hybridsmooth.objectives.llm_models import LoadedModel, load_model
    from hybridsmooth.objectives.module import ModuleObjective

    dtype = DTYPES[args.dtype]
    if args.llama is None and args.tokens == "real":
        obj = make_llm_objective(
            model=args.model,
            adapter="lora",
            n_train=args.batch_size,
            n_dev=0,
            n_test=0,
            batch_size=args.batch_size,
            max_length=args.max_length,
            lora_r=args.lora_r,
            seed=args.seed,
            dtype=args.dtype,
            device=args.device,
        )
        pad = obj.tokenizer.pad_token_id if obj.tokenizer.pad_token_id is not None else obj.tokenizer.eos_token_id
        obj.batches[0] = _pad_to_width(obj.batches[0], args.max_length, pad)
        return obj, obj.description + "; real tweets"
    if args.llama is not None:
        net = _random_llama(args.llama, dtype=dtype, device=args.device, seed=args.seed)
        loaded = LoadedModel(net, None, True, f"random LLaMA {args.llama} ({_shape_text(args.llama)})")
    else:
        loaded = load_model(args.model, num_labels=2, seed=args.seed)
        if not loaded.causal:
            raise SystemExit("error: --tokens synthetic needs a causal LM (prompt scores at the last position)")
    vocab = int(loaded.model.config.vocab_size)
    net = add_adapter(loaded, "lora", lora_r=args.lora_r, seed=args.seed)
    net = net.to(device=args.device, dtype=dtype)  # peft may keep the adapter in float32: one dtype for both blocks
    label_ids = [vocab // 3, 2 * vocab // 3]  # any two tokens: the loss shape is what is measured
    loss = cross_entropy_loss(causal_scores(label_ids, use_positions=True, keep_last=True))
    batch = _synthetic_batch(vocab, args.batch_size, args.max_length, args.seed)
    obj = ModuleObjective(
        net,
        [batch],
        loss,
        is_x=is_base_name,
        is_y=is_adapter_name,
        allow_frozen=True,
        name="llm",
        spec=f"llm:model={args.llama or args.model},adapter=lora",
    )
    return obj, loaded.description + "; synthetic token ids"


def _shape_text(shape: str) -> str:
    s = LLAMA_SHAPES[shape]
    return (
        f"hidden {s['hidden_size']}, {s['num_hidden_layers']} layers, {s['num_attention_heads']} heads, "
        f"intermediate {s['intermediate_size']}, vocab {s['vocab_size']}, "
        f"{'tied' if s['tie_word_embeddings'] else 'untied'} embeddings"
    )


# --- the operations ---------------------------------------------------------------------------------------
def _tensor_by_tensor(on: bool):
    """Run the wrapped operation with the former Rademacher step: noise drawn tensor by tensor (no merged
    runs of adjacent tensors); ``zo_rows="all"`` or ``rows=None`` at the call site moves every row."""

    def wrap(fn):
        if not on:
            return fn

        def run() -> None:
            from hybridsmooth.zo import flat_runs

            merge = flat_runs.merge_adjacent
            flat_runs.merge_adjacent = lambda params, rows: (list(params), list(rows))
            try:
                fn()
            finally:
                flat_runs.merge_adjacent = merge

        return run

    return wrap


def _whole_gaussian(fn: Callable[[], None]) -> Callable[[], None]:
    """Run the wrapped operation with the former Gaussian noise: each tensor's direction drawn whole, then added."""

    def run() -> None:
        from hybridsmooth.zo import inplace

        chunk = inplace.GAUSSIAN_CHUNK
        inplace.GAUSSIAN_CHUNK = 1 << 62
        try:
            fn()
        finally:
            inplace.GAUSSIAN_CHUNK = chunk

    return run


def _scaled_gradient(fn: Callable[[], None]) -> Callable[[], None]:
    """Run the wrapped operation with the former gradient: a single minibatch's gradient multiplied by its
    weight 1.0 into a fresh vector."""

    def run() -> None:
        from hybridsmooth.objectives import module

        scaled = module._scaled
        module._scaled = lambda g, w: g * w
        try:
            fn()
        finally:
            module._scaled = scaled

    return run


def make_operations(obj, *, mu: float, eta_x: float, eta_y: float, seed: int) -> dict[str, Callable[[], None]]:
    """name -> a zero-argument callable running one step (or forward) of the training core on sample 0."""
    from hybridsmooth.engine.model_step import inplace_zo_block_step, sgd_in_place
    from hybridsmooth.optim.hybrid_sgd import HybridSGDConfig, hybrid_step
    from hybridsmooth.rng import zo_generator
    from hybridsmooth.zo.inplace import zo_step_inplace

    x_views = list(obj.x_layout.views(obj.x).values())
    counter = iter(range(10**9))  # a fresh (epoch 0, step k) for every call: new noise each time

    def forward() -> None:
        with torch.no_grad():
            float(obj.loss(obj.x, obj.y, 0))

    def two_forwards() -> None:
        forward()
        forward()

    found = getattr(obj, "embedding_rows", None)
    read_rows = found.rows(obj.batches[0], len(x_views)) if found is not None else None

    def zo(mode: str, form: str = "central", rows: str = "all", stream: str = "sequential") -> Callable[[], None]:
        @_tensor_by_tensor(rows == "before")
        def run() -> None:
            zo_step_inplace(
                x_views,
                lambda: obj.loss(obj.x, obj.y, 0),
                mu=mu,
                eta=eta_x,
                run_seed=seed,
                epoch=0,
                step=next(counter),
                noise_mode=mode,
                form=form,
                rows=read_rows if rows == "read" else None,
                stream=stream,
            )

        return run

    def step(
        method: str,
        form: str = "central",
        fo_point: str = "clean",
        in_place: bool = True,
        zo_rows: str = "read",
        stream: str = "sequential",
    ) -> Callable[[], None]:
        config = HybridSGDConfig(
            method=method,
            eta_x=0.0 if method == "fo_peft" else eta_x,
            eta_y=eta_y,
            mu=mu,
            seed=seed,
            form=form,
            fo_point=fo_point,
        )

        def run() -> None:
            k = next(counter)
            zo_fn = inplace_zo_block_step(
                obj, noise_mode="regenerate", fo_point=fo_point, idx=0, zo_rows=zo_rows, stream=stream
            )
            x_new, y_new = hybrid_step(
                obj,
                obj.x,
                obj.y,
                0,
                config,
                zo_generator(seed, 0, k, obj.device),
                zo_block_step=zo_fn,
                fo_x_update=sgd_in_place if in_place else None,
            )
            with torch.no_grad():  # as train_model does: x in place, an FO update of y out of place
                if x_new is not obj.x:
                    obj.x.copy_(x_new)
                if y_new is not obj.y:
                    obj.y.copy_(y_new)

        return run

    return {
        "forward": forward,
        "2 forwards": two_forwards,
        "zo regen": zo("regenerate"),
        "zo regen before": _whole_gaussian(zo("regenerate")),
        "zo buffer": zo("buffer"),
        "zo rademacher": zo("regenerate", "spsa", "read"),
        "zo rademacher before": zo("regenerate", "spsa", "before"),
        "zo split": zo("regenerate", stream="split"),
        "zo buffer split": zo("buffer", stream="split"),
        "fo-peft": step("fo_peft"),
        "hybrid": step("hybrid"),
        "hybrid before": _whole_gaussian(step("hybrid")),
        "hybrid plus": step("hybrid", fo_point="plus"),
        "hybrid rad+plus": step("hybrid", "spsa", "plus"),
        "hybrid rad+plus before": _tensor_by_tensor(True)(step("hybrid", "spsa", "plus", zo_rows="all")),
        "hybrid split+plus": step("hybrid", fo_point="plus", stream="split"),
        "fo-full": step("fo_full"),
        "fo-full copy": step("fo_full", in_place=False),
        "fo-peft before": _after(forward, step("fo_peft")),
        "fo-full before": _after(forward, step("fo_full")),
        "fo-full scaled": _scaled_gradient(step("fo_full")),
    }


def _after(first: Callable[[], None], then: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        first()
        then()

    return run


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_operations(
    ops: dict, names: list[str], *, reps: int, device: str, heaps: tuple[str, ...] = ("default",)
) -> dict[str, dict[str, list[float]]]:
    """Seconds per call under each heap setting: one warm-up each, then ``reps`` interleaved rounds (every
    setting in every round). fo-full (the contrast, both updates) runs in a phase of its own after the others: on the
    shared 2-core CPU host we saw every later operation slow down 2-4x after a full-gradient step (it touches
    3-4x the memory), which would bias the ratios of the steps users run."""
    full = [n for n in names if n.startswith("fo-full")]
    if full and len(full) < len(names):
        rest = [n for n in names if n not in full]
        first = time_operations(ops, rest, reps=reps, device=device, heaps=heaps)
        last = time_operations(ops, full, reps=reps, device=device, heaps=heaps)
        return {h: {**first[h], **last[h]} for h in heaps}
    samples: dict[str, dict[str, list[float]]] = {h: {n: [] for n in names} for h in heaps}
    for rnd in range(reps + 1):
        for h in heaps:
            for n in names:
                with heap_setting(h, device):
                    if h == "keep":
                        ops[n]()  # a kept heap starts afresh in each block: one untimed call, as the step before
                    _sync(device)
                    t0 = time.perf_counter()
                    ops[n]()
                    _sync(device)
                    seconds = time.perf_counter() - t0
                    if rnd > 0:
                        samples[h][n].append(seconds)
                    else:
                        print(f"  warm-up {n} (heap {h}): {seconds:.3f}s", file=sys.stderr, flush=True)
        if rnd > 0:
            print(f"  round {rnd}/{reps} done", file=sys.stderr, flush=True)
    return samples


@contextlib.contextmanager
def heap_setting(mode: str, device: str):
    """``keep``: freed memory stays in the heap for the block (``curvature.heap``, what the eigen-solvers run
    with); ``default``: glibc's own thresholds, as ``train_model`` runs its steps. A kept heap is handed back
    when its block ends, so each operation runs once untimed in its block first: the timed call sees the
    heap a step of the same kind left, as in a run."""
    if mode == "keep":
        with heap.switched(True), heap.retained_heap(device):
            yield
    else:
        with heap.switched(False):
            yield


def model_tensor_bytes(obj) -> int:
    """Bytes of the model's parameters and buffers (each storage once) plus the minibatch."""
    seen, total = set(), 0
    tensors = [p for p in obj.model.parameters()] + [b for b in obj.model.buffers()]
    tensors += [obj.x, obj.y] + [v for v in obj.batches[0].values() if isinstance(v, torch.Tensor)]
    for t in tensors:
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key not in seen:
            seen.add(key)
            total += storage.nbytes()
    return total


def cuda_peaks(ops: dict, names: list[str]) -> dict[str, int]:
    """max_memory_allocated of each operation (reset before it; the operation already warmed up)."""
    peaks = {}
    for n in names:
        gc.collect()
        torch.cuda.empty_cache()
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        ops[n]()
        torch.cuda.synchronize()
        peaks[n] = int(torch.cuda.max_memory_allocated())
    return peaks


def _probe(args) -> int:
    """Child process: peak RSS growth of one operation as one JSON line, over two calls under the heap
    setting ``--probe-heap`` (the first call included: a kept heap would hide the second call's growth)."""
    torch.set_num_threads(args.threads)
    obj, _ = build_objective(args)
    ops = make_operations(obj, mu=args.mu, eta_x=args.eta_x, eta_y=args.eta_y, seed=args.seed)
    op = ops[args.probe]
    gc.collect()
    with heap_setting(args.probe_heap, "cpu"):
        window = start_rss_window()
        op()
        op()
        growth = window.growth_bytes()
    print(
        "PROBE "
        + json.dumps(
            {"op": args.probe, "growth": growth, "model": model_tensor_bytes(obj), "resettable": window.resettable}
        ),
        flush=True,
    )
    return 0


def cpu_peaks(
    names: list[str], argv: list[str], heaps: tuple[str, ...]
) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, int]], bool]:
    """Per heap setting: (peak = model tensors + RSS growth, growth) per operation, each in a fresh subprocess."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="131072", MALLOC_TRIM_THRESHOLD_="131072")
    peaks, growth, resettable = {h: {} for h in heaps}, {h: {} for h in heaps}, True
    for h in heaps:
        for n in names:
            cmd = [sys.executable, "-m", "benchmarks.training_core", *argv, "--probe", n, "--probe-heap", h]
            out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
            lines = [ln for ln in out.stdout.splitlines() if ln.startswith("PROBE ")]
            if out.returncode != 0 or not lines:
                tail = (out.stderr or out.stdout).strip().splitlines()[-3:]
                raise SystemExit(f"error: memory probe for {n!r} failed (exit {out.returncode}): {' | '.join(tail)}")
            rec = json.loads(lines[-1][len("PROBE ") :])
            growth[h][n] = rec["growth"]
            peaks[h][n] = rec["model"] + rec["growth"]
            resettable &= rec["resettable"]
            print(f"  memory probe {n} (heap {h}): +{rec['growth'] / MIB:.0f} MiB", file=sys.stderr, flush=True)
    return peaks, growth, resettable


# --- the report -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ratio:
    label: str
    num: str
    den: str
    goal: float | None


TIME_RATIOS = (
    Ratio("ZO step (regenerate) / 2 forwards", "zo regen", "2 forwards", None),
    Ratio("ZO step (buffer) / 2 forwards", "zo buffer", "2 forwards", None),
    Ratio("ZO step (Rademacher, regenerate) / 2 forwards", "zo rademacher", "2 forwards", None),
    Ratio("hybrid step / FO-PEFT step", "hybrid", "fo-peft", None),
    Ratio("hybrid step (fo-point plus) / FO-PEFT step", "hybrid plus", "fo-peft", None),
    Ratio("hybrid step (Rademacher, plus) / FO-PEFT", "hybrid rad+plus", "fo-peft", None),
    Ratio("ZO step (Gaussian split, regenerate) / 2 forwards", "zo split", "2 forwards", None),
    Ratio("ZO step (Gaussian), split / sequential stream", "zo split", "zo regen", None),
    Ratio("ZO step (buffer), split / sequential stream", "zo buffer split", "zo buffer", None),
    Ratio("hybrid step (Gaussian split, plus) / FO-PEFT", "hybrid split+plus", "fo-peft", None),
    Ratio("hybrid step (Gaussian, plus), split / sequential stream", "hybrid split+plus", "hybrid plus", None),
    Ratio("FO-full step / FO-PEFT step (contrast)", "fo-full", "fo-peft", None),
    Ratio("FO-full step, x in place / out of place + copy", "fo-full", "fo-full copy", None),
    Ratio("ZO step (Gaussian, regenerate), now / before", "zo regen", "zo regen before", None),
    Ratio("hybrid step (Gaussian), now / before", "hybrid", "hybrid before", None),
    Ratio("ZO step (Rademacher), now / before", "zo rademacher", "zo rademacher before", None),
    Ratio("hybrid step (Rademacher, plus), now / before", "hybrid rad+plus", "hybrid rad+plus before", None),
    Ratio("FO-PEFT step with its loss record, now / before", "fo-peft", "fo-peft before", None),
    Ratio("FO-full step with its loss record, now / before", "fo-full", "fo-full before", None),
    Ratio("FO-full step, gradient passed through / scaled by 1.0 (before)", "fo-full", "fo-full scaled", None),
)
MEMORY_RATIOS = (
    Ratio("ZO step (regenerate) / inference", "zo regen", "forward", 1.10),
    Ratio("ZO step (regenerate, whole Gaussian draws: before) / inference", "zo regen before", "forward", None),
    Ratio("ZO step (buffer) / inference", "zo buffer", "forward", None),
    Ratio("ZO step (Rademacher, regenerate) / inference", "zo rademacher", "forward", 1.10),
    Ratio("ZO step (Gaussian split, regenerate) / inference", "zo split", "forward", 1.10),
    Ratio("hybrid step / FO-PEFT step", "hybrid", "fo-peft", 1.10),
    Ratio("hybrid step (whole Gaussian draws: before) / FO-PEFT step", "hybrid before", "fo-peft", None),
    Ratio("hybrid step (Rademacher, plus) / FO-PEFT", "hybrid rad+plus", "fo-peft", 1.10),
    Ratio("FO-full step / FO-PEFT step (contrast)", "fo-full", "fo-peft", None),
    Ratio("FO-full step, x in place / out of place + copy", "fo-full", "fo-full copy", None),
)


def _time_goals(device: str) -> dict[tuple[str, str], float]:
    # the goals set for the training core: on the CPU buffered ZO <= 1.3 and regenerating (cheapest noise)
    # <= 1.2 x two forwards, a hybrid step <= 1.3 x an FO-PEFT step; regenerating <= 1.15 on a GPU
    hybrid = {("hybrid plus", "fo-peft"): 1.3, ("hybrid rad+plus", "fo-peft"): 1.3}
    if device == "cpu":
        return {("zo buffer", "2 forwards"): 1.3, ("zo rademacher", "2 forwards"): 1.2, **hybrid}
    return {("zo regen", "2 forwards"): 1.15, **hybrid}


def print_report(*, times, peaks, growth, names, device, cpu_note) -> None:
    med = {n: statistics.median(v) for n, v in times.items()}
    print()
    print(f"{'operation':<12} {'median s':>9} {'min s':>9} {'max s':>9} {'peak MiB':>10} {'growth MiB':>11}")
    for n in names:
        v = times.get(n)
        row = f"{n:<12} "
        row += f"{med[n]:9.4f} {min(v):9.4f} {max(v):9.4f} " if v else f"{'-':>9} {'-':>9} {'-':>9} "
        row += f"{peaks[n] / MIB:10.1f} " if n in peaks else f"{'-':>10} "
        row += f"{growth[n] / MIB:11.1f}" if n in growth else f"{'-':>11}"
        print(row)
    goals = _time_goals(device)

    def line(r: Ratio, table: dict, goal: float | None) -> None:
        if r.num not in table or r.den not in table:
            return
        value = table[r.num] / table[r.den]
        verdict = "" if goal is None else f"   goal <= {goal:.2f}: {'met' if value <= goal else 'NOT met'}"
        print(f"  {r.label:<54} {value:7.3f}{verdict}")

    print("\ntime ratios (medians, measured side by side)")
    for r in TIME_RATIOS:
        line(r, med, goals.get((r.num, r.den)))
    if peaks:
        print(f"\npeak memory ratios ({cpu_note})")
        for r in MEMORY_RATIOS:
            line(r, peaks, r.goal)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="smollm2", help="smollm2 (default), tiny-llama, or a checkpoint folder")
    p.add_argument(
        "--llama",
        choices=tuple(LLAMA_SHAPES),
        default=None,
        help="a random LLaMA of this shape instead of --model (synthetic token ids)",
    )
    p.add_argument("--tiny", action="store_true", help="same as --llama tiny")
    p.add_argument(
        "--tokens",
        choices=("real", "synthetic"),
        default="real",
        help="real tweets (named models) or random token ids (any causal LM; --llama forces it)",
    )
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--lora-r", type=int, default=8)
    p.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32")
    p.add_argument("--device", default="cpu")
    p.add_argument("--reps", type=int, default=3, help="timed rounds after one warm-up (median reported)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--ops",
        default=",".join(n for n in OPERATIONS if n not in ON_REQUEST),  # the old code paths only when asked for
        help=f"comma-separated among: {', '.join(OPERATIONS)} (default: all but {', '.join(ON_REQUEST)})",
    )
    p.add_argument(
        "--memory",
        choices=("on", "off"),
        default=None,
        help="peak-memory probes (default on; off with --quick, where the CPU probes' imports dominate)",
    )
    p.add_argument("--quick", action="store_true", help="tiny-llama, 2 rounds, no memory probes: under a minute")
    p.add_argument("--mu", type=float, default=1e-3)
    p.add_argument("--eta-x", type=float, default=1e-6)
    p.add_argument("--eta-y", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--heap",
        default="default",
        help="default (glibc's thresholds, as train_model runs), keep (freed memory kept in the heap, as the "
        "eigen-solvers run), or keep,default measured side by side",
    )
    p.add_argument("--probe", choices=OPERATIONS, default=None, help=argparse.SUPPRESS)
    p.add_argument("--probe-heap", choices=HEAPS, default="default", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.tiny:
        args.llama = "tiny"
    if args.memory is None:
        args.memory = "off" if args.quick else "on"
    if args.quick:
        args.model, args.reps = ("tiny-llama" if args.llama is None else args.model), min(args.reps, 2)
    if args.llama is not None:
        args.tokens = "synthetic"
    names = [n.strip() for n in args.ops.split(",") if n.strip()]
    bad = [n for n in names if n not in OPERATIONS]
    if bad or not names:
        p.error(f"--ops takes names among {', '.join(OPERATIONS)}; got {bad or 'none'}")
    if args.reps < 1 or args.batch_size < 1 or args.max_length < 8 or args.threads < 1:
        p.error("need --reps >= 1, --batch-size >= 1, --max-length >= 8, --threads >= 1")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        p.exit(
            2,
            f"error: --device {args.device} needs a CUDA GPU, but torch.cuda.is_available() is False "
            f"(torch {torch.__version__}, built for CUDA {torch.version.cuda}); run on a GPU machine or pass "
            "--device cpu\n",
        )
    heaps = tuple(dict.fromkeys(h.strip() for h in args.heap.split(",") if h.strip()))
    if not heaps or set(heaps) - set(HEAPS):
        p.error(f"--heap takes a comma list among {', '.join(HEAPS)}; got {args.heap!r}")
    args.names, args.heaps = names, heaps
    return args


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.probe is not None:
        return _probe(args)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    obj, description = build_objective(args)
    load_s = time.perf_counter() - t0
    batch = obj.batches[0]["input_ids"]
    print("# command:", " ".join([Path(sys.argv[0]).name if sys.argv[0] else "training_core", *argv]))
    print(
        f"# model: {description}; LoRA r={args.lora_r} (q,k,v,o), d_x={obj.d_x:,} base weights, "
        f"d_y={obj.d_y:,} adapter weights"
    )
    print(
        f"# batch: {batch.shape[0]} x {batch.shape[1]} tokens; dtype {obj.dtype}; device {obj.device}; "
        f"torch {torch.__version__}; {torch.get_num_threads()} threads; load {load_s:.1f}s"
    )
    if obj.device.type == "cuda":
        print(f"# gpu: {torch.cuda.get_device_name(obj.device)}")
    print(
        f"# timing: 1 warm-up + {args.reps} interleaved rounds; mu={args.mu:g}, eta_x={args.eta_x:g}, "
        f"eta_y={args.eta_y:g}",
        flush=True,
    )
    ops = make_operations(obj, mu=args.mu, eta_x=args.eta_x, eta_y=args.eta_y, seed=args.seed)
    times = time_operations(ops, args.names, reps=args.reps, device=args.device, heaps=args.heaps)
    empty = {h: {} for h in args.heaps}
    peaks, growth, note = empty, empty, ""
    mem_names = [n for n in args.names if n != "2 forwards"]
    if args.memory == "on" and obj.device.type == "cuda":
        peaks = {h: cuda_peaks(ops, mem_names) for h in args.heaps}  # the heap setting is a CPU matter
        note = "torch.cuda.max_memory_allocated, reset before each operation"
    elif args.memory == "on":
        # the CPU probes take minutes on a big model: the timings are printed first, in case they are cut off
        report(args, times, empty, empty, "")
        print("\n# memory probes (one fresh process per operation and heap setting) ...", flush=True)
        del ops, obj
        gc.collect()
        peaks, growth, resettable = cpu_peaks(mem_names, argv, args.heaps)
        note = "model tensors + peak RSS growth over two calls, one fresh subprocess each; RSS high-water mark " + (
            "reset before the first call" if resettable else "NOT resettable: growth is a lower bound"
        )
    report(args, times, peaks, growth, note)
    return 0


def report(args, times, peaks, growth, note) -> None:
    """The report of each heap setting, then (with two) each operation's keep / default ratios."""
    for h in args.heaps:
        if len(args.heaps) > 1:
            print(f"\n## heap {h}: " + HEAP_LABELS[h])
        print_report(
            times=times[h], peaks=peaks[h], growth=growth[h], names=args.names, device=args.device, cpu_note=note
        )
    if set(args.heaps) == {"keep", "default"}:
        print("\nheap keep / default, per operation (time medians; peaks)")
        for n in args.names:
            t = statistics.median(times["keep"][n]) / statistics.median(times["default"][n])
            m = f"{peaks['keep'][n] / peaks['default'][n]:7.3f}" if n in peaks["default"] else f"{'-':>7}"
            print(f"  {n:<16} time {t:7.3f}   peak {m}")


if __name__ == "__main__":
    sys.exit(main())
