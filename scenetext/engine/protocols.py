"""Text normalisation protocols applied to both prediction and ground truth before scoring.

Names as used in configs and on the command line: ``en36``, ``case-sensitive``, ``en94``, ``zh``.
A ground truth that becomes empty counts as correct exactly when the normalised prediction is empty too; that
follows from comparing the normalised strings and needs no special case.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

from scenetext.errors import ScenetextError

Protocol = Literal["en36", "case-sensitive", "en94", "zh"]
PROTOCOLS: tuple[str, ...] = ("en36", "case-sensitive", "en94", "zh")

_NOT_EN36 = re.compile(r"[^0-9a-z]+")
_NOT_ALNUM = re.compile(r"[^0-9a-zA-Z]+")
_NOT_PRINTABLE_ASCII = re.compile(r"[^\x21-\x7e]+")
_FULL_TO_HALF = {0x3000: 0x20, **{code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}}


@lru_cache(maxsize=1)
def _t2s():
    """The OpenCC traditional-to-simplified converter, built once per process (loading it takes a moment)."""
    import opencc

    return opencc.OpenCC("t2s")


def normalize_zh(text: str) -> str:
    """The Chinese benchmark (BCTR) rule, in the order NASTR applies it (spec-nastr §6.1).

    1. lowercase; 2. remove ASCII spaces; 3. full-width to half-width (U+3000 -> U+0020, U+FF01-U+FF5E
    shifted down by 0xFEE0); 4. traditional to simplified with OpenCC ``t2s``. NASTR used zhconv 'zh-cn';
    OpenCC is the maintained converter, and the two may differ on a few ambiguous characters.

    Step 2 runs before step 3 on purpose, reproducing the reference: an ideographic space U+3000 is not
    removed but survives as an ASCII space, so "中\u3000国" normalises to "中 国", not "中国".
    """
    text = text.lower().replace(" ", "")
    text = text.translate(_FULL_TO_HALF)
    return _t2s().convert(text)


def normalize_text(text: str, protocol: Protocol | str) -> str:
    """Normalise ``text`` under ``protocol``.

    - ``en36``: lowercase, keep only [0-9a-z] (the common English benchmark rule, both papers).
    - ``case-sensitive``: keep only [0-9a-zA-Z] with case, so symbols and spaces never count but case does.
    - ``en94``: keep the 94 printable ASCII characters (letters with case, digits, symbols); spaces and
      non-ASCII characters are removed.
    - ``zh``: :func:`normalize_zh`.
    """
    if protocol == "en36":
        return _NOT_EN36.sub("", text.lower())
    if protocol == "case-sensitive":
        return _NOT_ALNUM.sub("", text)
    if protocol == "en94":
        return _NOT_PRINTABLE_ASCII.sub("", text)
    if protocol == "zh":
        return normalize_zh(text)
    raise ScenetextError(f"protocol {protocol!r}: expected one of {', '.join(PROTOCOLS)}")
