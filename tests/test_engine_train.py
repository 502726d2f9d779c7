"""CPU training runs end to end: train, validate, checkpoint, export, evaluate with `scenetext test`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from engine_helpers import TINY, make_lmdb
from typer.testing import CliRunner

from scenetext.cli.main import app
from scenetext.engine.config import config_to_dict, load_config
from scenetext.engine.train import build_from_config, train
from scenetext.models.artifact import load_artifact, read_safetensors
from scenetext.runtime.charset import Charset

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    make_lmdb(root / "train" / "words", 48, seed=1)
    make_lmdb(root / "val" / "clean", 12, seed=2)
    make_lmdb(root / "val" / "more" / "hard", 10, seed=3)
    return root


def tiny_overrides(data: Path, out: Path, steps: int = 6) -> list[str]:
    return [
        f"run.output_dir={out}",
        "run.name=smoke",
        f"model.name={TINY}",
        "model.max_length=6",
        "model.options.img_size=[16, 48]",
        "data.label.max_length=6",
        f"data.train=[{{roots: [{data / 'train'}]}}]",
        f"data.val=[{data / 'val'}]",
        "data.batch_size=8",
        "data.val_batch_size=8",
        "data.num_workers=0",
        f"trainer.max_steps={steps}",
        "trainer.val_check_interval=3",
        "trainer.log_every_n_steps=2",
        "trainer.progress_bar=plain",
        "optim.lr=0.01",
    ]


def test_smoke_run_then_scenetext_test(data: Path, tmp_path: Path) -> None:
    config = load_config(None, tiny_overrides(data, tmp_path))
    result = train(config)
    run = tmp_path / "smoke"
    assert result.run_dir == run and result.global_step == 6
    assert load_config(run / "config.yaml") == config
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    best = torch.load(run / "checkpoints" / "best.ckpt", weights_only=True)
    assert last["global_step"] == 6 and best["global_step"] in (3, 6)
    assert result.best_checkpoint == run / "checkpoints" / "best.ckpt"
    assert list((run / "tensorboard").glob("events.out.tfevents.*"))
    # The exported artifact holds exactly the best checkpoint's weights.
    weights = read_safetensors(run / "best" / "model.safetensors")
    for key, value in best["state_dict"].items():
        assert torch.equal(weights[key.removeprefix("model.")], value)
    _, _, _, meta = load_artifact(run / "best")
    assert meta["extra"]["step"] == best["global_step"]

    out_json, out_csv = tmp_path / "results.json", tmp_path / "predictions.csv"
    cli = CliRunner().invoke(
        app,
        [
            "test",
            "--model",
            str(run / "best"),
            "--data",
            str(data / "val"),
            "--json",
            str(out_json),
            "--predictions",
            str(out_csv),
            "--confusions",
            "3",
            "--num-workers",
            "0",
        ],
    )
    assert cli.exit_code == 0, cli.output
    for text in ("clean", "more/hard", "average (weighted)", "average (unweighted)", "most frequent"):
        assert text in cli.output
    results = json.loads(out_json.read_text())
    assert {name: s["n"] for name, s in results["subsets"].items()} == {"clean": 12, "more/hard": 10}
    for subset in results["subsets"].values():
        assert 0 <= subset["accuracy"] <= 100 and 0 <= subset["ned"] <= 100
    assert set(results["average"]) == {"weighted", "unweighted"}
    weighted = results["average"]["weighted"]["accuracy"]
    subsets = results["subsets"]
    expected = (12 * subsets["clean"]["accuracy"] + 10 * subsets["more/hard"]["accuracy"]) / 22
    assert weighted == pytest.approx(expected)
    # `scenetext test` on the best artifact reproduces the validation accuracy of the best checkpoint.
    assert weighted == pytest.approx(result.best_score)
    rows = out_csv.read_text().strip().splitlines()
    assert rows[0] == "subset,index,label,prediction,correct,confidence" and len(rows) == 1 + 22


def test_existing_run_is_not_overwritten(data: Path, tmp_path: Path) -> None:
    config = load_config(None, tiny_overrides(data, tmp_path, steps=3))
    train(config)
    cli = CliRunner().invoke(app, ["train", str(tmp_path / "smoke" / "config.yaml")])
    assert cli.exit_code == 1
    assert "already has checkpoints" in cli.output and "--resume" in cli.output
    assert "Traceback" not in cli.output


def test_cli_reports_config_errors_in_one_line(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("# r\nmodel: {name: nastr-tiny}\n")
    cli = CliRunner().invoke(app, ["train", str(recipe), "trainer.max_step=3"])
    assert cli.exit_code == 1
    lines = [line for line in cli.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: config: unknown key 'trainer.max_step'")


def test_ema_weights_are_validated_checkpointed_and_exported(data: Path, tmp_path: Path) -> None:
    overrides = tiny_overrides(data, tmp_path, steps=4) + ["ema.enabled=true", "ema.decay=0.5"]
    train(load_config(None, overrides))
    best = torch.load(tmp_path / "smoke" / "checkpoints" / "best.ckpt", weights_only=True)
    weights = read_safetensors(tmp_path / "smoke" / "best" / "model.safetensors")
    averaged = {k.removeprefix("model."): v for k, v in best["state_dict"].items()}
    current = {k.removeprefix("model."): v for k, v in best["current_model_state"].items()}
    assert all(torch.equal(weights[k], averaged[k]) for k in averaged)
    assert not all(torch.equal(averaged[k], current[k]) for k in averaged if averaged[k].is_floating_point())


def test_init_from_loads_artifact_or_checkpoint_strictly(data: Path, tmp_path: Path) -> None:
    train(load_config(None, tiny_overrides(data, tmp_path, steps=3)))
    run = tmp_path / "smoke"
    stored = read_safetensors(run / "best" / "model.safetensors")
    for source in (run / "best", run / "checkpoints" / "best.ckpt"):
        built = build_from_config(load_config(run / "config.yaml", [f"model.init_from={source}"]))
        state = built.model.state_dict()
        assert all(torch.equal(state[k], stored[k]) for k in stored)
    wrong = load_config(run / "config.yaml", [f"model.init_from={run / 'best'}", "model.max_length=8"])
    with pytest.raises(ValueError, match="weights do not match|has shape"):
        build_from_config(wrong)


def test_init_new_charset_loads_all_but_the_charset_layers(data: Path, tmp_path: Path) -> None:
    train(load_config(None, tiny_overrides(data, tmp_path, steps=3)))
    run = tmp_path / "smoke"
    stored = read_safetensors(run / "best" / "model.safetensors")
    other = [f"model.init_from={run / 'best'}", "model.charset=en94"]
    with pytest.raises(ValueError, match="init_new_charset"):
        build_from_config(load_config(run / "config.yaml", other))
    for source in (run / "best", run / "checkpoints" / "best.ckpt"):
        overrides = [f"model.init_from={source}", "model.charset=en94", "model.init_new_charset=true"]
        model = build_from_config(load_config(run / "config.yaml", overrides)).model
        state = model.state_dict()
        fresh = [k for k in state if k.startswith(model.charset_layers)]
        assert fresh and all(state[k].shape[0] == model.num_classes != stored[k].shape[0] for k in fresh)
        assert all(torch.equal(state[k], stored[k]) for k in stored if k not in fresh)
    # From an artifact (which names its charset) the rows of shared classes carry over; "A" starts as "a".
    en36, en94 = Charset.from_spec("en36").chars, Charset.from_spec("en94").chars
    overrides = [f"model.init_from={run / 'best'}", "model.charset=en94", "model.init_new_charset=true"]
    state = build_from_config(load_config(run / "config.yaml", overrides)).model.state_dict()
    n_old = len(en36) + 3
    class_sized = [k for k in stored if k.startswith(model.charset_layers) and stored[k].shape[0] == n_old]
    assert class_sized
    old_row, new_row = {c: i + 3 for i, c in enumerate(en36)}, {c: i + 3 for i, c in enumerate(en94)}
    for key in class_sized:
        assert torch.equal(state[key][:3], stored[key][:3])
        assert torch.equal(state[key][new_row["7"]], stored[key][old_row["7"]])
        assert torch.equal(state[key][new_row["A"]], stored[key][old_row["a"]])
        assert torch.equal(state[key][new_row["a"]], stored[key][old_row["a"]])


def test_without_validation_last_is_saved_and_final_weights_exported(data: Path, tmp_path: Path) -> None:
    overrides = tiny_overrides(data, tmp_path, steps=5) + ["data.val=[]", "trainer.val_check_interval=2"]
    result = train(load_config(None, overrides))
    run = tmp_path / "smoke"
    assert result.best_score is None and result.best_checkpoint is None
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["last.ckpt"]
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 5
    _, _, _, meta = load_artifact(run / "best")
    assert meta["extra"]["step"] == 5


@pytest.mark.parametrize("recipe", sorted((REPO / "configs" / "cpu").glob("*.yaml")), ids=lambda p: p.stem)
def test_cpu_recipes_train_with_the_real_models(recipe: Path, data: Path, tmp_path: Path) -> None:
    overrides = [
        f"run.output_dir={tmp_path}",
        f"data.train.0.roots=[{data / 'train'}]",
        f"data.val=[{data / 'val' / 'clean'}]",
        "data.batch_size=4",
        "data.num_workers=0",
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
        "trainer.progress_bar=plain",
    ]
    config = load_config(recipe, overrides)
    result = train(config, recipe_dir=recipe.parent)
    assert result.global_step == 2 and result.artifact is not None
    model, tokenizer, preprocess, meta = load_artifact(result.artifact)
    assert meta["model"]["name"] == config.model.name
    assert (preprocess.height, preprocess.width) == tuple(config.model.options["img_size"])
    assert yaml.safe_load((result.run_dir / "config.yaml").read_text()) == config_to_dict(config)


def test_bf16_on_a_cpu_without_native_bf16_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import scenetext.engine.train as train_module

    seen: list[str] = []
    monkeypatch.setattr(train_module.log, "warning", lambda message, *args: seen.append(message % args))
    bf16 = load_config(None, ["trainer.precision=bf16-mixed", "trainer.accelerator=cpu"])
    fp32 = load_config(None, ["trainer.accelerator=cpu"])

    monkeypatch.setattr(train_module, "cpu_has_native_bf16", lambda: False)
    assert train_module._precision(bf16) == "bf16-mixed"
    assert len(seen) == 1 and "no native bf16" in seen[0] and "32-true" in seen[0]
    assert train_module._precision(fp32) == "32-true" and len(seen) == 1

    monkeypatch.setattr(train_module, "cpu_has_native_bf16", lambda: True)
    assert train_module._precision(bf16) == "bf16-mixed" and len(seen) == 1


def test_init_parts_starts_the_ar_baseline_from_a_nastr_encoder(data: Path, tmp_path: Path) -> None:
    train(load_config(None, tiny_overrides(data, tmp_path, steps=3) + ["model.name=nastr-tiny"]))
    run = tmp_path / "smoke"
    stored = read_safetensors(run / "best" / "model.safetensors")
    ar = [f"model.init_from={run / 'best'}", "model.name=ar-tiny"]
    with pytest.raises(ValueError, match="init_from"):  # whole-model loading refuses another family
        build_from_config(load_config(run / "config.yaml", ar))
    torch.manual_seed(0)
    fresh = build_from_config(load_config(run / "config.yaml", ["model.name=ar-tiny"])).model.state_dict()
    torch.manual_seed(0)
    encoder_only = load_config(run / "config.yaml", ar + ["model.init_parts=[encoder]"])
    state = build_from_config(encoder_only).model.state_dict()
    encoder = [k for k in state if k.startswith("encoder.")]
    assert encoder and all(torch.equal(state[k], stored[k]) for k in encoder)
    assert all(torch.equal(state[k], fresh[k]) for k in state if k not in encoder)  # same seed, untouched
    with pytest.raises(ValueError, match="init_parts: .* has no part encodr; its parts: .*encoder"):
        build_from_config(load_config(run / "config.yaml", ar + ["model.init_parts=[encodr]"]))
