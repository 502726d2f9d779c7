"""Pre-rendering to standard LMDBs: one set, or the fixed-seed challenge benchmark (one LMDB per category).

Samples are rendered by a process pool and written in index order, so the LMDB is byte-identical whatever
the number of workers. The LMDB itself is written atomically by :class:`LmdbWriter`.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from pathlib import Path

from scenetext.synth.config import UNION14M_CATEGORIES, SynthConfig
from scenetext.synth.generator import SynthGenerator, encode_png

BENCHMARK_SEED = 20240601
CHUNK = 32

# Generators of this process by config (as JSON); worker processes build theirs on first use.
_generators: dict[str, SynthGenerator] = {}


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


def _key(config: SynthConfig) -> str:
    return json.dumps(config.to_dict(), sort_keys=True)


def _init_worker() -> None:
    import warnings

    import cv2

    cv2.setNumThreads(1)  # one process per core; OpenCV's own threads would only contend
    warnings.simplefilter("ignore")  # the parent process already reported font fallbacks


def _render(task: tuple[str, int]) -> tuple[bytes, str, str, str, int]:
    key, index = task
    generator = _generators.get(key)
    if generator is None:
        generator = _generators[key] = SynthGenerator(SynthConfig.from_dict(json.loads(key)))
    sample = generator.sample(index)
    return encode_png(sample.image), sample.label, sample.category, sample.font, sample.image.shape[1]


@contextmanager
def render_pool(workers: int) -> Iterator[Pool | None]:
    """Worker processes for :func:`write_lmdb` (None for ``workers`` <= 1: render in this process).

    spawn, not fork: the caller may hold threads (torch, OpenCV) that fork would copy in a bad state.
    """
    if workers <= 1:
        yield None
        return
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker) as pool:
        yield pool


def write_lmdb(
    config: SynthConfig,
    count: int,
    output: str | Path,
    workers: int = 1,
    overwrite: bool = False,
    on_progress: Callable[[int], None] | None = None,
    generator: SynthGenerator | None = None,
    pool: Pool | None = None,
) -> WriteSummary:
    """Render samples 0..count-1 of ``config`` into a new LMDB at ``output``.

    ``workers`` <= 1 renders in this process; more starts a pool (or pass a running ``pool`` from
    :func:`render_pool`). ``on_progress(n)`` is called after every record. A ``generator`` already built for
    ``config`` is reused; otherwise one is built here first, so bad fonts, charsets or word lists fail before
    any worker starts.
    """
    from scenetext.data.lmdb_store import LmdbWriter

    key = _key(config)
    _generators[key] = generator if generator is not None else SynthGenerator(config)
    output = Path(output)
    summary = WriteSummary(str(output), count, 0.0)
    start = time.perf_counter()
    widths = 0
    with LmdbWriter(output, overwrite=overwrite) as writer, render_pool(0 if pool else workers) as own_pool:
        active = pool if pool is not None else own_pool
        tasks = ((key, index) for index in range(count))
        results = map(_render, tasks) if active is None else active.imap(_render, tasks, chunksize=CHUNK)
        for png, label, category, font, width in results:
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


def benchmark_configs(lang: str, seed: int = BENCHMARK_SEED, **overrides) -> dict[str, SynthConfig]:
    """One config per category, each with its own seed so categories do not share their words."""
    return {
        name: SynthConfig(lang=lang, seed=seed + 1000 * k, categories={name: 1.0}, **overrides)
        for k, name in enumerate(UNION14M_CATEGORIES)
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
    configs = benchmark_configs(lang, **overrides)
    first = SynthGenerator(next(iter(configs.values())))  # fail early, and warn once, on fonts or charset
    with render_pool(workers) as pool:
        return [
            write_lmdb(
                cfg,
                per_category,
                Path(output) / name,
                workers,
                overwrite,
                on_progress,
                first if k == 0 else None,
                pool,
            )
            for k, (name, cfg) in enumerate(configs.items())
        ]
