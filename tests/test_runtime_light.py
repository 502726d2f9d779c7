"""The inference-only install: the runtime layer, read and the Recognizer work with the training stack absent.

The absent packages are simulated in a subprocess: a ``sitecustomize`` hides them from every import finder, so
``import torch`` fails and ``importlib.util.find_spec("torch")`` is None, as in a venv without the extras.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from scenetext.errors import ScenetextError
from scenetext.extras import MODULE_EXTRAS, extra_for, missing_extra_message
from scenetext.inference import Recognizer

REPO = Path(__file__).resolve().parents[1]
WORDS = ["HELLO", "street", "2024", "Coffee"]
TRAIN_CONFIG = REPO / "configs" / "default" / sorted(os.listdir(REPO / "configs" / "default"))[0]

HIDER = """
import sys
HIDDEN = set({hidden!r})
class _Hide:
    def __init__(self, finder):
        self.finder = finder
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in HIDDEN:
            return None
        return self.finder.find_spec(name, path, target)
    def __getattr__(self, attr):
        return getattr(self.finder, attr)
sys.meta_path[:] = [_Hide(f) for f in sys.meta_path]
"""


def word_images() -> list[np.ndarray]:
    """Dark words on white drawn with Pillow's own font: no font files or renderer needed."""
    font = ImageFont.load_default(size=40)
    images = []
    for word in WORDS:
        left, top, right, bottom = font.getbbox(word)
        image = Image.new("RGB", (right - left + 16, bottom - top + 16), "white")
        ImageDraw.Draw(image).text((8 - left, 8 - top), word, fill="black", font=font)
        images.append(np.asarray(image))
    return images


@pytest.fixture(scope="module")
def light_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for a subprocess in which every module of an extra is missing."""
    hider = tmp_path_factory.mktemp("hider")
    (hider / "sitecustomize.py").write_text(HIDER.format(hidden=sorted(MODULE_EXTRAS)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(hider), str(REPO)])
    return env


def run_light(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name", ["default", "default-zh"])
def test_shipped_onnx_reads_as_the_shipped_safetensors(name: str) -> None:
    """The shipped model.onnx is the export of the shipped weights: same text, near-equal confidences."""
    images = word_images()
    torch_results = Recognizer.load(name, backend="torch").read(images)
    onnx_results = Recognizer.load(name, backend="onnx").read(images)
    assert [r.text for r in onnx_results] == [r.text for r in torch_results]
    for a, b in zip(onnx_results, torch_results, strict=True):
        assert a.confidence == pytest.approx(b.confidence, abs=1e-4)
    if name == "default":
        assert [r.text for r in torch_results] == WORDS


def test_auto_backend_is_torch_where_installed_and_reads_attention_from_onnx() -> None:
    assert Recognizer.load("default").backend.name == "torch"
    result = Recognizer.load("default", backend="onnx").read(word_images()[0], return_attention=True)
    assert result.text == WORDS[0] and result.attention is not None
    assert result.attention.shape[0] == len(WORDS[0])


def test_missing_extra_message_names_the_extra() -> None:
    exc = ModuleNotFoundError("No module named 'torch'", name="torch")
    assert extra_for(exc) == "train"
    assert missing_extra_message("scenetext train", exc) == (
        "scenetext train: needs the [train] extra (pip install \"scenetext[train]\"): No module named 'torch'"
    )
    assert missing_extra_message("x", ModuleNotFoundError("No module named 'numpyy'", name="numpyy")) is None


def test_light_install_reads_without_the_training_stack(light_env: dict[str, str], tmp_path: Path) -> None:
    paths = []
    for index, image in enumerate(word_images()):
        paths.append(tmp_path / f"word{index}.png")
        Image.fromarray(image).save(paths[-1])
    code = textwrap.dedent(
        f"""
        import json, sys
        import scenetext.runtime.artifact, scenetext.runtime.charset, scenetext.runtime.decode
        import scenetext.runtime.names, scenetext.runtime.onnx_backend, scenetext.runtime.preprocess
        from scenetext.errors import ScenetextError
        from scenetext.inference import Recognizer
        rec = Recognizer.load("default")
        texts = [r.text for r in rec.read({[str(p) for p in paths]!r})]
        try:
            Recognizer.load("default", backend="torch")
            torch_error = None
        except ScenetextError as exc:
            torch_error = str(exc)
        heavy = sorted(m for m in sys.modules if m.partition(".")[0] in {sorted(MODULE_EXTRAS)!r})
        print(json.dumps([rec.backend.name, texts, torch_error, heavy]))
        """
    )
    done = run_light(light_env, "-c", code)
    assert done.returncode == 0, done.stderr
    backend, texts, torch_error, heavy = json.loads(done.stdout)
    assert backend == "onnx" and texts == WORDS and heavy == []
    assert torch_error.startswith(
        "backend 'torch': needs the [train] extra (pip install \"scenetext[train]\")"
    )
    assert "\n" not in torch_error

    cli = run_light(light_env, "-m", "scenetext.cli.main", "--help")
    assert cli.returncode == 0 and "read" in cli.stdout, cli.stderr
    cli = run_light(light_env, "-m", "scenetext.cli.main", "read", str(paths[0]))
    assert cli.returncode == 0, cli.stderr
    assert cli.stdout.split("\t")[:2] == [str(paths[0]), WORDS[0]]


@pytest.mark.parametrize(
    ("args", "extra"),
    [
        (["train", str(TRAIN_CONFIG)], "train"),
        (["data", "stats", "x"], "train"),
        (["serve", "-m", "default"], "serve"),
    ],
)
def test_light_install_commands_name_the_missing_extra(
    light_env: dict[str, str], args: list[str], extra: str
) -> None:
    done = run_light(light_env, "-m", "scenetext.cli.main", *args)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    command = " ".join(["scenetext", *args[:2]] if args[0] == "data" else ["scenetext", args[0]])
    assert lines[0].startswith(
        f'error: {command}: needs the [{extra}] extra (pip install "scenetext[{extra}]")'
    )


def test_torch_backend_error_is_one_line_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without torch, an explicit backend='torch' is a ScenetextError naming the extra (and the way out)."""
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch -> ModuleNotFoundError
    with pytest.raises(ScenetextError, match=r"needs the \[train\] extra.*backend='onnx'"):
        Recognizer.load("default", backend="torch")
