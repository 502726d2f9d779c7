"""ONNX export with parity against torch for each model family, and the torch-free onnx backend."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from inference_helpers import family_params, font_files, make_artifact, word_image
from typer.testing import CliRunner

from scenetext.cli.main import app
from scenetext.errors import ScenetextError
from scenetext.inference import Recognizer
from scenetext.inference.onnx_export import export_onnx, parity_check
from scenetext.inference.samples import render_words
from scenetext.models.artifact import umask_mode

runner = CliRunner()


@pytest.fixture(scope="module")
def fonts(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    return font_files(tmp_path_factory.mktemp("fonts"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, fonts: list[str]):
    """Export each family once per module through the CLI; its own parity check runs for NASTR only (the
    tests below run the same check through the API for every family)."""
    cache: dict[str, tuple[Path, Path]] = {}

    def export(family: str) -> tuple[Path, Path]:
        if family not in cache:
            root = tmp_path_factory.mktemp(family)
            artifact = make_artifact(root / "model", family)
            target = root / "onnx" / "model.onnx"
            args = ["export", "-m", str(artifact), "--onnx", str(target), "--attention"]
            samples = "4" if family == "nastr-tiny" else "0"
            result = runner.invoke(app, [*args, "--parity-samples", samples, "--fonts", fonts[0]])
            assert result.exit_code == 0, result.output
            if family == "nastr-tiny":
                assert "parity on 4 rendered words" in result.stdout and "same text" in result.stdout
            cache[family] = (artifact, target)
        return cache[family]

    return export


@pytest.mark.slow
@pytest.mark.parametrize("family", family_params())
def test_export_parity_and_onnx_backend(family: str, exported, fonts: list[str]) -> None:
    artifact, onnx_path = exported(family)
    assert json.loads((onnx_path.parent / "config.json").read_text()) == json.loads(
        (artifact / "config.json").read_text()
    )
    words = render_words(6, font_dirs=fonts, seed=3)
    report = parity_check(artifact, onnx_path, words, batch_sizes=(1, 2))
    assert report.ok, report.mismatches
    assert report.batch_sizes == [1, 2, 3]  # the dynamic batch axis is exercised
    assert report.max_logit_diff < 1e-3
    torch_recognizer = Recognizer.load(artifact)
    onnx_recognizer = Recognizer.load(onnx_path.parent, backend="onnx", threads=1)
    assert onnx_recognizer.parameter_count() == torch_recognizer.parameter_count()  # recorded at export
    by_torch = torch_recognizer.read([w.image for w in words], return_attention=True)
    by_onnx = onnx_recognizer.read([w.image for w in words], batch_size=4, return_attention=True)
    for a, b in zip(by_torch, by_onnx, strict=True):
        assert a.text == b.text
        assert a.confidence == pytest.approx(b.confidence, rel=1e-3, abs=1e-9)
        assert np.allclose(a.attention, b.attention, atol=1e-4)


def test_export_refuses_a_foreign_config_and_bad_names(exported, tmp_path: Path) -> None:
    artifact, onnx_path = exported("nastr-tiny")
    config = json.loads((artifact / "config.json").read_text())
    config["max_length"] = 5
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ScenetextError, match="describes another model"):
        export_onnx(artifact, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()
    with pytest.raises(ScenetextError, match="must end in .onnx"):
        export_onnx(artifact, tmp_path / "model.bin")
    with pytest.raises(ScenetextError, match="backend='onnx'"):
        Recognizer.load(onnx_path, backend="torch")
    assert Recognizer.load(onnx_path).backend.name == "onnx"  # auto: a .onnx file is read by onnxruntime


def test_exported_file_has_the_umask_default_mode(exported) -> None:
    _, onnx_path = exported("nastr-tiny")
    mode = stat.S_IMODE(onnx_path.stat().st_mode)
    assert mode == stat.S_IMODE((onnx_path.parent / "config.json").stat().st_mode) == umask_mode()


def test_onnx_backend_reads_without_importing_torch(exported, tmp_path: Path) -> None:
    artifact, onnx_path = exported("nastr-tiny")
    image = tmp_path / "word.npy"
    np.save(image, word_image(5))
    script = (
        "import sys, numpy as np\n"
        "from scenetext.inference import Recognizer\n"
        f"r = Recognizer.load({str(onnx_path)!r}, backend='onnx', threads=1)\n"
        f"results = r.read([np.load({str(image)!r})] * 3, batch_size=2, return_attention=True)\n"
        "print(results[0].text, results[0].attention.shape[0])\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    reading, torch_loaded = out.stdout.splitlines()
    assert torch_loaded == "False"
    expected = Recognizer.load(artifact).read(word_image(5))
    assert reading == f"{expected.text} {len(expected.text)}"


@pytest.mark.slow
def test_parity_of_an_ar_model_that_stops_early_in_torch(tmp_path: Path, fonts: list[str]) -> None:
    """Torch's AR decoding stops once every word has ended; its export runs all positions. Same text."""
    import torch

    from scenetext.models.artifact import load_artifact
    from scenetext.runtime.charset import EOS

    artifact = make_artifact(tmp_path / "model", "ar-tiny")
    with torch.no_grad():
        net = load_artifact(artifact, "cpu")[0]
        net.classifier.bias[EOS] = 50.0  # every word ends at the first step
        weights = {k: v.clone() for k, v in net.state_dict().items()}
    from safetensors.torch import save_file

    save_file(weights, str(artifact / "model.safetensors"), metadata={"format": "pt"})
    with torch.inference_mode():
        positions = load_artifact(artifact, "cpu")[0](torch.zeros(1, 3, 32, 64)).logits.shape[1]
    assert positions == 1  # torch stopped early
    target = export_onnx(artifact, tmp_path / "onnx" / "model.onnx")
    report = parity_check(artifact, target, render_words(3, font_dirs=fonts, seed=3), batch_sizes=(1, 2))
    assert report.ok and report.mismatches == []
    assert report.max_logit_diff < 1e-3
