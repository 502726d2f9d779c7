import pytest

from scenetext.engine.metrics import RecognitionMetrics
from scenetext.engine.protocols import PROTOCOLS, normalize_text
from scenetext.errors import ScenetextError


@pytest.mark.parametrize(
    ("protocol", "text", "expected"),
    [
        ("en36", "Hello, World!", "helloworld"),
        ("en36", "Straße 42", "strae42"),
        ("en36", "?!.", ""),
        ("case-sensitive", "Hello, World!", "HelloWorld"),
        ("case-sensitive", " --- ", ""),
        ("en94", "Hello, World! café", "Hello,World!caf"),
        ("en94", "a\tb\u3000c", "abc"),
        ("zh", "ABC def", "abcdef"),
        ("zh", "ＡＢＣ１２３！（）", "abc123!()"),
        ("zh", "國語開發臺灣", "国语开发台湾"),
        ("zh", "中文 Text", "中文text"),
    ],
)
def test_normalize_text(protocol, text, expected):
    assert normalize_text(text, protocol) == expected


def test_zh_ideographic_space_survives_as_ascii_space():
    # Spaces are removed before full-width conversion (the reference order), so U+3000 becomes " " and stays.
    assert normalize_text("中\u3000国", "zh") == "中 国"
    assert normalize_text("中 国", "zh") == "中国"


def test_zh_traditional_prediction_matches_simplified_truth():
    metrics = RecognitionMetrics(protocol="zh")
    metrics.update(["學習", "ｈｅｌｌｏ"], ["学习", "Hello"])
    assert metrics.compute()["accuracy"] == 100.0


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_empty_ground_truth_correct_only_with_empty_prediction(protocol):
    gt = {"en36": "?!", "case-sensitive": "-.-", "en94": " \u00e9 ", "zh": "  "}[protocol]
    metrics = RecognitionMetrics(protocol=protocol)
    metrics.update(["", "x"], [gt, gt])
    result = metrics.compute()
    assert result["correct"] == 1 and result["n"] == 2
    assert result["by_length"][0]["n"] == 2


def test_unknown_protocol():
    with pytest.raises(ScenetextError, match="protocol 'english'"):
        normalize_text("a", "english")
