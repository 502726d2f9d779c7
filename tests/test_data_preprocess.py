import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from scenetext.errors import ImageTooLargeError, ScenetextError
from scenetext.runtime.preprocess import ImagePreprocessor, PreprocessConfig, load_image


def _encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def _pixels(image: Image.Image) -> np.ndarray:
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)


def test_rgb_file_path(tmp_path):
    path = tmp_path / "word.png"
    Image.new("RGB", (7, 3), (10, 20, 30)).save(path)
    image = load_image(path)
    assert image.size == (7, 3)
    assert (_pixels(image) == (10, 20, 30)).all()
    assert load_image(str(path)).size == (7, 3)


@pytest.mark.parametrize(
    ("mode", "color", "expected"),
    [
        ("L", 77, (77, 77, 77)),
        ("1", 1, (255, 255, 255)),
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
        ("RGBA", (255, 0, 0, 0), (255, 255, 255)),  # fully transparent -> white
        ("RGBA", (255, 0, 0, 255), (255, 0, 0)),
        ("LA", (0, 0), (255, 255, 255)),
        ("LA", (0, 255), (0, 0, 0)),
    ],
)
def test_modes_from_png_bytes(mode, color, expected):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    image = load_image(_encode(Image.new(mode, (5, 4), color), fmt))
    assert image.size == (5, 4)
    assert np.abs(_pixels(image) - expected).max() <= 2  # JPEG rounding


def test_half_transparent_blends_with_white():
    image = load_image(Image.new("RGBA", (2, 2), (0, 0, 0, 128)))
    assert np.abs(_pixels(image) - 127).max() <= 1


def test_palette_with_and_without_transparency():
    plain = Image.new("P", (4, 4), 1)
    plain.putpalette([0, 0, 0, 0, 128, 255] + [0, 0, 0] * 254)
    assert (_pixels(load_image(_encode(plain))) == (0, 128, 255)).all()
    transparent = Image.new("P", (4, 4), 0)
    transparent.putpalette([200, 0, 0] + [0, 0, 0] * 255)
    transparent.info["transparency"] = 0
    assert (_pixels(load_image(_encode(transparent, transparency=0))) == 255).all()


def test_16_bit_png_scaled_to_8_bit():
    values = np.array([[0, 65535, 32896, 257]], dtype=np.uint16)
    encoded = _encode(Image.fromarray(values))
    assert Image.open(io.BytesIO(encoded)).mode.startswith("I")
    image = load_image(encoded)
    assert _pixels(image)[0, :, 0].tolist() == [0, 255, 128, 1]


def test_32_bit_integer_mode_scaled():
    image = load_image(Image.fromarray(np.array([[0, 65535]], dtype=np.int32)))
    assert _pixels(image)[0, :, 0].tolist() == [0, 255]


def test_exif_orientation_applied():
    source = Image.new("RGB", (40, 20), (255, 0, 0))
    source.paste((0, 0, 255), (20, 0, 40, 20))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    image = load_image(_encode(source, "JPEG", exif=exif, quality=95))
    assert image.size == (20, 40)
    pixels = _pixels(image)
    assert pixels[5, 10, 0] > 200 and pixels[5, 10, 2] < 60  # top is the former left: red
    assert pixels[35, 10, 2] > 200 and pixels[35, 10, 0] < 60


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.full((3, 4), 9, np.uint8), (9, 9, 9)),
        (np.full((3, 4, 1), 9, np.uint8), (9, 9, 9)),
        (np.full((3, 4, 3), (1, 2, 3), np.uint8), (1, 2, 3)),
        (np.full((3, 4, 4), (1, 2, 3, 0), np.uint8), (255, 255, 255)),
        (np.full((3, 4), 65535, np.uint16), (255, 255, 255)),
        (np.full((3, 4, 3), 0.5, np.float32), (128, 128, 128)),
        (np.ones((3, 4), bool), (255, 255, 255)),
    ],
)
def test_numpy_arrays(array, expected):
    image = load_image(array)
    assert image.size == (4, 3)
    assert (_pixels(image) == expected).all()


def _assert_one_line(info: pytest.ExceptionInfo, *parts: str) -> None:
    message = str(info.value)
    assert "\n" not in message
    for part in parts:
        assert part in message


def test_bad_array_shape():
    with pytest.raises(ScenetextError) as info:
        load_image(np.zeros((3, 4, 2), np.uint8))
    _assert_one_line(info, "<array>", "(3, 4, 2)")


def test_corrupt_bytes_and_missing_file(tmp_path):
    with pytest.raises(ScenetextError) as info:
        load_image(b"definitely not an image")
    _assert_one_line(info, "<bytes>", "not a recognised image format")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0garbage")
    with pytest.raises(ScenetextError) as info:
        load_image(bad)
    _assert_one_line(info, str(bad))
    with pytest.raises(ScenetextError) as info:
        load_image(tmp_path / "missing.png")
    _assert_one_line(info, "missing.png", "no such file")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ScenetextError, match="empty file"):
        load_image(empty)


