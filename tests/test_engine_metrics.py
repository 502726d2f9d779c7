import json

import pytest

from scenetext.engine.metrics import (
    RecognitionMetrics,
    SubsetTable,
    corpus_edit_accuracy,
    edit_distance,
    length_table,
    mean_one_minus_ned,
    one_minus_ned,
    word_accuracy,
)
from scenetext.errors import ScenetextError

PREDS = ["hello", "wrld", "", "", "abcd"]
GTS = ["hello", "world", "", "ab", "abce"]


def test_single_pair_figures():
    assert edit_distance("kitten", "sitting") == 3
    assert one_minus_ned("", "") == 1.0
    assert one_minus_ned("", "ab") == 0.0
    assert one_minus_ned("wrld", "world") == pytest.approx(0.8)
    assert one_minus_ned("abcdefgh", "ab") == pytest.approx(1 - 6 / 8)  # max length, not gt length


def test_functions_on_hand_computed_batch():
    # EDs: 0, 1, 0, 2, 1; max lengths: 5, 5, 0, 2, 4
    assert word_accuracy(PREDS, GTS) == pytest.approx(2 / 5)
    assert mean_one_minus_ned(PREDS, GTS) == pytest.approx((1 + 0.8 + 1 + 0 + 0.75) / 5)
    assert corpus_edit_accuracy(PREDS, GTS) == pytest.approx(1 - 4 / 16)


def test_zero_denominators():
    assert word_accuracy([], []) == 0.0
    assert mean_one_minus_ned([], []) == 0.0
    assert corpus_edit_accuracy([], []) == 0.0
    assert corpus_edit_accuracy(["", ""], ["", ""]) == 1.0
    empty = RecognitionMetrics().compute()
    assert empty["n"] == 0 and empty["accuracy"] == 0.0 and empty["by_length"] == {}


def test_length_mismatch_is_an_error():
    with pytest.raises(ScenetextError, match="2 predictions for 1 ground truths"):
        word_accuracy(["a", "b"], ["a"])
    with pytest.raises(ScenetextError):
        RecognitionMetrics().update(["a"], [])


def test_accumulator_matches_functions_across_batches():
    metrics = RecognitionMetrics(keep_confusions=True)
    metrics.update(PREDS[:2], GTS[:2])
    metrics.update(PREDS[2:], GTS[2:])
    result = metrics.compute()
    assert result["n"] == 5 and result["correct"] == 2
    assert result["accuracy"] == pytest.approx(40.0)
    assert result["ned"] == pytest.approx(100 * 3.55 / 5)
    assert result["corpus_ed_acc"] == pytest.approx(75.0)
    assert set(result["by_length"]) == {0, 2, 4, 5}
    assert result["by_length"][5] == pytest.approx(
        {"n": 2, "correct": 1, "accuracy": 50.0, "ned": 90.0, "corpus_ed_acc": 90.0}
    )
    metrics.update(["wrld"], ["world"])
    assert metrics.top_confusions(1) == [("world", "wrld", 2)]
    assert len(metrics.top_confusions()) == 3


def test_protocol_applied_to_both_sides():
    metrics = RecognitionMetrics(protocol="en36")
    metrics.update(["HELLO!", "it's"], ["hello", "Its"])
    assert metrics.compute()["accuracy"] == 100.0
    strict = RecognitionMetrics(protocol="case-sensitive")
    strict.update(["HELLO!", "Its"], ["hello", "It's"])
    assert strict.compute()["correct"] == 1


def test_subset_table_weighted_and_unweighted():
    big = RecognitionMetrics()
    big.update(["a"] * 9 + ["x"], ["a"] * 10)  # 90 %
    table = SubsetTable(
        {"big": big, "small": {"n": 2, "accuracy": 50.0, "ned": 50.0}, "none": RecognitionMetrics()}
    )
    data = table.to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["subsets"]["big"] == {"n": 10, "accuracy": 90.0, "ned": 90.0, "corpus_ed_acc": 90.0}
    assert data["subsets"]["small"] == {"n": 2, "accuracy": 50.0, "ned": 50.0}
    weighted, unweighted = data["average"]["weighted"], data["average"]["unweighted"]
    assert weighted["accuracy"] == pytest.approx(100 * 10 / 12)  # pooled: 10 correct of 12
    assert unweighted["accuracy"] == pytest.approx(70.0)  # empty subset left out
    assert unweighted["ned"] == pytest.approx(70.0)


def test_rich_rendering():
    from rich.console import Console

    metrics = RecognitionMetrics()
    metrics.update(["ab", "c"], ["ab", "cd"])
    console = Console(record=True, width=120)
    console.print(SubsetTable({"IIIT5k": metrics}).to_rich(title="results"))
    console.print(length_table(metrics))
    text = console.export_text()
    assert "IIIT5k" in text and "average (weighted)" in text and "average (unweighted)" in text
    assert "50.00" in text and "75.00" in text
