"""Official LPV checkpoints: synthetic state dicts with the released key names and shapes (spec §1.6)."""

from __future__ import annotations

import math

import pytest
import torch

from scenetext.errors import ScenetextError
from scenetext.models.lpv import LPV
from scenetext.models.official_lpv import NEVER_BIAS, OFFICIAL_CHARS, convert_official_lpv, load_official_lpv
from scenetext.models.registry import build_model

PREFIX = "module.str_model."
RENAMES = (
    ("backbone.", "encoder."),
    ("attention.", "position_attention."),
    ("trans.", "glrm."),
    ("cls.", "classifiers."),
)
# Official architectures (spec-lpv.md §1.2, §1.4): input, widths, depths, local blocks, strides, trans_ln.
OFFICIAL = {
    "tiny": dict(
        img=(32, 100), dims=(64, 128, 256), depths=(3, 6, 3), local=6, strides=((1, 1), (1, 1)), ln=2
    ),
    "base": dict(
        img=(48, 160), dims=(128, 256, 384), depths=(3, 6, 9), local=8, strides=((2, 1), (1, 1)), ln=3
    ),
}


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _sinusoid(length: int, dim: int) -> torch.Tensor:
    pos = torch.arange(length, dtype=torch.float64)[:, None]
    freq = torch.tensor([10000.0 ** (-2 * (i // 2) / dim) for i in range(dim)], dtype=torch.float64)
    angle = pos * freq
    table = torch.where(torch.arange(dim) % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float()[:, None, :]  # official layout T x 1 x E


def _local_mask(h: int, w: int) -> torch.Tensor:
    """7x11 window around each query, clipped at the borders: 0 inside, -inf outside (1 x 1 x hw x hw)."""
    rows, cols = torch.arange(h * w) // w, torch.arange(h * w) % w
    inside = ((rows[:, None] - rows[None]).abs() <= 3) & ((cols[:, None] - cols[None]).abs() <= 5)
    return torch.zeros(h * w, h * w).masked_fill(~inside, float("-inf"))[None, None]


def official_state_dict(size: str) -> dict[str, torch.Tensor]:
    """Random tensors under the official key names with the official shapes, written from the spec alone."""
    cfg = OFFICIAL[size]
    gen = torch.Generator().manual_seed(0)
    sd: dict[str, torch.Tensor] = {}

    def put(key: str, *shape: int) -> None:
        sd[PREFIX + key] = torch.randn(*shape, generator=gen) if shape else torch.tensor(7)

    def bn(key: str, ch: int) -> None:
        for name in ("weight", "bias", "running_mean"):
            put(f"{key}.{name}", ch)
        sd[PREFIX + f"{key}.running_var"] = torch.rand(ch, generator=gen) + 0.5
        put(f"{key}.num_batches_tracked")

    def linear(key: str, out_f: int, in_f: int) -> None:
        put(f"{key}.weight", out_f, in_f)
        put(f"{key}.bias", out_f)

    def conv(key: str, out_c: int, in_c: int) -> None:
        put(f"{key}.weight", out_c, in_c, 3, 3)
        put(f"{key}.bias", out_c)

    c0, c1, c2 = cfg["dims"]
    h, w = cfg["img"][0] // 4, cfg["img"][1] // 4
    conv("backbone.patch_embed.proj.0.conv", c0 // 2, 3)
    bn("backbone.patch_embed.proj.0.norm", c0 // 2)
    conv("backbone.patch_embed.proj.1.conv", c0, c0 // 2)
    bn("backbone.patch_embed.proj.1.norm", c0)
    put("backbone.pos_embed", 1, h * w, c0)
    block = 0
    for stage, (dim, depth) in enumerate(zip(cfg["dims"], cfg["depths"], strict=True)):
        if stage:
            sh, sw = cfg["strides"][stage - 1]
            h, w = math.ceil(h / sh), math.ceil(w / sw)
            conv(f"backbone.sub_sample{stage}.conv", dim, cfg["dims"][stage - 1])
            put(f"backbone.sub_sample{stage}.norm.weight", dim)
            put(f"backbone.sub_sample{stage}.norm.bias", dim)
        for i in range(depth):
            key = f"backbone.blocks{stage + 1}.{i}"
            for norm in ("norm1", "norm2"):
                put(f"{key}.{norm}.weight", dim)
                put(f"{key}.{norm}.bias", dim)
            linear(f"{key}.mixer.qkv", 3 * dim, dim)
            linear(f"{key}.mixer.proj", dim, dim)
            linear(f"{key}.mlp.fc1", 4 * dim, dim)
            linear(f"{key}.mlp.fc2", dim, 4 * dim)
            if block < cfg["local"]:
                sd[PREFIX + f"{key}.mixer.mask"] = _local_mask(h, w)
            block += 1
    put("backbone.norm.weight", c2)
    put("backbone.norm.bias", c2)
    e, mid = c2, c2 // 8
    for k in range(3):
        key = f"attention.{k}"
        for j in range(4):
            conv(f"{key}.k_encoder.{j}.0", mid, e if j == 0 else mid)
            bn(f"{key}.k_encoder.{j}.1", mid)
            conv(f"{key}.k_decoder.{j}.1", e if j == 3 else mid, mid)
            bn(f"{key}.k_decoder.{j}.2", e if j == 3 else mid)
        sd[PREFIX + f"{key}.pos_encoder.pe"] = _sinusoid(27, e)
        linear(f"{key}.project", e, e)
        linear(f"cls.{k}", 38, e)
    ffn = 1536 if size == "base" else 1024
    for k in range(2):
        sd[PREFIX + f"trans.{k}.pos_encoder.pe"] = _sinusoid(h * w, e)
        for j in range(cfg["ln"]):
            key = f"trans.{k}.transformer.layers.{j}"
            put(f"{key}.self_attn.in_proj_weight", 3 * e, e)
            put(f"{key}.self_attn.in_proj_bias", 3 * e)
            linear(f"{key}.self_attn.out_proj", e, e)
            linear(f"{key}.linear1", ffn, e)
            linear(f"{key}.linear2", e, ffn)
            for norm in ("norm1", "norm2"):
                put(f"{key}.{norm}.weight", e)
                put(f"{key}.{norm}.bias", e)
    return sd


def _official_trainable(sd: dict[str, torch.Tensor]) -> int:
    frozen = ("running_mean", "running_var", "num_batches_tracked", "pos_encoder.pe", "mixer.mask")
    return sum(v.numel() for k, v in sd.items() if not k.endswith(frozen))


@pytest.mark.parametrize(("size", "count"), [("tiny", 8_109_842), ("base", 35_132_610)])
def test_every_official_tensor_finds_its_place(size, count):
    official = official_state_dict(size)
    assert _official_trainable(official) == count  # the synthetic dict really has the released shapes
    model = build_model(f"lpv-{size}", num_classes=3 + len(OFFICIAL_CHARS))
    converted, report = convert_official_lpv(official, model)
    assert report.ok, report.summary()
    assert len(report.checked_tables) == 5  # 3 CPA + 2 GLRM position tables, equal to ours
    assert report.classes_without_weights == [2]  # only SOS
    ours = model.state_dict()
    assert set(converted) == set(ours)
    assert torch.equal(
        converted["glrm.1.transformer.layers.1.self_attn.in_proj_weight"],
        official[PREFIX + "trans.1.transformer.layers.1.self_attn.in_proj_weight"],
    )
    # the released frozen masks (parameters upstream) load into our buffers and equal the ones we build
    assert torch.equal(converted["encoder.blocks1.0.mixer.mask"], ours["encoder.blocks1.0.mixer.mask"])


def test_converted_heads_reproduce_official_logits_in_our_class_layout():
    """Ours = official with [GO]->PAD, [s]->EOS, SOS never chosen, characters shifted by one."""
    torch.manual_seed(0)
    official = official_state_dict("tiny")
    # The same weights under the official 38-class layout: rename only.
    as_official = build_model("lpv-tiny", num_classes=38).eval()
    renamed = {}
    for key, value in official.items():
        key = key[len(PREFIX) :]
        if key.endswith("pos_encoder.pe"):
            continue
        for old, new in RENAMES:
            if key.startswith(old):
                key = new + key[len(old) :]
        renamed[key] = value
    as_official.load_state_dict(renamed)
    ours = build_model("lpv-tiny", num_classes=39).eval()
    report = load_official_lpv(ours, official)
    assert report.ok
    images = torch.rand(2, 3, 32, 100)
    with torch.no_grad():
        reference = as_official(images).logits  # N x 26 x 38: official slots 1..26
        logits = ours(images).logits
    assert torch.allclose(logits[..., [0, 1]], reference[..., [0, 1]], atol=1e-5)
    assert torch.allclose(logits[..., 3:], reference[..., 2:], atol=1e-5)
    assert torch.all(logits[..., 2] == NEVER_BIAS)
    assert torch.equal(logits.argmax(-1) - (logits.argmax(-1) > 2).long(), reference.argmax(-1))


def test_charset_order_decides_the_head_rows():
    official = official_state_dict("tiny")
    charset = "zyx0"  # a different order and a subset: rows follow the characters, not the positions
    model = LPV(build_model("lpv-tiny", num_classes=39).encoder, num_classes=3 + len(charset))
    converted, report = convert_official_lpv(official, model, charset=charset)
    weight = official[PREFIX + "cls.0.weight"]
    expected_rows = [0, 1, None] + [2 + OFFICIAL_CHARS.index(ch) for ch in charset]
    for ours, row in enumerate(expected_rows):
        if row is None:
            assert not converted["classifiers.0.weight"][ours].any()
        else:
            assert torch.equal(converted["classifiers.0.weight"][ours], weight[row])
    assert report.ok


def test_gaps_are_reported_and_strict_loading_refuses_them():
    official = official_state_dict("tiny")
    official[PREFIX + "extra.head.weight"] = torch.zeros(3)
    del official[PREFIX + "cls.2.bias"]
    official[PREFIX + "backbone.pos_embed"] = torch.zeros(1, 8 * 32, 64)  # trained at another size
    model = build_model("lpv-tiny", num_classes=39)
    _, report = convert_official_lpv(official, model)
    assert report.unmapped == [PREFIX + "extra.head.weight"]
    assert report.missing == ["classifiers.2.bias"]
    assert len(report.mismatched) == 1 and "pos_embed" in report.mismatched[0]
    with pytest.raises(ScenetextError, match="does not fit"):
        load_official_lpv(model, official)
    lenient = load_official_lpv(model, official, strict=False)
    assert not lenient.ok and len(lenient.loaded) == len(report.loaded)


def test_checkpoint_files_load_and_bad_files_fail_in_one_line(tmp_path):
    path = tmp_path / "best_accuracy.pth"
    torch.save(official_state_dict("tiny"), path)
    model = build_model("lpv-tiny", num_classes=39)
    assert load_official_lpv(model, path).ok
    broken = tmp_path / "broken.pth"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(ScenetextError, match="broken.pth"):
        load_official_lpv(model, broken)
    with pytest.raises(ScenetextError, match="40 characters needs 43"):
        convert_official_lpv({}, model, charset=OFFICIAL_CHARS + "ABCD")
