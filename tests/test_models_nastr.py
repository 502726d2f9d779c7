"""NASTR: exact official parameter counts, shapes, the dynamic query count, losses, overfitting and ONNX."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from models_helpers import one_thread, onnx_round_trip, overfit, random_words, single_thread, trainable

from scenetext.errors import ScenetextError
from scenetext.models.registry import build_model
from scenetext.runtime.charset import EOS, PAD, SOS

EN_CLASSES, ZH_CLASSES = 93, 7937

pytestmark = pytest.mark.usefixtures(one_thread.__name__)


def meta_model(name: str, num_classes: int, **options):
    with torch.device("meta"):
        return build_model(name, num_classes, **options)


# spec-nastr.md §1.8: logged totals (English with the unused constraint heads built, as the official code
# builds them; Chinese with LP, DCP and a 2-layer ITC text encoder).
@pytest.mark.parametrize(
    ("name", "classes", "options", "params"),
    [
        ("nastr-svtr-base", EN_CLASSES, {"keep_unused_heads": True}, 32_510_258),
        ("nastr-vit-small", EN_CLASSES, {"keep_unused_heads": True}, 31_327_794),
        ("nastr-svtr-base-zh", ZH_CLASSES, {}, 45_143_930),
        ("nastr-vit-small-zh", ZH_CLASSES, {}, 44_027_002),
        ("nastr-svtr-base", EN_CLASSES, {}, 32_096_861),
        ("nastr-vit-small", EN_CLASSES, {}, 30_914_397),
        (
            "nastr-svtr-base-zh",
            ZH_CLASSES,
            {"length_predictor": False, "char_predictor": False, "itc": False},
            35_149_569,
        ),
    ],
)
def test_trainable_parameter_counts_equal_the_official_ones(name, classes, options, params):
    assert trainable(meta_model(name, classes, **options)) == params


def test_official_module_breakdown():
    model = meta_model("nastr-svtr-base-zh", ZH_CLASSES)
    assert trainable(model.decoder) == 9_466_368
    assert trainable(model.text_encoder) == 3_548_928
    assert trainable(model.length_predictor) == 194_040
    assert trainable(model.coarse_predictor) == 147_840 + 385 * ZH_CLASSES
    assert trainable(model.text_embedding) == 384 * ZH_CLASSES
    assert len(model.decoder.layers) == 4 and model.decoder.layers[0].linear1.out_features == 1536


@pytest.mark.parametrize(
    ("name", "classes", "img_size", "steps", "grid"),
    [
        ("nastr-svtr-base", EN_CLASSES, (32, 128), 25, (4, 16)),
        ("nastr-vit-small", EN_CLASSES, (32, 128), 25, (8, 32)),
        ("nastr-svtr-base-zh", ZH_CLASSES, (32, 256), 120, (4, 32)),
        ("nastr-vit-small-zh", ZH_CLASSES, (32, 256), 120, (8, 64)),
    ],
)
def test_inference_shapes_at_official_sizes(name, classes, img_size, steps, grid):
    with torch.device("meta"):
        model = build_model(name, classes).eval()
        output = model(torch.empty(2, 3, *img_size), return_attention=True)
    assert model.img_size == img_size and model.max_length + 1 == steps
    assert output.logits.shape == (2, steps, classes)
    assert output.attention.shape == (2, steps, *grid)
    assert output.aux == {}


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return build_model(
        "nastr-tiny",
        39,
        img_size=(32, 64),
        max_length=10,
        length_predictor=True,
        char_predictor=True,
        itc=True,
    )


def targets_for(lengths: list[int]) -> torch.Tensor:
    width = max(lengths) + 1
    rows = []
    for n in lengths:
        rows.append([3 + i % 30 for i in range(n)] + [EOS] + [PAD] * (width - n - 1))
    return torch.tensor(rows)


def test_query_count_is_batch_max_plus_one_in_training_and_fixed_at_inference(tiny):
    images = torch.randn(2, 3, 32, 64)
    tiny.train()
    assert tiny(images, targets_for([3, 4])).logits.shape == (2, 5, 39)
    assert tiny(images, targets_for([2, 8])).logits.shape == (2, 9, 39)
    tiny.eval()
    with torch.no_grad():
        assert tiny(images).logits.shape == (2, 11, 39)
        assert tiny(images, targets_for([2, 3])).logits.shape == (2, 11, 39)


def test_decoder_layers_start_identical_as_in_the_official_code(tiny):
    fresh = build_model("nastr-tiny", 39, img_size=(32, 64))
    first, second = fresh.decoder.layers
    for (name, a), (_, b) in zip(first.named_parameters(), second.named_parameters(), strict=True):
        assert torch.equal(a, b), name


def test_queries_are_the_global_feature_plus_position_only(tiny):
    """With dropout off, two images with the same mean token give identical predictions."""
    tiny.eval()
    images = torch.randn(1, 3, 32, 64)
    with torch.no_grad():
        tokens = tiny.encoder(images)
        hidden, _ = tiny.decoder(
            tiny.position(tokens.mean(1, keepdim=True).expand(-1, 11, -1)), tiny.position(tokens)
        )
        expected = tiny.fine_predictor(hidden)
        got = tiny(images).logits
    finite = torch.isfinite(got)
    assert torch.allclose(got[finite], expected[finite], atol=1e-5)


def test_pad_and_sos_are_never_predicted_at_inference(tiny):
    tiny.eval()
    with torch.no_grad():
        logits = tiny(torch.randn(2, 3, 32, 64)).logits
    assert torch.isneginf(logits[..., PAD]).all() and torch.isneginf(logits[..., SOS]).all()
    assert torch.isfinite(logits[..., EOS : EOS + 1]).all() and torch.isfinite(logits[..., 3:]).all()


def test_attention_is_the_head_averaged_cross_attention_over_the_grid(tiny):
    tiny.eval()
    with torch.no_grad():
        output = tiny(torch.randn(2, 3, 32, 64), return_attention=True)
    assert output.attention.shape == (2, 11, 4, 8)
    assert torch.allclose(output.attention.sum(dim=(2, 3)), torch.ones(2, 11), atol=1e-5)


def test_losses_follow_the_official_definitions(tiny):
    tiny.train()
    targets = torch.tensor([[5, 5, 6, EOS], [7, EOS, PAD, PAD]])
    output = tiny(torch.randn(2, 3, 32, 64), targets)
    losses = tiny.loss(output, targets)

    supervised = targets != PAD
    fine = F.cross_entropy(output.logits[supervised], targets[supervised])
    assert torch.allclose(losses["fine"], fine)

    q = torch.zeros(2, 39)
    q[0, 5], q[0, 6], q[1, 7] = 2 / 3, 1 / 3, 1.0
    p = F.log_softmax(output.aux["char_logits"], -1)
    kl = sum((q[i][q[i] > 0] * (q[i][q[i] > 0].log() - p[i][q[i] > 0])).sum() for i in range(2)) / 2
    assert torch.allclose(losses["dcp"], kl, atol=1e-6)

    assert torch.allclose(
        losses["length"], F.cross_entropy(output.aux["length_logits"], torch.tensor([3, 1]))
    )

    g = F.normalize(output.aux["global"], dim=-1)
    t = F.normalize(output.aux["text_global"], dim=-1)
    s = g @ t.t() / 0.07
    itc = (F.cross_entropy(s, torch.arange(2)) + F.cross_entropy(s.t(), torch.arange(2))) / 2
    assert torch.allclose(losses["itc"], itc, atol=1e-6)

    total = losses["fine"] + losses["dcp"] + 0.1 * losses["length"] + losses["itc"]
    assert torch.allclose(losses["loss"], total)


def test_text_feature_pools_all_but_the_last_position(tiny):
    tiny.eval()
    targets = torch.tensor([[5, 6, EOS, PAD], [7, 8, 9, EOS]])
    with torch.no_grad():
        tokens = torch.cat([torch.full((2, 1), SOS), targets], dim=1)
        hidden = tiny.text_encoder(
            tiny.position(tiny.text_embedding(tokens)), src_key_padding_mask=tokens == PAD
        )
        assert torch.allclose(tiny.encode_text(targets), hidden[:, :4].mean(1), atol=1e-6)


def test_constraints_switch_independently():
    for flag, loss_name, module in (
        ("length_predictor", "length", "length_predictor"),
        ("char_predictor", "dcp", "coarse_predictor"),
        ("itc", "itc", "text_encoder"),
    ):
        model = build_model("nastr-tiny", 39, img_size=(32, 64), **{flag: True})
        targets = targets_for([3, 2])
        losses = model.loss(model(torch.randn(2, 3, 32, 64), targets), targets)
        assert set(losses) == {"loss", "fine", loss_name}
        present = {
            m
            for m in ("length_predictor", "coarse_predictor", "text_encoder")
            if getattr(model, m) is not None
        }
        assert present == {module}


def test_loss_weights_are_configurable():
    model = build_model(
        "nastr-tiny", 39, img_size=(32, 64), length_predictor=True, length_weight=2.0, fine_weight=0.5
    )
    targets = targets_for([3, 2])
    losses = model.loss(model(torch.randn(2, 3, 32, 64), targets), targets)
    assert torch.allclose(losses["loss"], 0.5 * losses["fine"] + 2.0 * losses["length"])


def test_batch_of_one_and_over_long_lengths_train(tiny):
    """Official bugs §8.7 (squeeze with batch 1) and §8.8 (length 120 outside the 120-way head) are fixed."""
    model = build_model(
        "nastr-tiny", 39, img_size=(32, 64), length_predictor=True, length_classes=4, itc=True
    )
    model.train()
    targets = targets_for([6])
    losses = model.loss(model(torch.randn(1, 3, 32, 64), targets), targets)
    assert all(math.isfinite(v.item()) for v in losses.values())
    losses["loss"].backward()


def test_bad_options_fail_in_one_line():
    with pytest.raises(ScenetextError, match="unknown option.*decoder_depth") as info:
        build_model("nastr-tiny", 39, decoder_depth=3)
    assert "\n" not in str(info.value)
    with pytest.raises(ScenetextError, match="unknown encoder"):
        build_model("nastr-tiny", 39, encoder="resnet")
    with pytest.raises(ScenetextError, match="max_length"):
        build_model("nastr-tiny", 39, max_length=0)


def test_options_override_sizes_and_depth():
    model = build_model(
        "nastr-tiny", 39, img_size=[16, 64], max_length=7, decoder_layers=1, encoder="vit-micro"
    )
    assert model.img_size == (16, 64) and model.max_length == 7 and len(model.decoder.layers) == 1
    assert model.grid == (4, 16) and model.normalize == "nastr"
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 16, 64)).logits.shape == (1, 8, 39)


@pytest.mark.slow
def test_overfits_a_small_batch_with_all_constraints_on():
    words = random_words(12)
    with single_thread():
        torch.manual_seed(0)
        model = build_model(
            "nastr-tiny",
            39,
            img_size=(32, 64),
            max_length=6,
            length_predictor=True,
            char_predictor=True,
            itc=True,
        )
        accuracy, steps = overfit(model, words, lr=1.5e-3)
    assert accuracy == 1.0, f"word accuracy {accuracy} after {steps} steps"


@pytest.mark.parametrize("encoder", ["svtr-micro", "vit-micro"])
def test_inference_graph_exports_to_onnx_with_dynamic_batch(tmp_path, encoder):
    with single_thread():
        torch.manual_seed(0)
        model = build_model("nastr-tiny", 39, img_size=(32, 64), max_length=6, encoder=encoder, itc=True)
        logits, attention, expected_logits, expected_attention = onnx_round_trip(
            model, tmp_path / "nastr.onnx"
        )
    assert logits.shape == (3, 7, 39) and attention.shape == expected_attention.shape
    assert np.array_equal(np.isneginf(logits), np.isneginf(expected_logits))
    finite = np.isfinite(expected_logits)
    assert np.allclose(logits[finite], expected_logits[finite], atol=1e-4)
    assert np.allclose(attention, expected_attention, atol=1e-5)
