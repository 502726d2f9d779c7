"""Reading and writing text-recognition LMDBs in the layout every STR project shares.

Layout (NASTR spec §4.1, LPV spec §3.1): ``num-samples`` holds the count as an ASCII integer;
``image-%09d`` holds encoded image bytes and ``label-%09d`` the UTF-8 label, both **1-based**. The Python
API here is 0-based: ``read(0)`` returns ``image-000000001``/``label-000000001``. Crops cut out of whole
photos may also carry ``source-%09d``, the UTF-8 path of the photo they came from, so that a split can keep
each photo's words on one side; readers that do not need it ignore it.

Existing MJ/ST/Union14M LMDBs work unchanged. The writer makes a half-written LMDB impossible to mistake for
a finished one: records go into a hidden sibling directory, ``num-samples`` is written last, and only then is
the directory renamed into place.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import threading
import uuid
from pathlib import Path
from types import TracebackType

import lmdb

from scenetext.errors import ScenetextError

NUM_SAMPLES_KEY = b"num-samples"
# The hidden sibling folders LmdbWriter works in (``.NAME.PID-HEX.partial``, ``.NAME.PID-HEX.old``): never a
# finished LMDB, and left behind when a writer is killed.
_WORK_DIR = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{8}\.(?P<kind>partial|old)$")

logger = logging.getLogger(__name__)


def image_key(index: int) -> bytes:
    """The key of the image at 0-based ``index`` (keys are 1-based on disk)."""
    return b"image-%09d" % (index + 1)


def label_key(index: int) -> bytes:
    """The key of the label at 0-based ``index`` (keys are 1-based on disk)."""
    return b"label-%09d" % (index + 1)


def source_key(index: int) -> bytes:
    """The key of the optional source-photo path at 0-based ``index`` (keys are 1-based on disk)."""
    return b"source-%09d" % (index + 1)


class CorruptRecordError(ScenetextError):
    """One record of an LMDB is missing or unreadable; the rest of the LMDB may be fine (datasets skip it)."""


# What LMDB raises when a page it reaches holds garbage: that record is lost, the rest may be fine.
_DAMAGED_PAGE = (lmdb.CorruptedError, lmdb.PageNotFoundError)

_ENVIRONMENTS: dict[str, lmdb.Environment] = {}
_ENVIRONMENTS_PID = os.getpid()


def _open_readonly(path: Path, max_readers: int) -> lmdb.Environment:
    """This process's read-only environment for ``path``, shared by every reader of that LMDB.

    LMDB forbids opening one environment twice in a process, and py-lmdb refuses it, so readers share one.
    An environment must not be used across ``fork``: a DataLoader worker (new pid) closes the copies it
    inherited and opens its own. ``lock=False`` (no reader-table writes: read-only media and many workers
    both work), ``readahead=False`` (random access over large files), ``meminit=False``.
    """
    global _ENVIRONMENTS_PID
    if _ENVIRONMENTS_PID != os.getpid():
        for inherited in _ENVIRONMENTS.values():
            inherited.close()
        _ENVIRONMENTS.clear()
        _ENVIRONMENTS_PID = os.getpid()
    key = os.path.realpath(path)
    env = _ENVIRONMENTS.get(key)
    if env is None:
        try:
            env = lmdb.open(
                str(path), readonly=True, lock=False, readahead=False, meminit=False, max_readers=max_readers
            )
        except lmdb.Error as exc:
            raise ScenetextError(f"{path}: cannot open as LMDB: {exc}") from None
        try:
            _check_complete(env, Path(path) / "data.mdb")
        except ScenetextError:
            env.close()
            raise
        _ENVIRONMENTS[key] = env
    return env


def _check_complete(env: lmdb.Environment, data_file: Path) -> None:
    """Refuse a data.mdb shorter than the pages its meta page says are in use.

    LMDB maps the file and trusts it: reading a page past the end of a truncated file kills the process with
    SIGBUS, no exception possible. The meta pages (the first two, read when the environment opened) record
    the last page written, so the size the file must have is known before any data page is touched.
    """
    needed = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
    size = data_file.stat().st_size
    if size < needed:
        raise ScenetextError(
            f"{data_file}: truncated ({size} bytes, but its LMDB header needs {needed}); "
            "copy it again or rebuild it"
        )


def close_environments(path: str | Path | None = None) -> None:
    """Close this process's read-only environment of ``path`` (all when None); readers reopen on demand.

    Needed before an LMDB that is open for reading is replaced or deleted in the same process.
    """
    keys = list(_ENVIRONMENTS) if path is None else [os.path.realpath(path)]
    for key in keys:
        env = _ENVIRONMENTS.pop(key, None)
        if env is not None and _ENVIRONMENTS_PID == os.getpid():
            env.close()


class LmdbReader:
    """Read-only access to one LMDB, safe to share with DataLoader workers.

    The environment is opened lazily in each process that reads (see :func:`_open_readonly`), so a reader
    built in the main process works in forked, spawned or forkserver workers. Missing records raise
    :class:`CorruptRecordError` naming the LMDB and the 0-based index.
    """

    def __init__(self, path: str | Path, max_readers: int = 126) -> None:
        self.path = Path(path)
        self.max_readers = max_readers
        if not self.path.is_dir():
            raise ScenetextError(f"{self.path}: not a directory (expected an LMDB folder with data.mdb)")
        if not (self.path / "data.mdb").is_file():
            raise ScenetextError(f"{self.path}: not an LMDB (no data.mdb inside)")
        raw = self._get(NUM_SAMPLES_KEY)
        if raw is None:
            raise ScenetextError(f"{self.path}: no 'num-samples' key (unfinished or not a text LMDB)")
        try:
            self._length = int(raw.decode("ascii").strip())
        except (UnicodeDecodeError, ValueError):
            raise ScenetextError(f"{self.path}: 'num-samples' is not an integer: {raw[:40]!r}") from None
        if self._length < 0:
            raise ScenetextError(f"{self.path}: 'num-samples' is negative ({self._length})")

    def _get(self, key: bytes) -> bytes | None:
        """The value of ``key``; a damaged page under it is a :class:`CorruptRecordError`."""
        env = _open_readonly(self.path, self.max_readers)
        try:
            with env.begin(buffers=False) as txn:
                return txn.get(key)
        except _DAMAGED_PAGE as exc:
            raise CorruptRecordError(f"{self.path}: cannot read {key.decode()}: {exc}") from None
        except lmdb.Error as exc:
            raise ScenetextError(f"{self.path}: cannot read key {key.decode()}: {exc}") from None

    def __len__(self) -> int:
        return self._length

    def _check_index(self, index: int) -> None:
        if not 0 <= index < self._length:
            raise IndexError(f"{self.path}: index {index} out of range (0..{self._length - 1})")

    def _missing(self, index: int, key: bytes) -> CorruptRecordError:
        return CorruptRecordError(
            f"{self.path}: record {index} has no {key.decode()} "
            f"(truncated LMDB? num-samples is {self._length})"
        )

    def _decode_label(self, index: int, raw: bytes) -> str:
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptRecordError(f"{self.path}: record {index}: label is not valid UTF-8") from None

    def read_label(self, index: int) -> str:
        """The label of the 0-based record ``index``."""
        self._check_index(index)
        raw = self._get(label_key(index))
        if raw is None:
            raise self._missing(index, label_key(index))
        return self._decode_label(index, raw)

    def read_image(self, index: int) -> bytes:
        """The encoded image bytes of the 0-based record ``index``."""
        self._check_index(index)
        raw = self._get(image_key(index))
        if raw is None:
            raise self._missing(index, image_key(index))
        return raw

    def read(self, index: int) -> tuple[bytes, str]:
        """``(image bytes, label)`` of the 0-based record ``index``."""
        return self.read_image(index), self.read_label(index)

    def labels(self, skip_unreadable: bool = False) -> list[str | None]:
        """Every label in order, read in one transaction.

        A missing or non-UTF-8 label raises :class:`CorruptRecordError`, or is None with ``skip_unreadable``.
        """
        labels: list[str | None] = []
        try:
            with _open_readonly(self.path, self.max_readers).begin(buffers=False) as txn:
                for index in range(self._length):
                    try:
                        try:
                            raw = txn.get(label_key(index))
                        except _DAMAGED_PAGE as exc:
                            raise CorruptRecordError(f"{self.path}: record {index}: {exc}") from None
                        if raw is None:
                            raise self._missing(index, label_key(index))
                        labels.append(self._decode_label(index, raw))
                    except CorruptRecordError:
                        if not skip_unreadable:
                            raise
                        labels.append(None)
        except lmdb.Error as exc:
            raise ScenetextError(f"{self.path}: cannot read labels: {exc}") from None
        return labels

    def sources(self) -> list[bytes | None]:
        """Every record's source-photo path in order (raw bytes, None where absent), in one transaction."""
        try:
            with _open_readonly(self.path, self.max_readers).begin(buffers=False) as txn:
                return [txn.get(source_key(index)) for index in range(self._length)]
        except lmdb.Error as exc:
            raise ScenetextError(f"{self.path}: cannot read sources: {exc}") from None

    def __repr__(self) -> str:
        return f"LmdbReader({str(self.path)!r}, {self._length} samples)"


