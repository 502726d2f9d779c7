import string
import subprocess
import sys

import numpy as np
import pytest
import torch

from scenetext.data.charset import LabelFilter
from scenetext.errors import ScenetextError
from scenetext.runtime.charset import EOS, PAD, SOS, Charset, Tokenizer
from scenetext.runtime.decode import decode_probs


def _cjk_chars(count: int) -> str:
    return "".join(chr(0x4E00 + i) for i in range(count))


def test_builtin_charsets():
    assert Charset.from_spec("en36").chars == string.digits + string.ascii_lowercase
    en94 = Charset.from_spec("en94")
    assert len(en94) == 94 and " " not in en94 and "~" in en94 and "A" in en94
    zh = Charset.from_spec("zh")
    assert len(zh) == 7044
    assert len(set(zh.chars)) == len(zh)
    for ch in "中国的啊齄" + "abcXYZ!~" + "，。！（）":
        assert ch in zh
    assert " " not in zh and "\u3000" not in zh


def test_unknown_spec_is_one_line_error(tmp_path):
    with pytest.raises(ScenetextError, match="not a built-in") as info:
        Charset.from_spec(str(tmp_path / "missing.txt"))
    assert "\n" not in str(info.value)


def test_key_file_one_line_and_one_per_line_agree(tmp_path):
    chars = _cjk_chars(3000) + "abc0123!"
    one_line = tmp_path / "one_line.txt"
    one_line.write_text(f"  {chars}  \n", encoding="utf-8")
    per_line = tmp_path / "per_line.txt"
    per_line.write_text("\r\n".join(chars) + "\r\n", encoding="utf-8")
    a, b = Charset.from_file(one_line), Charset.from_file(per_line)
    assert a.chars == b.chars == chars
    assert a.name == str(one_line)


