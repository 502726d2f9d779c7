"""Official NASTR weights: key mapping from the released layout, tested on synthetic official-shaped dicts."""

from __future__ import annotations

import pytest
import torch
from models_helpers import one_thread

from scenetext.errors import ScenetextError
from scenetext.models.official_nastr import load_official_nastr, map_official_nastr
from scenetext.models.registry import build_model

pytestmark = pytest.mark.usefixtures(one_thread.__name__)

# Our names -> the official ones (spec-nastr.md §1.8), written independently of the loader's table.
TO_OFFICIAL = (
    ("encoder.", "Encoder."),
    ("decoder.", "TransformerDecoder.TransformerDecoder."),
    ("text_encoder.", "text_encoder.TransformerEncoder."),
    ("fine_predictor.", "fine_predictor.fc."),
    ("coarse_predictor.", "coarse_predictor.net."),
    ("length_predictor.", "length_predictor.net."),
    ("text_embedding.", "TextEmbedding."),
)


class ConfigParser:
    """Stands for the pickled pytorch-template config object the official checkpoints carry."""

    def __init__(self) -> None:
        self.config = {"name": "NASTR"}


def official_state(model: torch.nn.Module, prefix: str = "") -> dict[str, torch.Tensor]:
    """The model's weights under the official key names, plus the stored position table."""
    state = {}
    for key, value in model.state_dict().items():
        for ours, theirs in TO_OFFICIAL:
            if key.startswith(ours):
                state[prefix + theirs + key[len(ours) :]] = value
                break
        else:
            raise AssertionError(f"no official name for {key}")
    dim = model.fine_predictor.in_features
    state[prefix + "position.pe"] = torch.zeros(5000, 1, dim)
    return state


@pytest.mark.parametrize(
    ("name", "classes", "options"),
    [
        ("nastr-svtr-base", 93, {"keep_unused_heads": True}),
        ("nastr-vit-small", 93, {"keep_unused_heads": True}),
        ("nastr-svtr-base-zh", 7937, {}),
    ],
)
def test_official_layouts_map_onto_every_key_with_matching_shapes(name, classes, options):
    with torch.device("meta"):
        model = build_model(name, classes, **options)
    official = official_state(model)
    if name.startswith("nastr-svtr"):
        mask = official["Encoder.blocks1.0.mixer.mask"]
        assert mask.shape == (1, 1, 256 if classes == 93 else 512, 256 if classes == 93 else 512)
        assert "Encoder.blocks2.5.mixer.mask" not in official
    else:
        assert {"Encoder.cls_token", "Encoder.pos_embed", "Encoder.blocks.11.attn.qkv.weight"} <= set(
            official
        )
    mapped, report = map_official_nastr(official)
    assert report.unexpected == [] and report.dropped == ["position.pe"]
    own = model.state_dict()
    assert set(mapped) == set(own)
    assert all(mapped[k].shape == own[k].shape for k in own)


def test_checkpoint_file_round_trip_with_wrapper_prefix_and_pickled_config(tmp_path):
    torch.manual_seed(0)
    source = build_model(
        "nastr-tiny", 39, img_size=(32, 64), char_predictor=True, length_predictor=True, itc=True
    )
    path = tmp_path / "model_best.pth"
    checkpoint = {
        "arch": "NASTR",
        "epoch": 30,
        "model_state_dict": official_state(source, prefix="module."),
        "optimizer": {},
        "monitor_best": 0.94,
        "config": ConfigParser(),
    }
    torch.save(checkpoint, path)

    torch.manual_seed(1)
    target = build_model(
        "nastr-tiny", 39, img_size=(32, 64), char_predictor=True, length_predictor=True, itc=True
    )
    report = load_official_nastr(target, path)
    assert report.ok and report.dropped == ["module.position.pe"]
    for key, value in source.state_dict().items():
        assert torch.equal(target.state_dict()[key], value), key
    target.eval(), source.eval()
    images = torch.randn(2, 3, 32, 64)
    with torch.no_grad():
        assert torch.equal(target(images).logits, source(images).logits)


def test_local_masks_load_into_the_buffers():
    source = build_model("nastr-tiny", 39, img_size=(32, 64))
    official = official_state(source)
    official["Encoder.blocks1.0.mixer.mask"] = torch.zeros_like(official["Encoder.blocks1.0.mixer.mask"])
    target = build_model("nastr-tiny", 39, img_size=(32, 64))
    load_official_nastr(target, official)
    assert torch.equal(target.encoder.blocks1[0].mixer.mask, official["Encoder.blocks1.0.mixer.mask"])
    assert "encoder.blocks1.0.mixer.mask" not in dict(target.named_parameters())


def test_unused_english_heads_are_dropped_for_a_model_without_them():
    with_heads = build_model("nastr-tiny", 39, img_size=(32, 64), keep_unused_heads=True)
    official = official_state(with_heads)
    plain = build_model("nastr-tiny", 39, img_size=(32, 64))
    report = load_official_nastr(plain, official)
    assert report.ok
    assert {k.split(".")[0] for k in report.dropped} == {
        "position",
        "length_predictor",
        "coarse_predictor",
        "text_embedding",
    }


def test_unmapped_missing_and_mismatched_keys_are_reported():
    source = build_model("nastr-tiny", 39, img_size=(32, 64))
    official = official_state(source)
    official["ema.shadow"] = torch.zeros(3)
    del official["fine_predictor.fc.bias"]
    official["Encoder.pos_embed"] = torch.zeros(1, 7, 32)
    target = build_model("nastr-tiny", 39, img_size=(32, 64))
    with pytest.raises(ScenetextError, match="do not fit this model") as info:
        load_official_nastr(target, official)
    assert "\n" not in str(info.value)
    report = load_official_nastr(target, official, strict=False)
    assert report.unexpected == ["ema.shadow"]
    assert report.missing == ["fine_predictor.bias"]
    assert len(report.mismatched) == 1 and report.mismatched[0].startswith("encoder.pos_embed (1, 7, 32)")
