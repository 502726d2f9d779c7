"""Pre-rendering to standard LMDBs: one set, or the fixed-seed challenge benchmark (one LMDB per category).

Samples are rendered by a process pool and written in index order, so the LMDB is byte-identical whatever
the number of workers. The LMDB itself is written atomically by :class:`LmdbWriter`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from scenetext.synth.config import CATEGORIES, SynthConfig
from scenetext.synth.generator import SynthGenerator

BENCHMARK_SEED = 20240601
CHUNK = 32

_worker_generator = None


@dataclass
class WriteSummary:
    """What was written, for the CLI summary and ``synth.json`` next to the data."""

    output: str
    count: int
    seconds: float
    categories: Counter = field(default_factory=Counter)
    fonts: Counter = field(default_factory=Counter)
    mean_width: float = 0.0
    bytes: int = 0

    @property
    def images_per_second(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0


def _init_worker(config: dict) -> None:
    import warnings

    import cv2

    global _worker_generator
    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would only contend
    warnings.simplefilter("ignore")  # the parent process already reported font fallbacks
    _worker_generator = SynthGenerator(SynthConfig.from_dict(config))


def _render(index: int) -> tuple[bytes, str, str, str, int]:
    from scenetext.synth.generator import encode_png

    sample = _worker_generator.sample(index)
    return encode_png(sample.image), sample.label, sample.category, sample.font, sample.image.shape[1]


def write_lmdb(
    config: SynthConfig,
    count: int,
    output: str | Path,
    workers: int = 1,
    overwrite: bool = False,
    on_progress: Callable[[int], None] | None = None,
    generator: SynthGenerator | None = None,
) -> WriteSummary:
    """Render samples 0..count-1 of ``config`` into a new LMDB at ``output``; ``workers`` <= 1 renders in
    this process. ``on_progress(n)`` is called after every record. A ``generator`` already built for
    ``config`` is reused instead of building another."""
    from scenetext.data.lmdb_store import LmdbWriter

    global _worker_generator
    # Built here even when workers render: bad fonts, charsets or word lists fail before any process starts.
    _worker_generator = generator if generator is not None else SynthGenerator(config)
    output = Path(output)
    summary = WriteSummary(str(output), count, 0.0)
    start = time.perf_counter()
    widths = 0
    with LmdbWriter(output, overwrite=overwrite) as writer:
        for png, label, category, font, width in _rendered(config, count, workers):
            writer.add(png, label)
            summary.categories[category] += 1
            summary.fonts[font] += 1
            summary.bytes += len(png)
            widths += width
            if on_progress is not None:
                on_progress(1)
    summary.seconds = time.perf_counter() - start
    summary.mean_width = widths / max(count, 1)
    meta = {
        "config": config.to_dict(),
        "count": count,
        "categories": dict(summary.categories),
        "fonts_used": len(summary.fonts),
    }
    (output / "synth.json").write_text(
        json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return summary


def _rendered(config: SynthConfig, count: int, workers: int):
    if workers <= 1:
        for index in range(count):
            yield _render(index)
        return
    import multiprocessing

    # spawn, not fork: the caller may hold threads (torch, OpenCV) that fork would copy in a bad state.
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=_init_worker, initargs=(config.to_dict(),)) as pool:
        yield from pool.imap(_render, range(count), chunksize=CHUNK)


def benchmark_configs(lang: str, seed: int = BENCHMARK_SEED, **overrides) -> dict[str, SynthConfig]:
    """One config per category, each with its own seed so categories do not share their words."""
    return {
        name: SynthConfig(lang=lang, seed=seed + 1000 * k, categories={name: 1.0}, **overrides)
        for k, name in enumerate(CATEGORIES)
    }


def write_benchmark(
    lang: str,
    output: str | Path,
    per_category: int = 500,
    workers: int = 1,
    overwrite: bool = False,
    on_progress: Callable[[int], None] | None = None,
    **overrides,
) -> list[WriteSummary]:
    """The synthetic challenge set: ``output/<category>/`` holds ``per_category`` samples of that category."""
    return [
        write_lmdb(cfg, per_category, Path(output) / name, workers, overwrite, on_progress)
        for name, cfg in benchmark_configs(lang, **overrides).items()
    ]


def with_overrides(config: SynthConfig, **changes) -> SynthConfig:
    """A copy of ``config`` with the non-None ``changes`` applied (CLI flags over a config file)."""
    return replace(config, **{k: v for k, v in changes.items() if v is not None})
