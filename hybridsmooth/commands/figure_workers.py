"""The runs of several figures side by side in worker processes (``figures --workers N``, ``demo --workers N``).

Figures that train a common run (Fig 3's runs are Fig 6's first panel and Fig 7's curves) go to one worker, in
registry order: a run folder admits one writer at a time, and under ``--rerun`` a run counts as fresh only in
the process that made it. Each group is one task of a process pool, largest group first, so a worker that
finishes early takes the next group. Workers are spawned (not forked: torch's thread pools do not survive a
fork) with the parent's torch thread count. A figure's numbers do not depend on the process it runs in:
every run is seeded and every objective starts from its stored initial weights. Plots are drawn afterwards,
in the parent, from the stored tables.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path


def figure_groups(selected, configs: Mapping[str, dict]) -> list[list]:
    """The selected experiments in groups that share no training run (by content hash), each group in
    selection order; an experiment that lists no runs is a group of its own."""
    parent = list(range(len(selected)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    owner: dict[str, int] = {}
    for i, e in enumerate(selected):
        runs = e.runs(configs[e.name]) if e.implemented and e.runs is not None else []
        for d in runs:
            j = owner.setdefault(d.content_hash(), i)
            parent[root(i)] = root(j)
    groups: dict[int, list] = {}
    for i, e in enumerate(selected):
        groups.setdefault(root(i), []).append(e)
    return list(groups.values())


def _run_group(names: list[str], configs: dict, runs_dir: str, rerun: bool, threads: int) -> dict[str, float]:
    """In a worker: run each named figure into its tables folder; seconds per figure."""
    import torch

    from .. import experiments as ex
    from ..experiments import figure_runs
    from ..experiments.registry import CONFIG_FILE

    torch.set_num_threads(threads)
    figure_runs.fresh_runs(rerun)
    seconds = {}
    for name in names:
        t0 = time.perf_counter()
        tables_dir = Path(runs_dir) / name
        # the config is written last by a run, so a run that fails leaves no stale "complete" marker
        (tables_dir / CONFIG_FILE).unlink(missing_ok=True)
        ex.EXPERIMENTS[name].run(configs[name], tables_dir)
        seconds[name] = time.perf_counter() - t0
    return seconds


def run_in_workers(
    to_run,
    configs: Mapping[str, dict],
    runs_dir: Path,
    *,
    rerun: bool,
    workers: int,
    threads: int,
    say: Callable[[str], None] = print,
) -> dict[str, float]:
    """Run the experiments ``to_run`` in at most ``workers`` processes (see the module docstring); returns the
    seconds each figure's run took. A run that raises stops the pool and raises here."""
    groups = sorted(figure_groups(to_run, configs), key=len, reverse=True)
    n = min(int(workers), len(groups))
    say(f"running {len(to_run)} figures in {n} worker processes ({len(groups)} groups that share no run) ...")
    done: dict[str, float] = {}
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=n, mp_context=ctx) as pool:
        futures = {
            pool.submit(
                _run_group,
                [e.name for e in g],
                {e.name: dict(configs[e.name]) for e in g},
                str(runs_dir),
                bool(rerun),
                int(threads),
            ): g
            for g in groups
        }
        try:
            for fut in as_completed(futures):
                for name, sec in fut.result().items():
                    done[name] = sec
                    say(f"  {name}: run in {sec:.1f} s ({len(done)}/{len(to_run)})")
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    return done
