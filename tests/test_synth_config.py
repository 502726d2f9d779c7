"""SynthConfig validation: wrong keys and values fail with one clear line."""

from __future__ import annotations

import pytest

from scenetext.errors import ScenetextError
from scenetext.synth.config import UNION14M_CATEGORIES, SynthConfig, parse_categories


def test_from_dict_rejects_unknown_key_in_one_line():
    with pytest.raises(ScenetextError) as info:
        SynthConfig.from_dict({"lang": "en", "hieght": 32})
    message = str(info.value)
    assert "'hieght'" in message and "\n" not in message


def test_from_dict_round_trip_and_defaults():
    config = SynthConfig.from_dict({"lang": "zh", "seed": 7, "categories": {"curve": 1, "general": 3}})
    assert config.charset == "zh"
    assert config.mix == [("general", 0.75), ("curve", 0.25)]
    assert SynthConfig.from_dict(config.to_dict()) == config
    assert SynthConfig().charset == "en94"


@pytest.mark.parametrize(
    "data",
    [
        {"lang": "fr"},
        {"height": 8},
        {"width": 10},
        {"seed": -1},
        {"categories": {"curvy": 1.0}},
        {"categories": {"curve": 0.0}},
    ],
)
def test_bad_values_are_rejected(data):
    with pytest.raises(ScenetextError):
        SynthConfig.from_dict(data)


def test_parse_categories():
    assert parse_categories("curve,general") == {"curve": 1.0, "general": 1.0}
    assert parse_categories("curve=2, salient=0.5") == {"curve": 2.0, "salient": 0.5}
    with pytest.raises(ScenetextError, match="unknown category"):
        parse_categories("bent")
    assert set(SynthConfig().categories) == set(UNION14M_CATEGORIES)
