"""Fuzz ``scenetext serve`` against its own OpenAPI document with schemathesis: no request may get a 500.

Starts ``scenetext serve`` on 127.0.0.1 (a free port, access log on, ``--read-timeout`` short so hanging
requests end), runs ``schemathesis run`` on ``/openapi.json`` for ``--max-time`` seconds (check
``not_a_server_error``, continuing after failures), then stops the server with SIGINT and reads its log.
Reported: schemathesis's summary, the requests the server answered by status (from its access log), and the
server's 500s and tracebacks, which must both be 0: exit 0 only then. ``--checks all`` adds schemathesis's
conformance checks, for information: a random byte string is a valid ``binary`` per the schema yet not an
image, so its 422 is flagged as "schema-valid request rejected".

Needs the bench extra (``pip install -e .[bench]``: schemathesis). Without ``--model`` the untrained
nastr-tiny of benchmarks/serve_load.py is built in a temporary directory.

Usage:
    python benchmarks/serve_fuzz.py [--max-time 120] [--workers 2] [--model DIR]
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serve_load import HOST, build_model, free_port, stop_server, wait_healthy  # noqa: E402

_ACCESS = re.compile(r'"[A-Z]+ [^"]*" (\d{3})')


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="Artifact directory (default: untrained nastr-tiny).")
    parser.add_argument("--max-time", type=int, default=120, help="Seconds of fuzzing.")
    parser.add_argument("--workers", type=int, default=2, help="Concurrent schemathesis workers.")
    parser.add_argument("--read-timeout", type=float, default=5.0, help="The server's --read-timeout.")
    parser.add_argument(
        "--checks", default="not_a_server_error", help="schemathesis checks ('all' adds schema conformance)."
    )
    args = parser.parse_args(argv)
    schemathesis = shutil.which("schemathesis") or shutil.which("st")
    if schemathesis is None:
        raise SystemExit("schemathesis is not installed: pip install -e .[bench]")

    with tempfile.TemporaryDirectory() as tmp:
        model = args.model or build_model(Path(tmp))
        port = free_port()
        base = f"http://{HOST}:{port}"
        log_path = Path(tmp) / "server.log"
        with open(log_path, "w") as log:
            command = [sys.executable, "-m", "scenetext.cli.main", "serve", "--model", str(model)]
            command += ["--host", HOST, "--port", str(port), "--read-timeout", str(args.read_timeout)]
            server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, text=True)
            try:
                wait_healthy(base, server)
                started = time.monotonic()
                fuzz = subprocess.run(
                    [
                        schemathesis,
                        "--no-color",
                        "run",
                        f"{base}/openapi.json",
                        "--max-time",
                        str(args.max_time),
                        "--workers",
                        str(args.workers),
                        "--request-timeout",
                        "30",
                        "--checks",
                        args.checks,
                        "--continue-on-failure",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=args.max_time + 600,
                    cwd=tmp,  # schemathesis keeps a cache and reports in its working directory
                )
                elapsed = time.monotonic() - started
            finally:
                stop_server(server)
        server_log = log_path.read_text(errors="replace")

    print("\n".join(fuzz.stdout.strip().splitlines()[-40:]))
    statuses = collections.Counter(int(m.group(1)) for m in _ACCESS.finditer(server_log))
    tracebacks = server_log.count("Traceback")
    print(f"\nschemathesis ran {elapsed:.0f} s (exit {fuzz.returncode}); server answers by status: ", end="")
    print(", ".join(f"{status}: {count}" for status, count in sorted(statuses.items())))
    print(f"server 500s: {statuses.get(500, 0)}; tracebacks in the server log: {tracebacks}")
    if tracebacks:
        print(server_log[server_log.index("Traceback") :][:3000])
    return 0 if statuses.get(500, 0) == 0 and tracebacks == 0 and statuses else 1


if __name__ == "__main__":
    sys.exit(main())