class LmdbWriter:
    """Writes a new LMDB atomically: used as ``with LmdbWriter(out) as writer: writer.add(image, label)``.

    Records go into a temporary sibling directory, committed every ``commit_every`` records; ``num-samples``
    is written last, then the directory is renamed into place. If the block raises, the temporary directory is
    removed and the destination is untouched. An existing non-empty destination is refused unless
    ``overwrite=True``; then the old one is replaced only after the new one is complete. The map size starts
    small and doubles whenever LMDB reports the map full, so no terabyte-sized sparse file is needed.
    """

    def __init__(
        self,
        output_dir: str | Path,
        overwrite: bool = False,
        commit_every: int = 1000,
        initial_map_size: int = 64 << 20,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.overwrite = overwrite
        self.commit_every = max(1, commit_every)
        self._map_size = initial_map_size
        self._pending: list[tuple[bytes, bytes]] = []
        self._count = 0
        self._tmp_dir: Path | None = None
        self._env: lmdb.Environment | None = None
        self._previous_sigterm: signal.Handlers | None = None

    def _check_destination(self) -> None:
        out = self.output_dir
        if out.exists() and not out.is_dir():
            raise ScenetextError(f"{out}: exists and is not a directory")
        if out.is_dir() and any(out.iterdir()) and not self.overwrite:
            raise ScenetextError(f"{out}: already exists and is not empty (replace it with --overwrite)")

    def __enter__(self) -> LmdbWriter:
        self._check_destination()
        parent = self.output_dir.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            remove_abandoned_partials(self.output_dir)
            self._tmp_dir = _sibling_dir(self.output_dir, "partial")
        except OSError as exc:
            raise ScenetextError(f"{self.output_dir}: cannot create ({exc.strerror})") from None
        try:
            self._env = lmdb.open(str(self._tmp_dir), map_size=self._map_size, subdir=True, meminit=False)
        except lmdb.Error as exc:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
            raise ScenetextError(f"{self.output_dir}: cannot create LMDB: {exc}") from None
        self._previous_sigterm = _exit_on_sigterm()
        return self

    def add(self, image: bytes, label: str, source: str | bytes | None = None) -> int:
        """Queue one record, with the path of its source photo when it was cut out of one; returns its
        0-based index."""
        if self._env is None:
            raise RuntimeError("LmdbWriter.add() called outside its `with` block")
        index = self._count
        self._pending.append((image_key(index), bytes(image)))
        self._pending.append((label_key(index), label.encode("utf-8")))
        if source is not None:
            raw = source.encode("utf-8") if isinstance(source, str) else bytes(source)
            self._pending.append((source_key(index), raw))
        self._count += 1
        if self._count % self.commit_every == 0:
            self._flush()
        return index

    def __len__(self) -> int:
        return self._count

    def _put_all(self, items: list[tuple[bytes, bytes]]) -> None:
        """Write ``items`` in one transaction, growing the map and retrying when it is full."""
        assert self._env is not None
        while True:
            try:
                with self._env.begin(write=True) as txn:
                    for key, value in items:
                        txn.put(key, value)
                return
            except lmdb.MapFullError:
                self._map_size *= 2
                self._env.set_mapsize(self._map_size)

    def _flush(self) -> None:
        if self._pending:
            self._put_all(self._pending)
            self._pending = []

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._tmp_dir is not None and self._env is not None
        try:
            if exc_type is None:
                self._flush()
                self._put_all([(NUM_SAMPLES_KEY, str(self._count).encode("ascii"))])
                self._env.sync(True)
            self._env.close()
            self._env = None
            if exc_type is None:
                self._move_into_place()
        finally:
            if self._tmp_dir.exists():
                shutil.rmtree(self._tmp_dir, ignore_errors=True)
            if self._previous_sigterm is not None:
                signal.signal(signal.SIGTERM, self._previous_sigterm)

    def _move_into_place(self) -> None:
        assert self._tmp_dir is not None
        out = self.output_dir
        self._check_destination()
        close_environments(out)
        if out.is_dir() and any(out.iterdir()):
            backup = _sibling_dir(out, "old")
            os.replace(out, backup / out.name)
            try:
                os.replace(self._tmp_dir, out)
            except OSError:
                os.replace(backup / out.name, out)
                raise
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(self._tmp_dir, out)


def _exit_on_sigterm() -> signal.Handlers | None:
    """Make SIGTERM unwind like Ctrl-C (``SystemExit(143)``), so the writer removes its partial folder.

    Only when SIGTERM still has its default action and this is the main thread (where Python runs signal
    handlers); returns the handler to restore, or None when nothing was installed. A forked child (a render
    pool worker) that inherits the handler dies of SIGTERM as before.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return None
    owner = os.getpid()

    def terminate(signum: int, frame: object) -> None:
        if os.getpid() != owner:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)
    return signal.SIG_DFL


def _process_gone(pid: int) -> bool:
    """True when no process ``pid`` exists (a live process of another user counts as alive)."""
    if os.name != "posix":
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_abandoned_partials(output: str | Path) -> list[Path]:
    """Delete the ``.partial`` work folders of ``output`` whose writing process is gone; returns them.

    A writer killed with SIGKILL (or a power cut) cannot clean up; the next writer to the same output does.
    Folders of a live process (another import running now) are left alone.
    """
    output = Path(output)
    removed: list[Path] = []
    if not output.parent.is_dir():
        return removed
    for candidate in output.parent.iterdir():
        match = _WORK_DIR.match(candidate.name)
        if (
            match
            and match["kind"] == "partial"
            and match["name"] == output.name
            and candidate.is_dir()
            and not candidate.is_symlink()
            and _process_gone(int(match["pid"]))
        ):
            shutil.rmtree(candidate, ignore_errors=True)
            logger.info("removed %s, left by an interrupted import", candidate)
            removed.append(candidate)
    return removed


def _sibling_dir(path: Path, kind: str) -> Path:
    """A new hidden directory beside ``path``: same file system, so renaming it into place is atomic."""
    sibling = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.{kind}")
    sibling.mkdir()
    return sibling


_REPORTED_WORK_DIRS: set[str] = set()


def find_lmdbs(root: str | Path) -> list[Path]:
    """Every directory under ``root`` (``root`` included) that holds a ``data.mdb``, sorted by path.

    Symlinked directories are followed (data roots often link to shared storage); each real directory is
    visited once, so link cycles end. The hidden work folders of an interrupted or running import
    (``.NAME.PID-HEX.partial``, ``.old``) are skipped, with one warning per folder per process.
    """
    root = Path(root)
    if not root.exists():
        raise ScenetextError(f"{root}: no such file or directory")
    if not root.is_dir():
        raise ScenetextError(f"{root}: not a directory")
    found: list[Path] = []
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        if "data.mdb" in filenames:
            found.append(Path(dirpath))
        for name in [d for d in dirnames if _WORK_DIR.match(d)]:
            dirnames.remove(name)
            skipped = os.path.join(dirpath, name)
            if skipped not in _REPORTED_WORK_DIRS:
                _REPORTED_WORK_DIRS.add(skipped)
                logger.warning("%s: skipped, an unfinished import's work folder (not an LMDB)", skipped)
        dirnames.sort()
    return sorted(found)
