"""Offline labelled text data: fixed, seeded train/dev/test splits (see sources.py for what ships)."""

from .sources import DEFAULT_SIZES, LABEL_NAMES, TASKS, load_bbc, load_labelled_file, load_task, load_tweets
from .splits import DataSplits, Split, sample_splits

__all__ = [
    "DEFAULT_SIZES",
    "LABEL_NAMES",
    "TASKS",
    "DataSplits",
    "Split",
    "load_bbc",
    "load_labelled_file",
    "load_task",
    "load_tweets",
    "sample_splits",
]