def test_truncated_png(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    encoded = _encode(Image.fromarray(noise))
    path = tmp_path / "cut.png"
    path.write_bytes(encoded[: len(encoded) // 2])
    with pytest.raises(ScenetextError) as info:
        load_image(path)
    _assert_one_line(info, str(path), "truncated")


def test_zero_size_refused():
    with pytest.raises(ScenetextError, match="zero-size"):
        load_image(Image.new("RGB", (0, 5)))
    with pytest.raises(ScenetextError, match="zero-size"):
        load_image(np.zeros((0, 5, 3), np.uint8))


def _png_with_header_size(width: int, height: int) -> bytes:
    """A valid small PNG whose IHDR claims width x height: pixel data is far too short to decode."""
    data = bytearray(_encode(Image.new("L", (2, 2))))
    ihdr = bytearray(data[16:29])
    ihdr[0:8] = struct.pack(">II", width, height)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + bytes(ihdr)))
    return bytes(data)


def test_bomb_refused_from_header_before_decoding():
    # 8000 x 8000 is below Pillow's own limit, so the refusal must come from our header check; the pixel data
    # is missing, so decoding first would have reported a truncated image instead.
    with pytest.raises(ImageTooLargeError) as info:
        load_image(_png_with_header_size(8000, 8000), name="label-000000007")
    _assert_one_line(info, "label-000000007", "64000000 pixels", "decompression bomb")
    with pytest.raises(ImageTooLargeError, match="decompression bomb"):
        load_image(_png_with_header_size(100_000, 100_000))
    with pytest.raises(ImageTooLargeError, match="exceeds the limit of 100"):
        load_image(Image.new("RGB", (20, 20)), max_pixels=100)


def test_config_round_trip_and_errors():
    config = PreprocessConfig(height=48, width=160, normalize="lpv", interpolation="bicubic", keep_ratio=True)
    assert PreprocessConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ScenetextError, match="unknown key 'hieght'"):
        PreprocessConfig.from_dict({"hieght": 32})
    with pytest.raises(ScenetextError, match="normalize"):
        PreprocessConfig(normalize="imagenet")
    with pytest.raises(ScenetextError, match="width"):
        PreprocessConfig(width=0)
    with pytest.raises(ScenetextError, match="interpolation"):
        PreprocessConfig(interpolation="nearest")


def test_stretch_and_normalisation_ranges():
    image = Image.new("RGB", (50, 10), (0, 0, 0))
    image.paste((255, 255, 255), (25, 0, 50, 10))
    nastr = ImagePreprocessor(PreprocessConfig(height=32, width=128, normalize="nastr"))(image)
    assert nastr.shape == (3, 32, 128) and nastr.dtype == np.float32
    assert nastr.min() == -1.0 and nastr.max() == 1.0
    lpv = ImagePreprocessor(PreprocessConfig(height=32, width=100, normalize="lpv", interpolation="bicubic"))
    out = lpv(image)
    assert out.shape == (3, 32, 100) and out.min() >= 0.0 and out.max() <= 1.0
    assert out[:, :, 0].max() == 0.0 and out[:, :, -1].min() == 1.0


def test_interpolations_match_the_papers_libraries():
    import cv2

    rng = np.random.default_rng(1)
    array = rng.integers(0, 256, (20, 60, 3), dtype=np.uint8)
    bilinear = ImagePreprocessor(PreprocessConfig(height=32, width=128))
    expected = cv2.resize(array, (128, 32), interpolation=cv2.INTER_LINEAR)
    assert np.array_equal(bilinear.resize(array), expected)
    bicubic = ImagePreprocessor(PreprocessConfig(height=32, width=100, interpolation="bicubic"))
    expected = np.asarray(Image.fromarray(array).resize((100, 32), Image.Resampling.BICUBIC))
    assert np.array_equal(bicubic.resize(Image.fromarray(array)), expected)


def test_keep_ratio_pads_right_with_mean_colour():
    image = Image.new("RGB", (16, 32), (200, 100, 0))
    image.paste((0, 0, 0), (0, 0, 8, 32))  # left half black: mean (100, 50, 0)
    out = ImagePreprocessor(PreprocessConfig(height=32, width=128, keep_ratio=True)).resize(image)
    assert out.shape == (32, 128, 3)
    assert (out[:, :4] == 0).all()
    assert (out[:, 20:] == (100, 50, 0)).all()
    wide = ImagePreprocessor(PreprocessConfig(height=32, width=128, keep_ratio=True)).resize(
        Image.new("RGB", (1000, 10), (5, 5, 5))
    )
    assert wide.shape == (32, 128, 3) and (wide == 5).all()


def test_rotate_tall_counter_clockwise():
    tall = Image.new("RGB", (10, 40), (255, 0, 0))
    tall.paste((0, 0, 255), (0, 20, 10, 40))  # top red, bottom blue
    config = PreprocessConfig(height=32, width=128, rotate_tall=True)
    out = ImagePreprocessor(config).resize(tall)
    # counter-clockwise: the top goes to the left, as PIL's ROTATE_90
    rotated = tall.transpose(Image.Transpose.ROTATE_90)
    expected = np.asarray(rotated.resize((128, 32), Image.Resampling.NEAREST))
    assert (out[:, :50] == expected[:, :50]).all() and (out[:, 78:] == expected[:, 78:]).all()
    assert out[16, 10, 0] == 255 and out[16, 120, 2] == 255
    unrotated = ImagePreprocessor(PreprocessConfig(height=32, width=128)).resize(tall)
    assert unrotated[2, 60, 0] == 255 and unrotated[30, 60, 2] == 255
    wide = Image.new("RGB", (40, 10), (1, 2, 3))
    assert (ImagePreprocessor(config).resize(wide) == (1, 2, 3)).all()


def test_preprocessor_converts_other_modes():
    out = ImagePreprocessor(PreprocessConfig(height=8, width=8, normalize="lpv"))(Image.new("L", (4, 4), 255))
    assert out.shape == (3, 8, 8) and (out == 1.0).all()


def test_module_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, scenetext.runtime.preprocess\nassert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