def test_key_file_space_line_and_bom(tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text("\ufeffa\n \nb\n", encoding="utf-8")
    assert Charset.from_file(path).chars == "a b"


def test_save_round_trips_space(tmp_path):
    charset = Charset("a b中", "custom")
    charset.save(tmp_path / "k.txt")
    assert Charset.from_spec(str(tmp_path / "k.txt")).chars == "a b中"


@pytest.mark.parametrize(
    ("content", "reason"),
    [("aba", "duplicate character 'a'"), ("", "no characters"), (b"\xff\xfe\xfa", "not UTF-8")],
)
def test_bad_key_files(tmp_path, content, reason):
    path = tmp_path / "keys.txt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ScenetextError, match=reason):
        Charset.from_file(path)


def test_encode_layout():
    tok = Tokenizer(Charset.from_spec("en36"))
    assert tok.num_classes == 39
    ids = tok.encode(["ab", "", "0"])
    assert ids.dtype == torch.long
    assert ids.tolist() == [[13, 14, EOS], [EOS, PAD, PAD], [3, EOS, PAD]]
    sos = tok.encode_with_sos(["ab", ""])
    assert sos.tolist() == [[SOS, 13, 14, EOS], [SOS, EOS, PAD, PAD]]


def test_encode_oov_names_label_and_character():
    tok = Tokenizer(Charset.from_spec("en36"))
    with pytest.raises(ScenetextError, match=r"label 'a!': character '!'"):
        tok.encode(["a!"])


def test_round_trip_ascii_and_cjk(tmp_path):
    path = tmp_path / "keys.txt"
    path.write_text(_cjk_chars(3000) + string.printable.strip(), encoding="utf-8")
    tok = Tokenizer(Charset.from_file(path))
    labels = ["Hello,World!", "", _cjk_chars(3000)[-7:], "一二x9", _cjk_chars(40)]
    ids = tok.encode(labels)
    assert tok.decode(ids) == labels
    assert tok.decode(ids.numpy()) == labels
    assert tok.decode(tok.encode_with_sos(labels)) == labels


def test_decode_never_emits_special_tokens():
    tok = Tokenizer(Charset.from_spec("en36"))
    a, b, c = 13, 14, 15
    ids = np.array(
        [
            [a, PAD, b, SOS, c, EOS, a, a],  # PAD/SOS inside, text after EOS
            [a, b, c, a, b, c, a, b],  # no EOS: all positions used
            [EOS, a, b, c, EOS, PAD, PAD, PAD],  # EOS first: empty
            [PAD, PAD, SOS, SOS, PAD, PAD, PAD, PAD],  # only specials, no EOS
        ]
    )
    assert tok.decode(ids) == ["abc", "abcabcab", "", ""]


def test_decode_rejects_bad_input():
    tok = Tokenizer(Charset.from_spec("en36"))
    with pytest.raises(ScenetextError, match="out of range"):
        tok.decode(np.array([[39]]))
    with pytest.raises(ScenetextError, match="N x T"):
        tok.decode(np.array([3, 4]))
    with pytest.raises(ScenetextError, match="N x T x 39"):
        decode_probs(tok, np.zeros((1, 4, 10)))


def test_decode_probs_confidence_includes_eos():
    tok = Tokenizer(Charset.from_spec("en36"))
    probs = np.full((2, 4, tok.num_classes), 0.001)
    probs[0, 0, 13] = 0.9  # a
    probs[0, 1, 14] = 0.8  # b
    probs[0, 2, EOS] = 0.5
    probs[0, 3, 15] = 0.99  # after EOS: ignored
    probs[1, :, 13] = 0.5  # no EOS: "aaaa"
    (text, conf, per_char), (text2, conf2, per_char2) = decode_probs(tok, probs)
    assert text == "ab" and per_char == pytest.approx([0.9, 0.8])
    assert conf == pytest.approx(0.9 * 0.8 * 0.5)
    assert text2 == "aaaa" and conf2 == pytest.approx(0.5**4) and len(per_char2) == 4
    assert decode_probs(tok, torch.from_numpy(probs))[0][0] == "ab"


def test_decode_works_without_torch():
    code = (
        "import sys, numpy as np\n"
        "from scenetext.runtime.charset import Charset, Tokenizer\n"
        "tok = Tokenizer(Charset.from_spec('en36'))\n"
        "assert tok.decode(np.array([[13, 1]])) == ['a']\n"
        "assert 'torch' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_label_filter_strip_counts():
    f = LabelFilter(Charset.from_spec("en36"), policy="strip", lowercase=True)
    assert f("Hello World!") == "helloworld"
    assert f("a-b") == "ab"
    assert f("?!") is None
    assert f("ok") == "ok"
    assert f.stats["seen"] == 4 and f.stats["kept"] == 3
    assert f.stats["dropped"] == {"empty": 1}
    assert f.stats["labels_stripped"] == 3
    assert f.stats["stripped_chars"] == {" ": 1, "!": 2, "-": 1, "?": 1}
    report = f.report()
    assert "4 seen, 3 kept" in report and "1 dropped empty" in report and "5 characters" in report
    assert "\n" not in report


def test_label_filter_drop_policy_and_case():
    f = LabelFilter(Charset.from_spec("en36"), policy="drop")
    assert f("abc") == "abc"
    assert f("Abc") is None  # uppercase is outside en36 without lowercase=True
    assert f("a b") is None
    assert f.stats["dropped"] == {"oov": 2}
    assert "2 dropped with characters outside the charset" in f.report()


def test_label_filter_max_length_filtered_vs_raw():
    charset = Charset.from_spec("en36")
    nastr = LabelFilter(charset, max_length=3)
    assert nastr("ab--c") == "abc"  # length measured after stripping
    assert nastr("abcd") is None
    assert nastr.stats["dropped"] == {"too_long": 1}
    assert "longer than 3 characters" in nastr.report()
    lpv = LabelFilter(charset, max_length=3, length_of_raw=True, keep_empty=True)
    assert lpv("ab--c") is None
    assert lpv("!!") == ""


def test_label_filter_rejects_bad_settings():
    with pytest.raises(ScenetextError, match="policy"):
        LabelFilter(Charset.from_spec("en36"), policy="ignore")
    with pytest.raises(ScenetextError, match="max_length"):
        LabelFilter(Charset.from_spec("en36"), max_length=0)
