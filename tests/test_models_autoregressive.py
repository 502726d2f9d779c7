"""Autoregressive baseline: teacher forcing, causality, greedy decoding with early stop, overfitting, ONNX."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from models_helpers import one_thread, onnx_round_trip, overfit, random_words, trainable

from scenetext.errors import ScenetextError
from scenetext.models.registry import build_model
from scenetext.runtime.charset import EOS, PAD, SOS

pytestmark = pytest.mark.usefixtures(one_thread.__name__)


def tiny(**options):
    torch.manual_seed(0)
    return build_model("ar-tiny", 39, **{"img_size": (32, 64), "max_length": 6, **options})


@pytest.mark.parametrize(("name", "grid"), [("ar-svtr-base", (4, 16)), ("ar-vit-small", (8, 32))])
def test_base_models_share_nastr_sizes_and_read_official_inputs(name, grid):
    with torch.device("meta"):
        # A short decoding length keeps the meta-device greedy loop quick; shapes scale with it.
        model = build_model(name, 93, early_stop=False, max_length=4)
        output = model.eval()(torch.empty(2, 3, 32, 128), return_attention=True)
    assert trainable(model.decoder) == 9_466_368
    assert model.img_size == (32, 128)
    assert output.logits.shape == (2, 5, 93) and output.attention.shape == (2, 5, *grid)


def test_teacher_forcing_uses_the_target_width_and_is_causal():
    model = tiny(dropout=0.0, drop_path_rate=0.0).train()
    images = torch.randn(2, 3, 32, 64)
    targets = torch.tensor([[5, 6, 7, EOS], [8, EOS, PAD, PAD]])
    changed = targets.clone()
    changed[0, 2] = 20
    model.encoder.eval()  # batch-norm statistics fixed so both passes see the same memory
    logits = model(images, targets).logits
    other = model(images, changed).logits
    assert logits.shape == (2, 4, 39)
    # Position t sees tokens before t only: changing target 2 (the input at position 3) leaves 0..2 unchanged.
    assert torch.allclose(logits[:, :3], other[:, :3], atol=1e-5)
    assert not torch.allclose(logits[0, 3], other[0, 3])


def test_greedy_decoding_agrees_with_teacher_forcing_on_its_own_output():
    model = tiny().eval()
    images = torch.randn(3, 3, 32, 64)
    with torch.no_grad():
        greedy = model(images).logits
        tokens = greedy.argmax(-1)
        memory = model.position(model.encoder(images))
        forced, _ = model._teacher_forced(memory, tokens, need_weights=False)
    forced = forced.masked_fill(model.never_decoded, float("-inf"))
    assert torch.equal(forced.argmax(-1), tokens)
    finite = torch.isfinite(greedy)
    assert torch.allclose(forced[finite], greedy[finite], atol=1e-4)


def test_greedy_stops_early_when_every_sequence_has_ended():
    model = tiny().eval()
    with torch.no_grad():
        model.classifier.bias[EOS] = 100.0
        images = torch.randn(2, 3, 32, 64)
        assert model(images).logits.shape == (2, 1, 39)
        model.config.early_stop = False
        assert model(images, return_attention=True).attention.shape == (2, 7, 4, 8)
        assert model(images).logits.shape == (2, 7, 39)


def test_pad_and_sos_are_never_predicted():
    model = tiny(early_stop=False).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, 32, 64)).logits
    assert torch.isneginf(logits[..., PAD]).all() and torch.isneginf(logits[..., SOS]).all()


def test_bad_option_fails_in_one_line():
    with pytest.raises(ScenetextError, match="unknown option.*length_predictor"):
        build_model("ar-tiny", 39, length_predictor=True)


@pytest.mark.slow
def test_overfits_a_small_batch():
    model = tiny()
    accuracy, steps = overfit(model, random_words(12), lr=1.5e-3)
    assert accuracy == 1.0, f"word accuracy {accuracy} after {steps} steps"


def test_fixed_length_graph_exports_to_onnx_with_dynamic_batch(tmp_path):
    model = tiny(max_length=3)  # early_stop stays on: export switches to the fixed-length loop by itself
    logits, attention, expected_logits, expected_attention = onnx_round_trip(model, tmp_path / "ar.onnx")
    assert logits.shape == (3, 4, 39) and attention.shape == (3, 4, 4, 8)
    steps = expected_logits.shape[1]  # eager decoding may have stopped early
    logits, attention = logits[:, :steps], attention[:, :steps]
    assert np.array_equal(np.isneginf(logits), np.isneginf(expected_logits))
    finite = np.isfinite(expected_logits)
    assert np.allclose(logits[finite], expected_logits[finite], atol=1e-4)
    assert np.allclose(attention, expected_attention, atol=1e-5)
