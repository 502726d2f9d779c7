"""MAERec-style ViT encoder: official sizes, timm names and MAE-pretrained loading."""

from __future__ import annotations

import argparse

import pytest
import torch
from models_helpers import one_thread, trainable

from scenetext.errors import ScenetextError
from scenetext.models.encoders.vit import ViT

pytestmark = pytest.mark.usefixtures(one_thread.__name__)


@pytest.mark.parametrize(("img_size", "params"), [((32, 128), 21_412_224), ((32, 256), 21_510_528)])
def test_vit_small_counts_and_shapes_at_official_sizes(img_size, params):
    with torch.device("meta"):
        model = ViT(img_size)
        tokens = model(torch.empty(2, 3, *img_size))
    assert trainable(model) == params
    assert model.grid == (8, img_size[1] // 4)
    assert tokens.shape == (2, 1 + 8 * img_size[1] // 4, 384)
    assert model.pos_embed.shape == (1, 1 + 8 * img_size[1] // 4, 384)


def test_timm_parameter_names_and_layer_norm_eps():
    with torch.device("meta"):
        names = set(ViT((32, 128)).state_dict())
        model = ViT((32, 128))
    for key in (
        "cls_token",
        "pos_embed",
        "patch_embed.proj.weight",
        "blocks.0.norm1.weight",
        "blocks.11.attn.qkv.bias",
        "blocks.11.attn.proj.weight",
        "blocks.5.mlp.fc1.weight",
        "blocks.5.mlp.fc2.bias",
        "norm.weight",
    ):
        assert key in names
    assert not any(k.startswith("head") for k in names)
    assert model.norm.eps == 1e-6 and model.blocks[0].norm1.eps == 1e-6
    assert model.patch_embed.proj.stride == (4, 4)


def test_input_size_comes_from_the_config():
    model = ViT((16, 48), embed_dim=64, depth=1, num_heads=2).eval()
    assert model(torch.randn(1, 3, 16, 48)).shape == (1, 1 + 4 * 12, 64)
    with pytest.raises(ValueError, match="16x48"):
        model(torch.randn(1, 3, 32, 128))


def test_load_mae_pretrained_drops_head_and_decoder_and_reports(tmp_path):
    torch.manual_seed(0)
    source = ViT((32, 64), embed_dim=64, depth=2, num_heads=2)
    state = dict(source.state_dict())
    state["head.weight"] = torch.randn(10, 64)
    state["decoder_embed.weight"] = torch.randn(32, 64)
    state["decoder_blocks.0.attn.qkv.weight"] = torch.randn(96, 32)
    state["mask_token"] = torch.zeros(1, 1, 32)
    path = tmp_path / "mae.pth"
    torch.save({"model": state, "args": argparse.Namespace(lr=1e-3), "epoch": 799}, path)

    target = ViT((32, 64), embed_dim=64, depth=2, num_heads=2)
    report = target.load_mae_pretrained(path)
    assert report.dropped == ["decoder_blocks.0.attn.qkv.weight", "decoder_embed.weight", "head.weight"]
    assert report.unexpected == ["mask_token"]
    assert report.missing == [] and report.mismatched == []
    assert torch.equal(target.blocks[1].attn.qkv.weight, source.blocks[1].attn.qkv.weight)
    assert torch.equal(target.cls_token, source.cls_token)


def test_pos_embed_is_resized_to_a_new_grid_and_missing_keys_reported():
    source = ViT((32, 64), embed_dim=64, depth=1, num_heads=2)
    state = {k: v for k, v in source.state_dict().items() if not k.startswith("norm.")}
    target = ViT((32, 128), embed_dim=64, depth=1, num_heads=2)
    report = target.load_mae_pretrained(state)
    assert sorted(report.missing) == ["norm.bias", "norm.weight"]
    assert report.mismatched == []
    assert torch.equal(target.pos_embed[:, 0], source.pos_embed[:, 0])
    assert target.pos_embed.shape == (1, 1 + 8 * 32, 64)


def test_unreadable_checkpoint_is_a_one_line_error(tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    model = ViT((32, 64), embed_dim=64, depth=1, num_heads=2)
    with pytest.raises(ScenetextError, match="broken.pth: not a readable checkpoint") as info:
        model.load_mae_pretrained(bad)
    assert "\n" not in str(info.value)
    with pytest.raises(ScenetextError, match="no such checkpoint"):
        model.load_mae_pretrained(tmp_path / "absent.pth")
