"""Fixed train/dev/test splits of a labelled text pool, sampled the way MeZO samples SST-2.

MeZO draws k training examples (and separate dev/test sets) from the data with a seed; we do the same,
balanced per class where the pool allows: each split asks for n // C examples of each of the C classes
(the remainder going to the first classes); a class that runs short gives all it has left and the
shortfall is filled at random from the other classes. The three splits are disjoint, and the same
(pool, sizes, seed) always gives the same splits (private numpy Generator, never a global seed).
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError


@dataclass(frozen=True)
class Split:
    """One split: ``texts[i]`` has class ``labels[i]``, an index into ``label_names``."""

    texts: tuple[str, ...]
    labels: tuple[int, ...]
    label_names: tuple[str, ...]
    name: str = ""

    def __post_init__(self):
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{len(self.texts)} texts but {len(self.labels)} labels")
        bad = [y for y in self.labels if not 0 <= y < len(self.label_names)]
        if bad:
            raise ValueError(f"label {bad[0]} is outside 0..{len(self.label_names) - 1} ({self.label_names})")

    def __len__(self) -> int:
        return len(self.texts)

    def class_counts(self) -> dict[str, int]:
        counts = Counter(self.labels)
        return {name: counts.get(i, 0) for i, name in enumerate(self.label_names)}


@dataclass(frozen=True)
class DataSplits:
    """The train/dev/test splits of one task, with where they came from (and their licence terms)."""

    train: Split
    dev: Split
    test: Split
    source: str = ""


def sample_splits(
    texts: Sequence[str],
    labels: Sequence[int],
    label_names: Sequence[str],
    *,
    sizes: tuple[int, int, int] = (1000, 500, 1000),
    seed: int = 0,
    name: str = "",
    source: str = "",
) -> DataSplits:
    """Disjoint (train, dev, test) splits of the given sizes, class-balanced where possible (module docstring)."""
    try:
        sizes = tuple(operator.index(s) for s in sizes)  # 2.5 examples is an error, not 2
    except TypeError:
        raise UsageError(f"sizes must be three integers (n_train, n_dev, n_test), got {tuple(sizes)}") from None
    if len(sizes) != 3 or min(sizes) < 0 or sizes[0] < 1:
        raise UsageError(f"sizes must be (n_train >= 1, n_dev >= 0, n_test >= 0), got {sizes}")
    if len(texts) != len(labels):
        raise UsageError(f"{len(texts)} texts but {len(labels)} labels")
    n_names = len(label_names)
    bad = next((y for y in labels if not (isinstance(y, (int, np.integer)) and 0 <= y < n_names)), None)
    if bad is not None:  # such a label would silently fall out of every per-class queue
        raise UsageError(f"label {bad!r} is not a class index 0..{n_names - 1} of {tuple(label_names)}")
    if sum(sizes) > len(texts):
        raise UsageError(
            f"asked for {sum(sizes)} examples (train/dev/test = {sizes}) but the data set has "
            f"{len(texts)}; lower n_train/n_dev/n_test"
        )
    n_classes = len(label_names)
    rng = np.random.default_rng(seed)
    labels_arr = np.asarray(labels, dtype=np.int64)
    # per-class queues in a seeded random order; every split pops from their fronts
    queues = [list(rng.permutation(np.flatnonzero(labels_arr == c))) for c in range(n_classes)]
    splits = []
    for split_name, size in zip(("train", "dev", "test"), sizes):
        quota = [size // n_classes + (1 if c < size % n_classes else 0) for c in range(n_classes)]
        chosen = []
        for c in range(n_classes):
            take = min(quota[c], len(queues[c]))
            chosen += queues[c][:take]
            queues[c] = queues[c][take:]
        short = size - len(chosen)
        if short:
            rest = [i for q in queues for i in q]
            fill = rng.choice(rest, size=short, replace=False).tolist()
            chosen += fill
            taken = set(fill)
            queues = [[i for i in q if i not in taken] for q in queues]
        order = rng.permutation(len(chosen))
        chosen = [int(chosen[j]) for j in order]
        splits.append(
            Split(
                tuple(texts[i] for i in chosen),
                tuple(int(labels_arr[i]) for i in chosen),
                tuple(label_names),
                f"{name}/{split_name}" if name else split_name,
            )
        )
    return DataSplits(*splits, source=source)
