"""LPV: official parameter counts, shapes at the paper sizes, the GLRM mask, losses, overfitting, ONNX."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw, ImageFont

from scenetext.errors import ScenetextError
from scenetext.models.layers.glrm import GLRM, cooccurrence_mask
from scenetext.models.lpv import LPV
from scenetext.models.registry import available_models, build_model
from scenetext.runtime.charset import PAD, Charset, Tokenizer

EN36 = Tokenizer(Charset.from_spec("en36"))


@pytest.fixture(autouse=True)
def _one_thread():
    """These tensors are small: one thread avoids OpenMP spinning against other jobs on shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _trainable(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# spec-lpv.md §7: backbone, 3 x CPA, 2 x GLRM, 3 x FC and the total, with the official 38-class heads.
@pytest.mark.parametrize(
    ("name", "parts", "total"),
    [
        ("lpv-tiny", (4_111_552, 809_952, 3_159_040, 29_298), 8_109_842),
        ("lpv-small", (8_415_776, 809_952, 4_738_560, 29_298), 13_993_586),
        ("lpv-base", (22_623_360, 1_818_576, 10_646_784, 43_890), 35_132_610),
    ],
)
def test_trainable_parameters_equal_the_official_counts(name, parts, total):
    model = build_model(name, num_classes=38)
    measured = tuple(
        _trainable(m) for m in (model.encoder, model.position_attention, model.glrm, model.classifiers)
    )
    assert measured == parts
    assert _trainable(model) == total


def test_all_lpv_names_are_registered_and_bad_options_fail():
    assert {"lpv-tiny", "lpv-small", "lpv-base", "lpv-micro", "lpv-svtr-micro"} <= set(available_models())
    with pytest.raises(ValueError, match="lpv-micro"):
        build_model("lpv-micro", num_classes=39, no_such_option=1)


@pytest.mark.parametrize(
    ("name", "img_size", "grid", "attrs"),
    [
        ("lpv-tiny", None, (8, 25), {"img_size": (32, 100), "glrm_layers": 2, "dim": 256}),
        ("lpv-small", None, (8, 25), {"img_size": (32, 100), "glrm_layers": 3, "dim": 256}),
        ("lpv-base", None, (6, 40), {"img_size": (48, 160), "glrm_layers": 3, "dim": 384}),
        ("lpv-tiny", (32, 128), (8, 32), {"img_size": (32, 128), "glrm_layers": 2, "dim": 256}),
        ("lpv-base", (32, 128), (4, 32), {"img_size": (32, 128), "glrm_layers": 3, "dim": 384}),
        ("lpv-svtr-micro", (32, 128), (8, 32), {"img_size": (32, 128), "glrm_layers": 1, "dim": 128}),
    ],
)
def test_shapes_at_paper_and_custom_sizes(name, img_size, grid, attrs):
    overrides = {} if img_size is None else {"img_size": img_size}
    model = build_model(name, num_classes=EN36.num_classes, **overrides).eval()
    assert model.img_size == attrs["img_size"] and model.grid == grid
    assert model.normalize == "lpv" and model.max_length == 25
    assert len(model.glrm[0].transformer.layers) == attrs["glrm_layers"]
    assert model.classifiers[0].in_features == attrs["dim"]
    with torch.no_grad():
        out = model(torch.rand(2, 3, *attrs["img_size"]), return_attention=True)
    assert out.logits.shape == (2, 26, EN36.num_classes)
    assert out.aux["stage_logits"].shape == (3, 2, 26, EN36.num_classes)
    assert torch.equal(out.aux["stage_logits"][-1], out.logits)  # inference reads the last head
    assert out.attention.shape == (2, 26, *grid)
    # each slot's CPA map is a distribution over the grid (slot 0 [GO] dropped, so no slot sums to less)
    assert torch.allclose(out.attention.sum(dim=(-2, -1)), torch.ones(2, 26), atol=1e-5)
    assert model(torch.rand(1, 3, *attrs["img_size"])).attention is None


def test_max_length_sets_the_number_of_output_slots():
    model = build_model("lpv-micro", num_classes=39, max_length=7).eval()
    with torch.no_grad():
        assert model(torch.rand(1, 3, *model.img_size)).logits.shape == (1, 8, 39)


def test_cooccurrence_mask_blocks_positions_shared_by_a_slot_including_the_diagonal():
    maps = torch.zeros(1, 3, 1, 5)  # 3 slots over 5 positions
    maps[0, 0, 0, :2] = 0.5  # slot 0 spans positions 0 and 1
    maps[0, 1, 0, 2] = 0.9  # slot 1 on position 2
    maps[0, 2, 0, 3] = 0.04  # below the 0.05 threshold: ignored
    mask = cooccurrence_mask(maps, num_heads=2)
    inf = float("-inf")
    expected = torch.tensor(
        [
            [inf, inf, 0, 0, 0],
            [inf, inf, 0, 0, 0],
            [0, 0, inf, 0, 0],
            [0, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],
        ]
    )
    assert mask.shape == (2, 5, 5)
    assert torch.equal(mask[0], expected) and torch.equal(mask[1], expected)


def test_mask_heads_are_batch_major():
    maps = torch.zeros(2, 1, 1, 3)
    maps[0, 0, 0, 0] = 1.0
    maps[1, 0, 0, 2] = 1.0
    mask = cooccurrence_mask(maps, num_heads=3)
    assert mask.shape == (6, 3, 3)
    assert all(mask[h, 0, 0] == float("-inf") and mask[h, 2, 2] == 0 for h in range(3))
    assert all(mask[3 + h, 2, 2] == float("-inf") and mask[3 + h, 0, 0] == 0 for h in range(3))


def test_fully_masked_rows_are_unmasked_and_glrm_stays_finite():
    torch.manual_seed(0)
    maps = torch.zeros(1, 2, 2, 2)
    maps[0, 0] = 0.25  # one slot above threshold everywhere: every position co-occurs with every other
    maps[0, 1, 0, 0] = 1.0
    mask = cooccurrence_mask(maps, num_heads=8)
    assert torch.equal(mask, torch.zeros_like(mask))
    glrm = GLRM(dim=16, num_heads=8, ffn_dim=32, num_layers=2, dropout=0.1, seq_len=4).eval()
    assert torch.isfinite(glrm(torch.randn(1, 16, 2, 2), mask)).all()


def test_use_mask_changes_inference_only_through_the_glrm():
    torch.manual_seed(0)
    model = build_model("lpv-micro", num_classes=39).eval()
    hw = model.grid[0] * model.grid[1]
    model.mask_threshold = 1.0 / hw  # near-uniform untrained maps: about half the positions count as hits
    images = torch.rand(2, 3, *model.img_size)
    with torch.no_grad():
        masked = model(images)
        model.use_mask = False
        unmasked = model(images)
    assert torch.isfinite(masked.logits).all()
    assert torch.equal(masked.aux["stage_logits"][0], unmasked.aux["stage_logits"][0])  # before any GLRM
    assert not torch.allclose(masked.logits, unmasked.logits)


def test_loss_averages_the_stages_and_ignores_padding():
    torch.manual_seed(0)
    model = build_model("lpv-micro", num_classes=EN36.num_classes)
    targets = EN36.encode(["ab12", "x"])  # 2 x 5, "x" padded after its EOS
    out = model(torch.rand(2, 3, *model.img_size))
    losses = model.loss(out, targets)
    stages = [losses[f"stage{k}"] for k in (1, 2, 3)]
    assert torch.allclose(losses["loss"], sum(stages) / 3)
    # changing the scores at PAD targets and at slots past the batch's longest label leaves the loss unchanged
    ignored = torch.full((2, 26), PAD)
    ignored[:, : targets.shape[1]] = targets
    stage_logits = out.aux["stage_logits"].detach().clone()
    stage_logits[:, ignored == PAD] += 100.0
    out.aux["stage_logits"] = stage_logits
    assert torch.allclose(model.loss(out, targets)["loss"], losses["loss"].detach())


def test_loss_rejects_labels_longer_than_max_length():
    model = build_model("lpv-micro", num_classes=EN36.num_classes, max_length=4)
    out = model(torch.rand(2, 3, *model.img_size))
    with pytest.raises(ScenetextError, match="max_length=4"):
        model.loss(out, EN36.encode(["abcdef", "ab"]))


def _word_batch(count: int, img_size: tuple[int, int], seed: int) -> tuple[torch.Tensor, list[str]]:
    """Black 4-6 character words on white, rendered with PIL's built-in font in a tight box and stretched to
    ``img_size`` (the official loader's resize), so the word fills the width like a cropped word image."""
    rng = random.Random(seed)
    alphabet = EN36.charset.chars
    words = ["".join(rng.choice(alphabet) for _ in range(rng.randint(4, 6))) for _ in range(count)]
    font = ImageFont.load_default(size=24)
    arrays = []
    for word in words:
        left, top, right, bottom = font.getbbox(word)
        canvas = Image.new("RGB", (right - left + 6, bottom - top + 6), "white")
        ImageDraw.Draw(canvas).text((3 - left, 3 - top), word, fill="black", font=font)
        resized = canvas.resize((img_size[1], img_size[0]), Image.Resampling.BICUBIC)
        arrays.append(np.asarray(resized, dtype=np.float32) / 255.0)  # LPV input range [0, 1]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous(), words


def _overfit(model: LPV, images: torch.Tensor, words: list[str], max_steps: int) -> float:
    targets = EN36.encode(words)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    accuracy = 0.0
    for step in range(1, max_steps + 1):
        model.train()
        loss = model.loss(model(images), targets)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if step % 10 == 0:
            model.eval()
            with torch.no_grad():
                predictions = EN36.decode(model(images).logits.argmax(-1))
            accuracy = sum(p == w for p, w in zip(predictions, words, strict=True)) / len(words)
            if accuracy == 1.0:
                break
    return accuracy


@pytest.mark.slow
@pytest.mark.parametrize("use_mask", [False, True], ids=["stage1-no-mask", "stage2-mask"])
def test_lpv_micro_overfits_a_fixed_batch_of_words(use_mask):
    torch.manual_seed(0)
    # Dropout off and 16x64 inputs (4x16 grid): this checks that the model can fit, in few CPU seconds;
    # max_length 8 covers the 4-6 character words.
    model = build_model(
        "lpv-micro",
        num_classes=EN36.num_classes,
        img_size=(16, 64),
        use_mask=use_mask,
        dropout=0.0,
        max_length=8,
    )
    images, words = _word_batch(8, model.img_size, seed=0)
    assert _overfit(model, images, words, max_steps=300) == 1.0


@pytest.mark.slow
def test_masked_inference_graph_exports_to_onnx_with_dynamic_batch(tmp_path):
    onnxruntime = pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    model = build_model("lpv-micro", num_classes=EN36.num_classes, use_mask=True).eval()
    hw = model.grid[0] * model.grid[1]
    model.mask_threshold = 1.0 / hw  # make the untrained model's mask non-trivial so the export covers it

    class LogitsOnly(torch.nn.Module):
        def __init__(self, lpv: LPV):
            super().__init__()
            self.lpv = lpv

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return self.lpv(images).logits

    path = tmp_path / "lpv.onnx"
    torch.onnx.export(
        LogitsOnly(model).eval(),  # a wrapper left in train mode would be switched back to it after export
        (torch.rand(2, 3, *model.img_size),),
        str(path),
        input_names=["images"],
        output_names=["logits"],
        dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
        dynamo=False,
    )
    images = torch.rand(3, 3, *model.img_size)
    with torch.no_grad():
        expected = model(images).logits.numpy()
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(None, {"images": images.numpy()})
    assert logits.shape == expected.shape
    np.testing.assert_allclose(logits, expected, atol=1e-4, rtol=1e-4)


def test_training_below_the_batchnorm_minimum_fails_with_a_clear_error():
    model = build_model("lpv-micro", num_classes=EN36.num_classes).train()
    with pytest.raises(ScenetextError, match="batch of at least 2 images"):
        model(torch.rand(1, 3, 32, 64))
    assert model(torch.rand(2, 3, 32, 64)).logits.shape[0] == 2
    assert model.eval()(torch.rand(1, 3, 32, 64)).logits.shape[0] == 1


def test_lpv_svtr_micro_has_the_encoder_of_nastr_tiny():
    """The equal-encoder pilot compares decoders: the same SVTR-micro weights, only LPV's merging differs."""
    lpv = build_model("lpv-svtr-micro", num_classes=EN36.num_classes, img_size=(32, 128))
    nastr = build_model("nastr-tiny", num_classes=EN36.num_classes, img_size=(32, 128))
    shapes = {name: p.shape for name, p in lpv.encoder.named_parameters()}
    assert shapes == {name: p.shape for name, p in nastr.encoder.named_parameters()}
    assert lpv.grid == (8, 32) and nastr.encoder.grid == (4, 16)
