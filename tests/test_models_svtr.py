"""SVTR encoder: official sizes, parameter counts, grids, the local mask buffer and the block layout."""

from __future__ import annotations

import pytest
import torch
from models_helpers import one_thread, trainable

from scenetext.models.encoders.svtr import SVTR, local_attention_mask, svtr_preset

pytestmark = pytest.mark.usefixtures(one_thread.__name__)


def mask_values(module: torch.nn.Module) -> int:
    return sum(b.numel() for name, b in module.named_buffers() if name.endswith("mixer.mask"))


# (size, variant, input, trainable params, local-mask values, output grid); counts from spec-nastr §1.8 and
# spec-lpv §7 (backbone column and "+ frozen local masks").
OFFICIAL = [
    ("base", "nastr", (32, 128), 22_594_688, 217_088, (4, 16)),
    ("base", "nastr", (32, 256), 22_627_456, 868_352, (4, 32)),
    ("tiny", "lpv", (32, 100), 4_111_552, 240_000, (8, 25)),
    ("small", "lpv", (32, 100), 8_415_776, 320_000, (8, 25)),
    ("base", "lpv", (48, 160), 22_623_360, 979_200, (6, 40)),
]


@pytest.mark.parametrize(("size", "variant", "img_size", "params", "masks", "grid"), OFFICIAL)
def test_official_sizes_count_and_shape(size, variant, img_size, params, masks, grid):
    # The meta device propagates shapes through the real forward without the arithmetic.
    with torch.device("meta"):
        model = svtr_preset(size, variant, img_size=img_size)
        tokens = model(torch.empty(2, 3, *img_size))
    assert trainable(model) == params
    assert mask_values(model) == masks
    assert model.grid == grid
    assert tokens.shape == (2, grid[0] * grid[1], model.out_dim)


def test_real_forward_is_finite_and_batch_independent():
    torch.manual_seed(0)
    model = svtr_preset("tiny", "lpv").eval()
    images = torch.randn(2, 3, 32, 100)
    with torch.no_grad():
        tokens = model(images)
        single = model(images[1:])
    assert tokens.shape == (2, 200, 256) and torch.isfinite(tokens).all()
    assert torch.allclose(tokens[1:], single, atol=1e-5)


def test_preset_defaults_follow_each_paper():
    with torch.device("meta"):
        assert svtr_preset("tiny", "lpv").img_size == (32, 100)
        assert svtr_preset("base", "lpv").img_size == (48, 160)
        assert svtr_preset("base", "lpv").stage_grids == ((12, 40), (6, 40), (6, 40))
        assert svtr_preset("base").img_size == (32, 128)
        assert svtr_preset("base").stage_grids == ((8, 32), (4, 16), (4, 16))


@pytest.mark.parametrize(
    ("size", "split"),
    [
        ("tiny", ["LLL", "LLLGGG", "GGG"]),
        ("small", ["LLL", "LLLLLG", "GGGGGG"]),
        ("base", ["LLL", "LLLLLG", "G" * 9]),
    ],
)
def test_mixer_split_per_stage(size, split):
    with torch.device("meta"):
        model = svtr_preset(size, "lpv")
    for stage, expected in enumerate(split, start=1):
        kinds = "".join("L" if b.mixer.mask is not None else "G" for b in getattr(model, f"blocks{stage}"))
        assert kinds == expected


def test_local_mask_is_a_state_dict_buffer_not_a_parameter():
    with torch.device("meta"):
        model = svtr_preset("base")
    params = dict(model.named_parameters())
    state = model.state_dict()
    assert "blocks1.0.mixer.mask" in state and "blocks1.0.mixer.mask" not in params
    assert "blocks2.4.mixer.mask" in state and "blocks2.5.mixer.mask" not in state
    assert state["blocks1.0.mixer.mask"].shape == (1, 1, 256, 256)
    assert not any(name.endswith("mask") for name in params)


def test_local_mask_is_a_clipped_7x11_window():
    mask = local_attention_mask((8, 32), (7, 11))[0, 0].reshape(8, 32, 8, 32)
    centre = mask[4, 16]
    allowed = centre == 0
    assert allowed.sum() == 7 * 11
    assert allowed[1:8, 11:22].all()
    assert torch.isneginf(centre[0]).all() and torch.isneginf(centre[:, 10]).all()
    corner = mask[0, 0] == 0
    assert corner.sum() == 4 * 6 and corner[:4, :6].all()


def test_official_state_dict_names_and_norm_eps():
    with torch.device("meta"):
        model = svtr_preset("base")
    state = model.state_dict()
    for key in (
        "patch_embed.proj.0.conv.weight",
        "patch_embed.proj.1.norm.running_mean",
        "pos_embed",
        "blocks3.8.mlp.fc2.bias",
        "sub_sample1.conv.weight",
        "sub_sample2.norm.weight",
        "norm.weight",
    ):
        assert key in state
    assert model.sub_sample1.conv.stride == (2, 2) and model.sub_sample2.conv.stride == (1, 1)
    assert model.sub_sample1.norm.eps == 1e-5
    assert model.norm.eps == 1e-6 and model.blocks2[0].norm1.eps == 1e-6


def test_drop_path_rises_linearly_to_0_1():
    with torch.device("meta"):
        model = svtr_preset("base")
    blocks = [*model.blocks1, *model.blocks2, *model.blocks3]
    rates = torch.tensor([b.drop_path.p for b in blocks])
    assert torch.allclose(rates, torch.linspace(0, 0.1, 18))


def test_any_input_size_and_wrong_size_is_rejected():
    model = SVTR(
        img_size=(16, 48),
        embed_dims=(16, 32),
        depths=(1, 1),
        num_heads=(1, 2),
        mixer=("local", "global"),
        merge_strides=((2, 1),),
    ).eval()
    assert model.grid == (2, 12)
    assert model(torch.randn(2, 3, 16, 48)).shape == (2, 24, 32)
    with pytest.raises(ValueError, match="16x48"):
        model(torch.randn(2, 3, 32, 48))


def test_bad_mixer_list_is_rejected():
    with pytest.raises(ValueError, match="mixer"):
        SVTR((32, 128), (16, 32), (1, 1), (1, 1), ("local",), ((2, 2),))
