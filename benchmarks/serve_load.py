"""Load test of ``scenetext serve``: throughput and latency with and without dynamic batching.

For each ``--max-batch`` value the script starts ``scenetext serve`` on 127.0.0.1 (a free port, no access
log), waits for /health, sends a short untimed warm-up, then ``--requests`` single-image multipart requests
from ``--concurrency`` concurrent clients (httpx, one event loop), and stops the server with SIGINT (graceful
shutdown). Everything is bounded: the request count, ``--timeout`` seconds per run (requests not answered by
then are counted as lost), and a per-request timeout.

Reported per run: throughput (answered requests per second of wall time), latency p50/p99 (client side, from
send to full response), errors (any answer that is not a 200 with exactly one read result), lost (requests
that never got an answer), and the server's own batch statistics from /health (mean and largest batch).

With ``--bad-every N`` every Nth request is a hostile or broken one instead, the kinds in turn: a 4000 x
4000 16-bit PNG (exactly the default ``--max-pixels``; answered 200), JSON nested 1,100 deep (400), a
multipart boundary of 300 characters (400), a body over ``--max-upload-bytes`` (413), an undecodable image
(422), more images than ``--max-images`` (400), and an upload the client aborts halfway (no answer expected;
the server logs one line). Each must get exactly its expected status. With ``--slow-clients K``, K more
connections keep sending their headers or their body a byte at a time, beside the load, for as long as it
runs; each must be cut off with a 408 between ``--read-timeout`` and ``--read-timeout`` + 5 seconds (less
0.1 s: the client starts its clock after connecting, the server a little before).
The server's log goes to a file; its 500s and tracebacks are counted (they must be 0).

Without ``--model`` an untrained nastr-tiny at the CPU recipe's 32 x 128 input with the en36 charset is
built in a temporary directory (the cost of a forward pass does not depend on the weights). Client and server
share the machine's cores, as they would on a single host. Traffic goes to 127.0.0.1 only.

Usage:
    python benchmarks/serve_load.py [--requests 2000] [--concurrency 16] [--max-batch 1 32] [--timeout 600]
        [--bad-every 25] [--slow-clients 8] [--read-timeout 10]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import io
import json
import os
import re
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
BAD_MAX_UPLOAD_BYTES = 1_000_000  # the server's --max-upload-bytes with --bad-every: oversize stays cheap


def build_model(directory: Path) -> Path:
    """An untrained nastr-tiny artifact at 32 x 128 (the CPU recipe's input size), en36 charset."""
    import torch

    from scenetext.models.artifact import save_artifact
    from scenetext.models.registry import build_model as build
    from scenetext.runtime.charset import Charset
    from scenetext.runtime.preprocess import PreprocessConfig

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


def start_server(
    model: Path,
    port: int,
    max_batch: int,
    max_wait_ms: float,
    threads: int | None,
    log: Any = subprocess.DEVNULL,
    extra: list[str] | None = None,
) -> Any:
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
    command += extra or []
    return subprocess.Popen(command, stdout=log, stderr=log, text=True)


def wait_healthy(base: str, server: Any, limit_s: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server exited early (exit {server.returncode}); see its log")
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


def _multipart(boundary: str, parts: list[bytes]) -> bytes:
    body = b""
    for index, data in enumerate(parts):
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{index}.png"\r\n'
                "Content-Type: image/png\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return body + f"--{boundary}--\r\n".encode()


def bad_requests(max_upload_bytes: int, max_images: int) -> dict[str, tuple[int, bytes, str]]:
    """Kind -> (expected status, body, content type) of the hostile and broken requests of --bad-every."""
    rows = np.full((4000, 4000), 20_000, dtype=np.uint16)
    rows[::50] = 60_000
    buffer = io.BytesIO()
    Image.fromarray(rows).save(buffer, format="PNG")
    word = word_pngs(1, seed=99)[0]
    long_boundary = "b" * 300
    return {
        "16-bit 4000x4000": (200, _multipart("b0", [buffer.getvalue()]), "multipart/form-data; boundary=b0"),
        "json 1100 deep": (400, b'{"images": ' + b"[" * 1100 + b"]" * 1100 + b"}", "application/json"),
        "boundary 300": (
            400,
            _multipart(long_boundary, [word]),
            f"multipart/form-data; boundary={long_boundary}",
        ),
        "oversize": (
            413,
            _multipart("b0", [b"\0" * (max_upload_bytes + 1)]),
            "multipart/form-data; boundary=b0",
        ),
        "undecodable": (
            422,
            _multipart("b0", [b"\x89PNG\r\n\x1a\nnot an image"]),
            "multipart/form-data; boundary=b0",
        ),
        "too many images": (
            400,
            _multipart("b0", [word] * (max_images + 1)),
            "multipart/form-data; boundary=b0",
        ),
        "aborted upload": (0, b"", ""),
    }


async def aborted_upload(host: str, port: int) -> None:
    """Headers announcing 100 kB, a tenth of it, then the connection closed: no answer is expected."""
    _, writer = await asyncio.open_connection(host, port)
    writer.write(
        b"POST /v1/recognize HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b0\r\n"
        b'Content-Length: 100000\r\n\r\n--b0\r\nContent-Disposition: form-data; name="files"\r\n\r\n'
        + b"a"
        * 10_000
    )
    await writer.drain()
    await asyncio.sleep(0.05)
    writer.close()


async def slow_client(host: str, port: int, stage: str) -> tuple[float, str]:
    """Send headers (or, after complete headers, a body) one byte a second until the server answers."""
    reader, writer = await asyncio.open_connection(host, port)
    started = time.monotonic()
    headers = (
        b"POST /v1/recognize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5000\r\n\r\n"
    )
    if stage == "body":
        writer.write(headers)
    pending = iter(headers if stage == "headers" else b"a" * 5000)
    answer = asyncio.ensure_future(reader.read(4096))
    try:
        while not answer.done():
            try:
                writer.write(bytes([next(pending)]))
                await writer.drain()
            except (OSError, StopIteration):
                break
            await asyncio.wait([answer], timeout=1.0)
        first = (await asyncio.wait_for(answer, 30)).split(b"\r\n", 1)[0].decode("latin-1")
    except (OSError, asyncio.TimeoutError) as exc:
        first = f"no answer ({type(exc).__name__})"
    finally:
        writer.close()
    return time.monotonic() - started, first


async def run_load(
    base: str,
    images: list[bytes],
    requests: int,
    concurrency: int,
    timeout_s: float,
    bad_every: int = 0,
    bad: dict[str, tuple[int, bytes, str]] | None = None,
    slow_clients: int = 0,
) -> dict[str, Any]:
    """Send ``requests`` requests from ``concurrency`` clients; stop sending new ones once time is up.

    Every ``bad_every``-th request is one of ``bad`` (kinds in turn); ``slow_clients`` slow connections run
    beside the load until it is done, each starting again once cut off.
    """
    import httpx

    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    outcome = {"ok": 0, "errors": 0, "lost": 0}
    statuses: collections.Counter[int] = collections.Counter()
    bad_outcome: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    error_samples: list[str] = []
    slow: list[tuple[str, float, str]] = []
    kinds = list(bad or {})
    next_index = 0
    good_sent = 0
    deadline = time.monotonic() + timeout_s
    done = asyncio.Event()

    async def send_bad(http: httpx.AsyncClient, kind: str) -> None:
        expected, body, content_type = (bad or {})[kind]
        if kind == "aborted upload":
            await aborted_upload(host, int(port))
            bad_outcome[kind]["sent, no answer expected"] += 1
            return
        try:
            response = await http.post("/v1/recognize", content=body, headers={"content-type": content_type})
        except httpx.HTTPError as exc:
            bad_outcome[kind]["lost"] += 1
            error_samples.append(f"{kind} lost: {type(exc).__name__}")
            return
        statuses[response.status_code] += 1
        if response.status_code == expected:
            bad_outcome[kind][f"{expected} as expected"] += 1
        else:
            bad_outcome[kind][f"unexpected {response.status_code}"] += 1
            error_samples.append(f"{kind}: {response.status_code}: {response.text[:200]}")

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal next_index, good_sent
        while next_index < requests and time.monotonic() < deadline:
            index = next_index
            next_index += 1
            if bad_every and (index + 1) % bad_every == 0:
                await send_bad(http, kinds[(index // bad_every) % len(kinds)])
                continue
            good_sent += 1
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
            statuses[response.status_code] += 1
            results = response.json().get("results", []) if response.status_code == 200 else []
            if len(results) == 1 and "text" in results[0]:
                outcome["ok"] += 1
            else:
                outcome["errors"] += 1
                error_samples.append(f"{response.status_code}: {response.text[:200]}")

    async def slow_loop(stage: str) -> None:
        while not done.is_set():
            elapsed, first = await slow_client(host, int(port), stage)
            slow.append((stage, elapsed, first))

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        started = time.perf_counter()
        slow_tasks = [
            asyncio.create_task(slow_loop("headers" if i % 2 == 0 else "body")) for i in range(slow_clients)
        ]
        tasks = [asyncio.create_task(client(http)) for _ in range(concurrency)]
        remaining = max(1.0, deadline - time.monotonic() + 60)  # in-flight requests may finish late
        _, pending = await asyncio.wait(tasks, timeout=remaining)
        for task in pending:
            task.cancel()
        wall = time.perf_counter() - started
        done.set()
        if slow_tasks:
            await asyncio.wait(slow_tasks, timeout=120)  # the round in progress ends at its own cut-off
    answered = outcome["ok"] + outcome["errors"]
    outcome["lost"] = good_sent - answered  # failed in transit or never answered in time
    unsent = requests - next_index
    return {
        "requests": requests,
        "concurrency": concurrency,
        "good": good_sent,
        **outcome,
        "unsent": unsent,
        "statuses": dict(sorted(statuses.items())),
        "bad": {kind: dict(counts) for kind, counts in bad_outcome.items()},
        "slow": slow,
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
    extra = ["--read-timeout", str(args.read_timeout)]
    bad = None
    if args.bad_every:
        extra += ["--max-upload-bytes", str(BAD_MAX_UPLOAD_BYTES)]
        bad = bad_requests(BAD_MAX_UPLOAD_BYTES, 32)
    with tempfile.NamedTemporaryFile("w+", suffix=".log") as log:
        server = start_server(model, port, max_batch, args.max_wait_ms, args.threads, log=log, extra=extra)
        try:
            wait_healthy(base, server)
            asyncio.run(run_load(base, images, min(64, args.requests), args.concurrency, 60))  # warm-up
            before = httpx.get(base + "/health", timeout=10).json()["batching"]
            load_started = os.getloadavg()[0]
            result = asyncio.run(
                run_load(
                    base,
                    images,
                    args.requests,
                    args.concurrency,
                    args.timeout,
                    args.bad_every,
                    bad,
                    args.slow_clients,
                )
            )
            after = httpx.get(base + "/health", timeout=10).json()["batching"]
        finally:
            stop_server(server)
        log.seek(0)
        server_log = log.read()
    batches = after["batches"] - before["batches"]
    result.update(
        max_batch=max_batch,
        max_wait_ms=args.max_wait_ms if max_batch > 1 else 0.0,
        mean_batch=(after["images"] - before["images"]) / batches if batches else 0.0,
        largest_batch=after["largest"],
        load_average=os.getloadavg()[0],
        load_average_before=load_started,
        server_500s=len(re.findall(r'" 500', server_log)) + server_log.count("Internal Server Error"),
        server_tracebacks=server_log.count("Traceback"),
        aborted_logged=server_log.count("closed the connection during its upload"),
    )
    return result


def _slow_summary(slow: list[tuple[str, float, str]], read_timeout: float) -> tuple[str, bool]:
    if not slow:
        return "", True
    cut = [elapsed for _, elapsed, first in slow if " 408 " in f"{first} "]
    good = len(cut) == len(slow) and all(read_timeout - 0.1 <= e < read_timeout + 5 for e in cut)
    stages = collections.Counter(stage for stage, _, _ in slow)
    text = (
        f"  slow clients: {len(slow)} connections ({stages['headers']} slow headers, "
        f"{stages['body']} slow body), "
        f"{len(cut)} cut off with 408 after {min(cut, default=0):.2f}-{max(cut, default=0):.2f} s "
        f"(read timeout {read_timeout:g} s)"
    )
    others = collections.Counter(first for _, _, first in slow if " 408 " not in f"{first} ")
    if others:
        text += f"; other answers: {dict(others)}"
    return text, good


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
    parser.add_argument("--bad-every", type=int, default=0, help="Every Nth request is a bad one (0: none).")
    parser.add_argument("--slow-clients", type=int, default=0, help="Slow connections beside the load.")
    parser.add_argument("--read-timeout", type=float, default=10.0, help="The server's --read-timeout.")
    parser.add_argument("--json", type=Path, help="Also write the results here.")
    args = parser.parse_args(argv)

    images = word_pngs(64)
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or build_model(Path(tmp))
        results = [measure(args, model, images, max_batch) for max_batch in args.max_batch]
    print(
        f"{'max batch':>9} {'requests':>8} {'good':>6} {'ok':>6} {'errors':>6} {'lost':>5} {'req/s':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'mean batch':>10} {'largest':>7} {'load':>9}"
    )
    passed = True
    for r in results:
        print(
            f"{r['max_batch']:>9} {r['requests']:>8} {r['good']:>6} {r['ok']:>6} {r['errors']:>6} "
            f"{r['lost']:>5} {r['throughput_rps']:>8.1f} {r['p50_ms'] or 0:>8.1f} {r['p99_ms'] or 0:>8.1f} "
            f"{r['mean_batch']:>10.2f} {r['largest_batch']:>7} "
            f"{r['load_average_before']:>4.1f}/{r['load_average']:>4.1f}"
        )
        print(f"  statuses: {r['statuses']}; unsent: {r['unsent']}")
        print(f"  server log: {r['server_500s']} 500s, {r['server_tracebacks']} tracebacks", end="")
        print(f", {r['aborted_logged']} aborted uploads logged" if r["bad"] else "")
        bad_ok = True
        for kind, counts in r["bad"].items():
            print(f"  bad {kind}: {counts}")
            bad_ok &= all(key.endswith("as expected") or key.startswith("sent") for key in counts)
        slow_text, slow_ok = _slow_summary(r["slow"], args.read_timeout)
        if slow_text:
            print(slow_text)
        for sample in r["error_samples"]:
            print(f"  {sample}")
        passed &= (
            r["errors"] == 0
            and r["lost"] == 0
            and r["unsent"] == 0
            and r["statuses"].get(500, 0) == 0
            and r["server_500s"] == 0
            and r["server_tracebacks"] == 0
            and bad_ok
            and slow_ok
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(
        "PASS: no error, no lost answer, no 500, every bad request and slow client answered as expected"
        if passed
        else "FAIL"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
