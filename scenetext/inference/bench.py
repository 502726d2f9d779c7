"""Speed and size of a model as users run it: parameters, FLOPs, latency, throughput and peak memory.

Timings go through :meth:`Recognizer.read` on uint8 RGB word-sized arrays, so they include resizing,
normalisation, the forward pass, softmax and decoding: what a caller of the API waits for. The forward
pass alone (``backend.run`` on a preprocessed batch) is reported beside it as ``model_latency_ms``.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` on the torch model at batch 1 (for the
onnx backend the same architecture is rebuilt from the config; FLOPs do not depend on the weights); without
torch (the inference-only install) they are reported as None. Peak
memory is ``torch.cuda.max_memory_allocated`` on a GPU and the process's peak resident set size
(``getrusage`` maxrss, which sees native allocations that ``tracemalloc`` would miss) on a CPU.
"""

from __future__ import annotations

import resource
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from scenetext.errors import ScenetextError
from scenetext.inference.recognizer import Recognizer, torch_installed

BENCH_IMAGE_SIZE = (32, 100)  # a typical word crop (height, width); each read resizes it to the model input


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 / 1024 if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB on Linux


def _percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _time_calls(call: Callable[[], Any], runs: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        call()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return times


def _summary(times_ms: Sequence[float]) -> dict[str, float]:
    return {
        "median": float(statistics.median(times_ms)),
        "p90": _percentile(times_ms, 90),
        "runs": len(times_ms),
    }


def count_flops(config: dict[str, Any], model: Any = None) -> int:
    """FLOPs of one forward pass at batch 1 (2 per multiply-add), counted by torch's FlopCounterMode."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from scenetext.models.artifact import build_options
    from scenetext.models.registry import build_model

    if model is None:
        spec = config["model"]
        model = build_model(spec["name"], int(spec["num_classes"]), **build_options(spec.get("options", {})))
        model.eval()
    pre = config["preprocess"]
    device = next(model.parameters()).device
    images = torch.zeros(1, 3, int(pre["height"]), int(pre["width"]), device=device)
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(images)
    return int(counter.get_total_flops())


def _cuda_memory(device: str) -> tuple[Callable[[], None], Callable[[], float]] | None:
    if not device.startswith("cuda") or "torch" not in sys.modules:
        return None
    import torch

    return torch.cuda.reset_peak_memory_stats, lambda: torch.cuda.max_memory_allocated() / 2**20


def bench_images(count: int, seed: int = 0) -> list[np.ndarray]:
    """Deterministic word-sized noise images: the network's cost does not depend on what they show."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*BENCH_IMAGE_SIZE, 3), dtype=np.uint8) for _ in range(count)]


def run_bench(
    recognizer: Recognizer,
    batches: Sequence[int] = (1, 64),
    runs: int = 50,
    warmup: int = 5,
    batch_runs: int = 5,
) -> dict[str, Any]:
    """Measure one loaded recognizer; the returned dict is what ``scenetext bench --json`` prints."""
    if not batches or min(batches) < 1:
        raise ScenetextError(f"batch sizes {list(batches)}: need at least one, each at least 1")
    if runs < 1 or batch_runs < 1 or warmup < 0:
        raise ScenetextError("runs and batch runs must be at least 1, warm-up at least 0")
    device = recognizer.backend.device
    cuda = _cuda_memory(device)
    result: dict[str, Any] = {
        "model": str(recognizer.source),
        "name": recognizer.model_name,
        "backend": recognizer.backend.name,
        "device": device,
        "threads": _threads(recognizer),
        "input_size": list(recognizer.input_size),
        "image_size": list(BENCH_IMAGE_SIZE),
        "parameters": recognizer.parameter_count(),
    }
    one = bench_images(1)
    times = _time_calls(lambda: recognizer.read(one), runs, warmup)
    result["latency_ms"] = _summary(times)
    batch = recognizer.preprocess(one[0])[None]
    model_times = _time_calls(lambda: recognizer.backend.run(batch, False), runs, warmup)
    result["model_latency_ms"] = _summary(model_times)
    throughput = []
    memory = []
    for size in sorted(set(batches)):
        images = bench_images(size, seed=size)
        if cuda:
            cuda[0]()
        if size == 1:
            per_batch = result["latency_ms"]["median"]
        else:
            per_batch = statistics.median(
                _time_calls(
                    lambda images=images, size=size: recognizer.read(images, batch_size=size),
                    batch_runs,
                    min(warmup, 1),
                )
            )
        throughput.append({"batch": size, "ms_per_batch": per_batch, "images_per_s": size * 1000 / per_batch})
        memory.append(
            {
                "batch": size,
                "kind": "cuda_allocated" if cuda else "process_peak_rss",
                "mb": cuda[1]() if cuda else _peak_rss_mb(),
            }
        )
    result["throughput"] = throughput
    result["peak_memory"] = memory
    model = recognizer.backend.model if recognizer.backend.name == "torch" else None  # type: ignore[attr-defined]
    # FLOPs are counted by torch; the inference-only install (no [train] extra) reports none.
    result["flops"] = count_flops(recognizer.config, model) if torch_installed() else None
    return result


def _threads(recognizer: Recognizer) -> int | None:
    if recognizer.backend.name == "torch":
        import torch

        return torch.get_num_threads()
    options = recognizer.backend.session.get_session_options()  # type: ignore[attr-defined]
    return options.intra_op_num_threads or None


def render_table(results: Sequence[dict[str, Any]]) -> Any:
    """A rich table, one column per measured device."""
    from rich.table import Table

    table = Table(title=f"{results[0]['name']} ({results[0]['model']})")
    table.add_column("metric")
    for r in results:
        table.add_column(
            f"{r['backend']} / {r['device']}" + (f" / {r['threads']} threads" if r["threads"] else ""),
            justify="right",
        )
    rows: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("parameters", lambda r: f"{r['parameters'] / 1e6:.2f} M"),
        ("FLOPs / image", lambda r: "- (needs torch)" if r["flops"] is None else f"{r['flops'] / 1e9:.3f} G"),
        ("input (H x W)", lambda r: "x".join(map(str, r["input_size"]))),
        ("batch-1 latency median", lambda r: f"{r['latency_ms']['median']:.2f} ms"),
        ("batch-1 latency p90", lambda r: f"{r['latency_ms']['p90']:.2f} ms"),
        ("batch-1 forward only median", lambda r: f"{r['model_latency_ms']['median']:.2f} ms"),
    ]
    for entry in results[0]["throughput"]:
        size = entry["batch"]
        rows.append(
            (f"throughput batch {size}", lambda r, s=size: _pick(r["throughput"], s, "images_per_s", "img/s"))
        )
    for entry in results[0]["peak_memory"]:
        size = entry["batch"]
        rows.append(
            (f"peak memory to batch {size}", lambda r, s=size: _pick(r["peak_memory"], s, "mb", "MiB"))
        )
    for label, cell in rows:
        table.add_row(label, *(cell(r) for r in results))
    return table


def _pick(entries: Sequence[dict[str, Any]], size: int, key: str, unit: str) -> str:
    for entry in entries:
        if entry["batch"] == size:
            suffix = " (RSS)" if entry.get("kind") == "process_peak_rss" else ""
            return f"{entry[key]:.1f} {unit}{suffix}"
    return "-"
