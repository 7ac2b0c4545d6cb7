"""User data files (``llm:...,data=PATH``): every bad file is refused with one line naming the file, the line
and the problem; the rules are those of ``hybridsmooth.data.sources`` (integer labels exactly 0..C-1 with
every class present, or class names; never a mix, never other numbers)."""

import pytest

from hybridsmooth.data import load_labelled_file, load_task, sample_splits
from hybridsmooth.errors import UsageError

HEADER = "sentence\tlabel\n"


def _tsv(tmp_path, body, name="data.tsv", header=HEADER):
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


def _refused(path, *parts, task="sentiment"):
    with pytest.raises(UsageError) as err:
        load_labelled_file(path, task=task)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    for part in parts:
        assert part in message, message
    return message


def test_a_stray_label_is_refused_not_read_as_an_eighth_class(tmp_path):
    path = _tsv(tmp_path, "good\t1\nbad\t0\nodd\t7\nfine\t1\n")
    _refused(path, "line 4", "label 7", "0..C-1", "no row has label 2")


@pytest.mark.parametrize(
    "label, line_part",
    [
        ("0.5", "'0.5' is not an integer"),
        ("1e3", "is not an integer"),
        ("nan", "is not an integer"),
        ("", "empty label"),
        ("-1", "label -1 is negative"),
        ("12345678901234567890", "too large for a class index"),
    ],
)
def test_impossible_labels_name_their_line(tmp_path, label, line_part):
    path = _tsv(tmp_path, f"a\t0\nb\t1\nc\t{label}\nd\t0\n")
    _refused(path, "line 4", line_part)


def test_labels_without_a_zero_class_are_refused(tmp_path):
    _refused(_tsv(tmp_path, "a\t1\nb\t2\n"), "line 2", "no row has label 0")


def test_a_mix_of_names_and_integers_is_refused_at_the_odd_one(tmp_path):
    path = tmp_path / "words.csv"
    path.write_text("sentence,label\nfine film,good\ndull,bad\nmeh,1\nok,good\n")
    _refused(path, "line 4", "label '1' is an integer but the other labels are names")


def test_a_row_with_an_extra_field_is_refused(tmp_path):
    # pandas took the first column as an index here, so that every "sentence" became the label column
    path = _tsv(tmp_path, "a\t0\nb\t1\tstray\nc\t0\n")
    _refused(path, "line 3", "3 field(s) but the header has 2", "tabs inside a sentence")
    every_row = _tsv(tmp_path, "a\t0\tx\nb\t1\ty\n", name="all.tsv")
    _refused(every_row, "line 2", "3 field(s)")


def test_a_row_with_a_missing_field_is_refused(tmp_path):
    _refused(_tsv(tmp_path, "a\t0\nonly a sentence\nc\t1\n"), "line 3", "1 field(s) but the header has 2")


def test_an_unclosed_quote_in_a_csv_is_named(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('sentence,label\n"open quote,0\nb,1\n')
    _refused(path, "a quote that is never closed")


def test_empty_and_header_only_files_are_named(tmp_path):
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    _refused(empty, "is empty", "header")
    _refused(_tsv(tmp_path, "", name="head.tsv"), "has a header but no rows")
    _refused(_tsv(tmp_path, "", name="blank.tsv", header="\n\n"), "is empty")


def test_empty_sentences_and_repeated_columns_are_refused(tmp_path):
    _refused(_tsv(tmp_path, "a\t0\n  \t1\n"), "line 3", "empty sentence")
    _refused(
        _tsv(tmp_path, "a\t0\t1\n", name="twice.tsv", header="sentence\tlabel\tlabel\n"), "line 1", "'label' twice"
    )


def test_a_file_that_is_not_utf8_names_its_line(tmp_path):
    path = tmp_path / "latin.tsv"
    path.write_bytes("sentence\tlabel\nok\t0\ncaf\xe9\t1\n".encode("latin-1"))
    _refused(path, "line 3", "not UTF-8")


def test_good_files_still_load(tmp_path):
    path = _tsv(tmp_path, 'a\t0\n\nb "q"\t1\r\nc\t 1 \n')  # blank line, CRLF, padded label
    texts, labels, names = load_labelled_file(path)
    assert texts == ["a", 'b "q"', "c"] and labels == [0, 1, 1] and names == ("negative", "positive")
    three = _tsv(tmp_path, "a\t0\nb\t1\nc\t2\n", name="three.tsv")
    assert load_labelled_file(three)[2] == ("0", "1", "2")  # C = 3 is not sentiment's 2: digit names
    csv = tmp_path / "q.csv"
    csv.write_text('sentence,label\n"a, quoted, sentence",pos\nplain,neg\n')
    assert load_labelled_file(csv) == (["a, quoted, sentence", "plain"], [1, 0], ("neg", "pos"))


def test_load_task_refuses_a_bad_file_before_sampling(tmp_path):
    path = _tsv(tmp_path, "".join(f"t{i}\t{i % 2}\n" for i in range(10)) + "x\t7\n")
    with pytest.raises(UsageError, match="line 12: label 7"):
        load_task("sentiment", data=str(path), sizes=(4, 2, 2))


def test_sample_splits_refuses_labels_outside_the_names_and_fractional_sizes():
    with pytest.raises(UsageError, match="label 2 is not a class index 0..1"):
        sample_splits(["a", "b", "c"], [0, 1, 2], ("n", "p"), sizes=(1, 0, 0))
    with pytest.raises(UsageError, match="three integers"):
        sample_splits(["a", "b"], [0, 1], ("n", "p"), sizes=(1.5, 0, 0))
