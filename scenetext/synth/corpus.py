"""Text to render: words from wordfreq (en, Simplified zh) and user lists, plus generated numbers, dates,
prices, codes, random strings and phrases, and the rule that turns rendered text into a charset label."""

from __future__ import annotations

import string
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from scenetext.errors import ScenetextError
from scenetext.runtime.charset import Charset

EN_VOCAB = 60000
ZH_VOCAB = 120000
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
ZH_UNITS = ("元", "号", "楼", "层", "室", "路", "米", "公里", "斤", "个", "年", "月", "日", "分", "折")


def is_hanzi(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def fit_label(text: str, charset: Charset) -> str | None:
    """The label for rendered ``text`` under ``charset``, or None if it cannot be expressed.

    Spaces are dropped when the charset has no space (the image still shows them, as in real multi-word
    crops); text is lowercased when the charset has lowercase but no uppercase letters (case-insensitive
    charsets such as en36). Any other character outside the charset rejects the text: the caller draws again.
    """
    label = text if " " in charset else "".join(text.split())
    if "a" in charset and "A" not in charset:
        label = label.lower()
    if not label or not all(ch in charset for ch in label):
        return None
    return label


@lru_cache(maxsize=4)
def _wordfreq_words(lang: str, count: int) -> tuple[str, ...]:
    from wordfreq import top_n_list

    return tuple(top_n_list(lang, count))


@lru_cache(maxsize=8)
def _dictionary(lang: str, charset: Charset, max_length: int, vocabulary: str | None = None) -> list[str]:
    """The dictionary words whose label fits ``charset`` (cached: several generators share one process):
    wordfreq's top words, or those of a ``vocabulary`` file that replaces wordfreq."""
    if vocabulary is not None:
        raw = tuple(_read_word_list(vocabulary))
    else:
        raw = _wordfreq_words(lang, ZH_VOCAB if lang == "zh" else EN_VOCAB)
    if lang == "zh":
        words = [w for w in raw if 1 <= len(w) <= 12 and any(is_hanzi(c) for c in w)]
    else:
        words = [w for w in raw if w.isascii() and any(c.isalpha() for c in w)]
    fitted = ((w, fit_label(w, charset)) for w in words)
    return [w for w, label in fitted if label is not None and len(label) <= max_length]


def export_vocabulary(lang: str, path: str | Path, count: int | None = None) -> int:
    """Write wordfreq's top words for ``lang`` (as the engine draws them) to ``path``, one a line, as a
    ``vocabulary`` file for machines without wordfreq; returns the number of words written."""
    words = _wordfreq_words(lang, count or (ZH_VOCAB if lang == "zh" else EN_VOCAB))
    # A word list is read line by line: words holding whitespace could not round-trip.
    kept = [w for w in words if w.strip() and not any(c.isspace() for c in w)]
    Path(path).write_text("".join(w + "\n" for w in kept), encoding="utf-8")
    return len(kept)


def _read_word_list(path: str) -> list[str]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ScenetextError(f"word list {path}: no such file") from None
    except UnicodeDecodeError:
        raise ScenetextError(f"word list {path}: not UTF-8") from None
    words = [line.strip() for line in text.splitlines() if line.strip()]
    if not words:
        raise ScenetextError(f"word list {path}: empty")
    return words


class Corpus:
    """Draws text for one language; every draw is a function of the given numpy Generator only."""

    def __init__(
        self,
        lang: str,
        charset: Charset,
        word_lists: Sequence[str] = (),
        max_length: int = 25,
        vocabulary: str | None = None,
    ) -> None:
        self.lang = lang
        self.charset = charset
        self.max_length = max_length
        self.words = _dictionary(lang, charset, max_length, vocabulary)
        self.user_words: list[str] = []
        for path in word_lists:
            self.user_words += [w for w in _read_word_list(path) if self._fits(w)]
        if word_lists and not self.user_words:
            raise ScenetextError(f"word lists {', '.join(word_lists)}: no word fits charset {charset.name}")
        alnum = [c for c in charset.chars if c.isascii() and c.isalnum()]
        self.hanzi = [c for c in charset.chars if is_hanzi(c)]
        self.symbols = [c for c in charset.chars if c in string.punctuation]
        self.alnum = alnum or [c for c in charset.chars if not c.isspace()]

    def _fits(self, text: str) -> bool:
        label = fit_label(text, self.charset)
        return label is not None and len(label) <= self.max_length

    def word(self, rng: np.random.Generator) -> str:
        """One dictionary word (user lists, when given, supply half the draws), with case variation.

        A charset that no dictionary word fits (digits only, say) gets random strings of its characters.
        """
        if not self.words and not self.user_words:
            return self.random_string(rng)
        pool = self.user_words if self.user_words and (not self.words or rng.random() < 0.5) else self.words
        text = pool[int(rng.integers(len(pool)))]
        return self._vary_case(text, rng) if self.lang == "en" else text

    def _vary_case(self, text: str, rng: np.random.Generator) -> str:
        r = rng.random()
        if r < 0.45:
            return text
        if r < 0.75:
            return text[:1].upper() + text[1:]
        if r < 0.95:
            return text.upper()
        return "".join(c.upper() if rng.random() < 0.5 else c for c in text)

    def phrase(self, rng: np.random.Generator) -> str:
        """Two to four words; Chinese joins them without spaces most of the time, as signs do."""
        n = int(rng.integers(2, 5))
        words = [self.word(rng) for _ in range(n)]
        if self.lang == "zh":
            return "".join(words) if rng.random() < 0.7 else " ".join(words)
        case = rng.random()
        if case < 0.3:
            words = [w.upper() for w in words]
        elif case < 0.6:
            words = [w[:1].upper() + w[1:] for w in words]
        return " ".join(words)

    def random_string(self, rng: np.random.Generator) -> str:
        """Context-free characters: the model cannot lean on a language prior."""
        n = int(rng.integers(2, 9 if self.lang == "zh" else 13))
        out = []
        for _ in range(n):
            if self.lang == "zh" and self.hanzi and rng.random() < 0.85:
                out.append(self.hanzi[int(rng.integers(len(self.hanzi)))])
            elif self.symbols and rng.random() < 0.08:
                out.append(self.symbols[int(rng.integers(len(self.symbols)))])
            else:
                out.append(self.alnum[int(rng.integers(len(self.alnum)))])
        return "".join(out)

    def structured(self, rng: np.random.Generator) -> str:
        """A number, date, price or code, the non-dictionary strings that fill real scenes."""
        kind = int(rng.integers(4))
        if kind == 0:
            return self._number(rng)
        if kind == 1:
            return self._date(rng)
        if kind == 2:
            return self._price(rng)
        return self._code(rng)

    def _number(self, rng: np.random.Generator) -> str:
        r = rng.random()
        if r < 0.4:
            value = str(int(rng.integers(0, 10 ** int(rng.integers(1, 6)))))
        elif r < 0.6:
            value = f"{rng.random() * 1000:.{int(rng.integers(1, 3))}f}"
        elif r < 0.8:
            value = f"{int(rng.integers(1000, 10_000_000)):,}"
        else:
            value = f"{int(rng.integers(100, 1000))}-{int(rng.integers(1000, 10000))}"
        if self.lang == "zh" and rng.random() < 0.6:
            value += ZH_UNITS[int(rng.integers(len(ZH_UNITS)))]
        return value

    def _date(self, rng: np.random.Generator) -> str:
        y, m, d = int(rng.integers(1950, 2040)), int(rng.integers(1, 13)), int(rng.integers(1, 29))
        if self.lang == "zh":
            return (f"{y}年{m}月{d}日", f"{m}月{d}日", f"{y}-{m:02d}-{d:02d}")[int(rng.integers(3))]
        month = MONTHS[m - 1]
        forms = (
            f"{y}-{m:02d}-{d:02d}",
            f"{d:02d}/{m:02d}/{y}",
            f"{m}/{d}/{y % 100:02d}",
            f"{d:02d}.{m:02d}.{y}",
            f"{month} {d}",
            f"{d} {month.upper()} {y}",
        )
        return forms[int(rng.integers(len(forms)))]

    def _price(self, rng: np.random.Generator) -> str:
        amount = rng.random() * 10 ** int(rng.integers(1, 4))
        value = f"{amount:.2f}" if rng.random() < 0.7 else str(int(amount))
        if self.lang == "zh":
            return ("￥" + value, value + "元", "¥" + value)[int(rng.integers(3))]
        return ("$" + value, value, "$" + value + "/lb", "USD " + value, value + "%")[int(rng.integers(5))]

    def _code(self, rng: np.random.Generator) -> str:
        upper = [c for c in string.ascii_uppercase]
        digits = list(string.digits)

        def pick(pool: list[str], n: int) -> str:
            return "".join(pool[int(rng.integers(len(pool)))] for _ in range(n))

        forms = (
            lambda: f"{pick(upper, 2)}-{pick(digits, 4)}",
            lambda: pick(upper + digits, int(rng.integers(4, 9))),
            lambda: f"#{pick(digits, int(rng.integers(2, 6)))}",
            lambda: f"{pick(upper, 1)}{pick(digits, 3)}{pick(upper, 2)}",
            lambda: f"No.{pick(digits, int(rng.integers(1, 5)))}",
        )
        return forms[int(rng.integers(len(forms)))]()
