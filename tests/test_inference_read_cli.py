"""`scenetext read`: directories, globs, corrupt files, output formats, exit codes and attention strips."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from inference_helpers import family_params, make_artifact, png_bytes, word_image
from PIL import Image
from typer.testing import CliRunner

from scenetext.cli.main import app
from scenetext.inference import Recognizer

runner = CliRunner()


@pytest.fixture(scope="module")
def artifact(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_artifact(tmp_path_factory.mktemp("read") / "model")


@pytest.fixture()
def folder(tmp_path: Path) -> Path:
    """Two good images (one in a subdirectory, one JPEG), a corrupt PNG and a text file to be ignored."""
    root = tmp_path / "images"
    (root / "sub").mkdir(parents=True)
    (root / "a.png").write_bytes(png_bytes(word_image(0)))
    Image.fromarray(word_image(1)).save(root / "sub" / "b.JPG")
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (root / "notes.txt").write_text("not an image")
    return root


def test_directory_with_a_corrupt_file(artifact: Path, folder: Path) -> None:
    result = runner.invoke(app, ["read", "--model", str(artifact), str(folder)])
    assert result.exit_code == 0
    lines = result.stdout.strip().splitlines()
    assert [line.split("\t")[0] for line in lines] == [str(folder / "a.png"), str(folder / "sub" / "b.JPG")]
    expected = Recognizer.load(artifact).read(folder / "a.png")
    path, text, confidence = lines[0].split("\t")
    assert text == expected.text and float(confidence) == pytest.approx(expected.confidence, abs=1e-4)
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith(str(folder / "corrupt.png") + ":")


def test_json_output_lists_every_input_with_an_error_for_failures(artifact: Path, folder: Path) -> None:
    missing = str(folder / "nope.png")
    result = runner.invoke(
        app, ["read", "-m", str(artifact), "--json", "-b", "1", str(folder / "**" / "*.png"), missing]
    )
    assert result.exit_code == 0
    records = json.loads(result.stdout)
    assert [r["path"] for r in records] == [missing, str(folder / "a.png"), str(folder / "corrupt.png")]
    assert set(records[1]) == {"path", "text", "confidence", "char_confidences"}
    assert len(records[1]["char_confidences"]) == len(records[1]["text"])
    assert records[0]["error"] == f"{missing}: no such file or directory"
    assert records[2]["error"].startswith(f"{folder / 'corrupt.png'}:") and records[2]["text"] == ""
    assert sorted(result.stderr.strip().splitlines()) == sorted([records[0]["error"], records[2]["error"]])


def test_exit_code_is_nonzero_only_when_nothing_was_read(
    artifact: Path, folder: Path, tmp_path: Path
) -> None:
    only_bad = runner.invoke(app, ["read", "-m", str(artifact), str(folder / "corrupt.png")])
    assert only_bad.exit_code == 1
    assert "none of the 1 images could be read" in only_bad.stderr
    missing = runner.invoke(
        app, ["read", "-m", str(artifact), str(tmp_path / "nope.png"), str(folder / "a.png")]
    )
    assert missing.exit_code == 0
    assert "nope.png: no such file or directory" in missing.stderr
    bad_model = runner.invoke(app, ["read", "-m", str(tmp_path / "no-model"), str(folder)])
    assert bad_model.exit_code == 1
    assert bad_model.stderr.startswith("error: ") and "Traceback" not in bad_model.output


@pytest.mark.parametrize("family", family_params())
def test_attention_strips_for_every_family(family: str, folder: Path, tmp_path: Path) -> None:
    artifact = make_artifact(tmp_path / family, family)
    out = tmp_path / "strips"
    result = runner.invoke(app, ["read", "-m", str(artifact), "--attention-dir", str(out), str(folder)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    texts = [line.split("\t")[1] for line in result.stdout.strip().splitlines()]
    with Image.open(out / "a.png") as strip:
        panels = len(texts[0]) + 1
        assert strip.width >= min(6, panels) * 128
        assert strip.height >= -(-panels // 6) * 64


def test_a_whole_photo_is_read_with_one_warning(artifact: Path, tmp_path: Path) -> None:
    crops = tmp_path / "crops"
    crops.mkdir()
    Image.fromarray(word_image(0, size=(120, 480))).save(crops / "wide-word.png")  # large but elongated
    Image.fromarray(word_image(1, size=(40, 50))).save(crops / "short-word.png")  # not elongated but small
    quiet = runner.invoke(app, ["read", "-m", str(artifact), str(crops)])
    assert quiet.exit_code == 0 and len(quiet.stdout.strip().splitlines()) == 2
    assert quiet.stderr == ""
    for name in ("photo-1.jpg", "photo-2.jpg"):
        Image.fromarray(word_image(2, size=(480, 640))).save(crops / name)
    result = runner.invoke(app, ["read", "-m", str(artifact), str(crops)])
    assert result.exit_code == 0 and len(result.stdout.strip().splitlines()) == 4  # still read
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == 1 and "photo-1.jpg (640x480) looks like a whole photo" in warnings[0]
    assert "crop" in warnings[0]


def test_model_errors_point_to_the_fix(artifact: Path, folder: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    make_artifact(run / "best")
    result = runner.invoke(app, ["read", "-m", str(run), str(folder / "a.png")])
    assert result.exit_code == 1
    assert result.stderr.strip().endswith(f"a training run? its model is {run / 'best'}")
    onnx_only = tmp_path / "onnx"
    onnx_only.mkdir()
    (onnx_only / "config.json").write_bytes((artifact / "config.json").read_bytes())
    (onnx_only / "model.onnx").write_bytes(b"an exported graph")
    result = runner.invoke(app, ["read", "-m", str(onnx_only), "--backend", "torch", str(folder / "a.png")])
    assert result.exit_code == 1 and "--backend onnx" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    result = runner.invoke(app, ["read", "-m", str(onnx_only), str(folder / "a.png")])  # auto: onnx
    assert result.exit_code == 1 and "cannot load the ONNX model" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.fixture()
def looped(tmp_path: Path) -> Path:
    """A tree with links back to itself, a dangling image link and a corrupt image."""
    root = tmp_path / "tree"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.png").write_bytes(png_bytes(word_image(0)))
    (root / "sub" / "deeper" / "b.png").write_bytes(png_bytes(word_image(1)))
    (root / "sub" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (root / "sub" / "deeper" / "up").symlink_to(root)
    (root / "sub" / "self").symlink_to(".")
    (root / "sub" / "gone.png").symlink_to(tmp_path / "missing.png")
    return root


def test_symlink_loops_are_walked_once(looped: Path) -> None:
    from scenetext.inference.inputs import expand_inputs

    expected = [looped / "a.png", looped / "sub" / "bad.png", looped / "sub" / "deeper" / "b.png"]
    gone = (str(looped / "sub" / "gone.png"), "broken link (its target does not exist)")
    for spec in (str(looped), str(looped / "**" / "*.png"), str(looped / "**")):
        files, problems = expand_inputs([spec])
        assert sorted(files) == expected, spec
        assert problems == [gone], spec
    files, problems = expand_inputs([str(looped / "*" / "*.png"), str(looped / "sub" / "gone.png")])
    assert files == [looped / "sub" / "bad.png"]
    assert problems == [gone]


def test_unreadable_folders_are_reported_once(looped: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from scenetext.inference.inputs import expand_inputs

    real_scandir = os.scandir
    locked = looped / "sub"

    def scandir(path):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    files, problems = expand_inputs([str(looped), str(looped / "**" / "*.png"), str(locked / "*.png")])
    assert files == [looped / "a.png"]
    assert problems == [
        (str(locked), "cannot list this folder (Permission denied)"),
        (str(locked / "*.png"), "no file matches this pattern"),
    ]


def test_read_reports_each_bad_file_once_through_a_loop(artifact: Path, looped: Path) -> None:
    result = runner.invoke(app, ["read", "-m", str(artifact), str(looped / "**" / "*.png"), str(looped)])
    assert result.exit_code == 0
    read = [line.split("\t")[0] for line in result.stdout.strip().splitlines()]
    assert read == [str(looped / "a.png"), str(looped / "sub" / "deeper" / "b.png")]
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 2
    assert errors[0] == f"{looped / 'sub' / 'gone.png'}: broken link (its target does not exist)"
    assert errors[1].startswith(f"{looped / 'sub' / 'bad.png'}:")
