"""Recipes: YAML + dotted overrides, schema errors that name the key, resolved config round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from scenetext.engine.config import (
    config_differences,
    config_to_dict,
    load_config,
    read_yaml,
    save_config,
)
from scenetext.errors import ScenetextError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


def test_overrides_are_parsed_as_yaml_values(tmp_path: Path) -> None:
    recipe = write(tmp_path, "model:\n  name: nastr-tiny\noptim:\n  lr: 1e-3\n")
    config = load_config(
        recipe,
        [
            "optim.lr=5e-4",
            "trainer.max_steps=20",
            "trainer.gradient_clip_val=null",
            "model.options.img_size=[32, 100]",
            "data.val=[a, b]",
            "ema.enabled=true",
        ],
    )
    assert config.optim.lr == pytest.approx(5e-4)
    assert config.trainer.max_steps == 20
    assert config.trainer.gradient_clip_val is None
    assert config.model.options == {"img_size": [32, 100]}
    assert config.data.val == ["a", "b"]
    assert config.ema.enabled is True


def test_yaml_exponent_without_dot_is_a_float(tmp_path: Path) -> None:
    # YAML 1.1 reads "1e-4" as a string; the schema must still give a float.
    config = load_config(write(tmp_path, "optim:\n  lr: 1e-4\n"))
    assert isinstance(config.optim.lr, float) and config.optim.lr == pytest.approx(1e-4)


def test_override_into_a_list_item(tmp_path: Path) -> None:
    recipe = write(tmp_path, "data:\n  train:\n    - roots: [mj]\n      ratio: 0.5\n    - roots: [st]\n")
    config = load_config(recipe, ["data.train.1.ratio=0.25"])
    assert [s.ratio for s in config.data.train] == [0.5, 0.25]
    with pytest.raises(ScenetextError, match="no list item '5'"):
        load_config(recipe, ["data.train.5.ratio=0.1"])


@pytest.mark.parametrize(
    ("override", "path", "valid"),
    [
        ("trainer.max_step=3", "trainer.max_step", "max_steps"),
        ("data.label.lowercas=true", "data.label.lowercas", "lowercase"),
        ("colour=red", "colour", "trainer"),
    ],
)
def test_unknown_key_names_the_path_and_the_valid_keys(override: str, path: str, valid: str) -> None:
    with pytest.raises(ScenetextError) as info:
        load_config(None, [override])
    message = str(info.value)
    assert "\n" not in message
    assert f"unknown key {path!r}" in message
    assert valid in message.split("valid keys", 1)[1]


def test_unknown_key_inside_a_list_item(tmp_path: Path) -> None:
    recipe = write(tmp_path, "data:\n  train:\n    - roots: [a]\n      weight: 2\n")
    with pytest.raises(ScenetextError, match=r"unknown key 'data\.train\.0\.weight'.*ratio"):
        load_config(recipe)


def test_bad_values_give_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenetextError, match=r"trainer\.max_steps: .*integer.*'many'"):
        load_config(None, ["trainer.max_steps=many"])
    with pytest.raises(ScenetextError, match=r"eval\.protocol: .*'en36'"):
        load_config(None, ["eval.protocol=latin"])
    with pytest.raises(ScenetextError, match="expected key.path=value"):
        load_config(None, ["trainer.max_steps"])
    with pytest.raises(ScenetextError, match="no such config file"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ScenetextError, match=r"invalid YAML at line \d+ \(expected"):
        load_config(write(tmp_path, "model:\n  name: [unclosed\n"))


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    config = load_config(None, ["run.name=x", "optim.betas=[0.9, 0.99]", "trainer.devices=[0, 1]"])
    save_config(config, tmp_path / "run" / "config.yaml")
    again = load_config(tmp_path / "run" / "config.yaml")
    assert config_to_dict(again) == config_to_dict(config)
    assert config_differences(config, again) == []
    changed = load_config(tmp_path / "run" / "config.yaml", ["trainer.max_steps=7", "optim.lr=0.1"])
    assert sorted(config_differences(config, changed)) == ["optim.lr", "trainer.max_steps"]


def test_every_shipped_recipe_validates() -> None:
    recipes = sorted(CONFIGS.rglob("*.yaml"))
    assert recipes, "no recipes shipped"
    for recipe in recipes:
        if recipe.parent.name == "charsets":
            continue
        config = load_config(recipe)
        assert config.model.name, recipe
        assert read_yaml(recipe).get("run", {}).get("name"), f"{recipe}: run.name missing"


def test_recipes_state_their_source() -> None:
    for recipe in sorted(CONFIGS.rglob("*.yaml")):
        first = recipe.read_text().splitlines()[0]
        assert first.startswith("#"), f"{recipe}: the first line must be a comment naming the source"
        assert yaml.safe_load(recipe.read_text()) is not None
