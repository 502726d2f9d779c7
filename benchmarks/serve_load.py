"""Load test of ``scenetext serve``: throughput and latency with and without dynamic batching.

For each ``--max-batch`` value the script starts ``scenetext serve`` on 127.0.0.1 (a free port, no access
log), waits for /health, sends a short untimed warm-up, then ``--requests`` single-image multipart requests
from ``--concurrency`` concurrent clients (httpx, one event loop), and stops the server with SIGINT (graceful
shutdown). Everything is bounded: the request count, ``--timeout`` seconds per run (requests not answered by
then are counted as lost), and a per-request timeout.

Reported per run: throughput (answered requests per second of wall time), latency p50/p99 (client side, from
send to full response), errors (any answer that is not a 200 with exactly one read result), lost (requests
that never got an answer), and the server's own batch statistics from /health (mean and largest batch).

Without ``--model`` an untrained nastr-tiny at the CPU recipe's 32 x 128 input with the en36 charset is
built in a temporary directory (the cost of a forward pass does not depend on the weights). Client and server
share the machine's cores, as they would on a single host. Traffic goes to 127.0.0.1 only.

Usage:
    python benchmarks/serve_load.py [--requests 2000] [--concurrency 16] [--max-batch 1 32] [--timeout 600]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

HOST = "127.0.0.1"


def build_model(directory: Path) -> Path:
    """An untrained nastr-tiny artifact at 32 x 128 (the CPU recipe's input size), en36 charset."""
    import torch

    from scenetext.data.charset import Charset
    from scenetext.data.preprocess import PreprocessConfig
    from scenetext.models.artifact import save_artifact
    from scenetext.models.registry import build_model as build

    charset = Charset.from_spec("en36")
    options = {"img_size": [32, 128], "max_length": 24}
    torch.manual_seed(0)
    model = build("nastr-tiny", len(charset) + 3, img_size=(32, 128), max_length=24)
    return save_artifact(
        directory / "nastr-tiny-32x128",
        model,
        model_name="nastr-tiny",
        model_options=options,
        charset=charset,
        preprocess=PreprocessConfig(32, 128, normalize="nastr"),
        protocol="en36",
    )


def word_pngs(count: int, seed: int = 0) -> list[bytes]:
    """Word-crop-sized PNGs (dark strokes on a light background, 32 x 100 pixels), each different."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        image = np.full((32, 100, 3), 225, dtype=np.uint8)
        for _ in range(int(rng.integers(4, 10))):
            x = int(rng.integers(2, 94))
            image[5:27, x : x + int(rng.integers(2, 5))] = rng.integers(0, 80, 3, dtype=np.uint8)
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PNG")
        out.append(buffer.getvalue())
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_server(model: Path, port: int, max_batch: int, max_wait_ms: float, threads: int | None) -> Any:
    command = [
        sys.executable,
        "-m",
        "scenetext.cli.main",
        "serve",
        "--model",
        str(model),
        "--host",
        HOST,
        "--port",
        str(port),
        "--max-batch",
        str(max_batch),
        "--max-wait-ms",
        str(max_wait_ms),
        "--no-access-log",
    ]
    if threads:
        command += ["--threads", str(threads)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def wait_healthy(base: str, server: Any, limit_s: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited early:\n{server.stderr.read()}")
        try:
            if httpx.get(base + "/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"the server did not become healthy within {limit_s:.0f} s")


def stop_server(server: Any) -> None:
    server.send_signal(signal.SIGINT)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


async def run_load(
    base: str, images: list[bytes], requests: int, concurrency: int, timeout_s: float
) -> dict[str, Any]:
    """Send ``requests`` requests from ``concurrency`` clients; stop sending new ones once time is up."""
    import httpx

    latencies: list[float] = []
    outcome = {"ok": 0, "errors": 0, "lost": 0}
    error_samples: list[str] = []
    next_index = 0
    deadline = time.monotonic() + timeout_s

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < requests and time.monotonic() < deadline:
            index = next_index
            next_index += 1
            payload = images[index % len(images)]
            started = time.perf_counter()
            try:
                response = await http.post(
                    "/v1/recognize", files=[("files", (f"{index}.png", payload, "image/png"))]
                )
            except httpx.HTTPError as exc:
                outcome["lost"] += 1
                error_samples.append(f"lost: {type(exc).__name__}")
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            results = response.json().get("results", []) if response.status_code == 200 else []
            if len(results) == 1 and "text" in results[0]:
                outcome["ok"] += 1
            else:
                outcome["errors"] += 1
                error_samples.append(f"{response.status_code}: {response.text[:200]}")

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        started = time.perf_counter()
        tasks = [asyncio.create_task(client(http)) for _ in range(concurrency)]
        remaining = max(1.0, deadline - time.monotonic() + 60)  # in-flight requests may finish late
        done, pending = await asyncio.wait(tasks, timeout=remaining)
        for task in pending:
            task.cancel()
        wall = time.perf_counter() - started
    answered = outcome["ok"] + outcome["errors"]
    outcome["lost"] = requests - answered  # failed in transit, never answered in time, or never sent
    return {
        "requests": requests,
        "concurrency": concurrency,
        **outcome,
        "wall_s": wall,
        "throughput_rps": answered / wall if wall else 0.0,
        "p50_ms": float(np.percentile(latencies, 50)) if latencies else None,
        "p99_ms": float(np.percentile(latencies, 99)) if latencies else None,
        "error_samples": error_samples[:5],
    }


def measure(args: argparse.Namespace, model: Path, images: list[bytes], max_batch: int) -> dict[str, Any]:
    import httpx

    port = free_port()
    base = f"http://{HOST}:{port}"
    server = start_server(model, port, max_batch, args.max_wait_ms, args.threads)
    try:
        wait_healthy(base, server)
        asyncio.run(run_load(base, images, min(64, args.requests), args.concurrency, 60))  # warm-up
        before = httpx.get(base + "/health", timeout=10).json()["batching"]
        result = asyncio.run(run_load(base, images, args.requests, args.concurrency, args.timeout))
        after = httpx.get(base + "/health", timeout=10).json()["batching"]
    finally:
        stop_server(server)
    batches = after["batches"] - before["batches"]
    result.update(
        max_batch=max_batch,
        max_wait_ms=args.max_wait_ms if max_batch > 1 else 0.0,
        mean_batch=(after["images"] - before["images"]) / batches if batches else 0.0,
        largest_batch=after["largest"],
        load_average=os.getloadavg()[0],
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", type=Path, help="Artifact directory (default: untrained nastr-tiny 32x128)."
    )
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-batch", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--max-wait-ms", type=float, default=10.0)
    parser.add_argument("--threads", type=int, help="Server intra-op threads (default: torch's).")
    parser.add_argument("--timeout", type=float, default=600, help="Seconds allowed per run.")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args(argv)

    images = word_pngs(64)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or build_model(Path(tmp))
        results = [measure(args, model, images, max_batch) for max_batch in args.max_batch]
    print(
        f"{'max batch':>9} {'requests':>8} {'ok':>6} {'errors':>6} {'lost':>5} {'req/s':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'mean batch':>10} {'largest':>7} {'load':>5}"
    )
    for r in results:
        print(
            f"{r['max_batch']:>9} {r['requests']:>8} {r['ok']:>6} {r['errors']:>6} {r['lost']:>5} "
            f"{r['throughput_rps']:>8.1f} {r['p50_ms'] or 0:>8.1f} {r['p99_ms'] or 0:>8.1f} "
            f"{r['mean_batch']:>10.2f} {r['largest_batch']:>7} {r['load_average']:>5.1f}"
        )
        for sample in r["error_samples"]:
            print(f"  {sample}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["errors"] == 0 and r["lost"] == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
