"""Hybrid ZO/FO steps on more than one process (CPU, gloo; the same code runs on any torch backend).

Launch the runnable example, a data-parallel hybrid run on a tiny LoRA MLP that prints the loss:

    torchrun --nproc-per-node 2 -m hybridsmooth.distributed.train --steps 20
    python -m hybridsmooth.distributed.train --steps 20          # one process: the same losses to rounding
    python -m hybridsmooth.distributed.curvature --procs 2       # L_x of the sharded toy (or --problem llm:...)

or, from Python, ``launch.spawn_gloo(fn, world, *args)`` (what the tests and benchmarks/dp_step.py use).

Modules, one job each:

* ``comm``: rank/world, the batch-size-weighted mean over ranks, sharded dot products;
* ``data_parallel``: ``dp_model_step``, ``engine.model_step`` on a ``ReplicaObjective`` (same direction
  everywhere; the two perturbed losses and grad_y all-reduced);
* ``sharded``: FSDP2 (``fully_shard`` on a CPU mesh): the in-place seed trick on each rank's local shards,
  noise keyed by (run seed, epoch, step, shard index);
* ``directions``: q directions spread over ranks, with an exact restore (an in-place one lets replicas drift);
* ``lanczos``: the top Hessian eigenvalue with shards of the Lanczos vectors (a basis capped by memory, partial
  re-orthogonalisation), finite-difference HVPs;
* ``toy``: the tiny model and data; ``train`` and ``curvature``: the entry points; ``launch``: process start-up
  and teardown.

Reproducibility: a run is reproducible for a fixed mesh. Data parallelism gives the same result on any
number of ranks up to float rounding (the reduced losses add the same terms in another order), and replicas
stay bitwise identical. Sharded noise is the concatenation of the shards' draws, so it depends on the world
size and the sharded modules: the same mesh replays the same run, bitwise; another mesh size gives another,
equally valid, random direction. Direction parallelism keys each direction on its own, so its result does
not depend on the mesh at all.
"""

from .comm import all_dot, rank_world, weighted_mean
from .data_parallel import ReplicaObjective, dp_model_step
from .directions import direction_parallel_step
from .lanczos import fd_hvp, sharded_block_norm, sharded_gradient, sharded_lanczos
from .launch import close_process_group, spawn_gloo
from .sharded import local_examples, replay_directions, shard_transformer, sharded_hybrid_step, sharded_zo_step

__all__ = [
    "ReplicaObjective",
    "all_dot",
    "close_process_group",
    "direction_parallel_step",
    "dp_model_step",
    "fd_hvp",
    "local_examples",
    "rank_world",
    "replay_directions",
    "shard_transformer",
    "sharded_block_norm",
    "sharded_gradient",
    "sharded_hybrid_step",
    "sharded_lanczos",
    "sharded_zo_step",
    "spawn_gloo",
    "weighted_mean",
]
