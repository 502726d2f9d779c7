"""Checkpoint files: atomic writes, the RNG state that Lightning does not save, and weight extraction.

Lightning's own writer goes through an fsspec transaction whose temporary file lives in the system temp
directory; when that is another filesystem than the run directory, the final move is a copy and a crash
mid-copy leaves a truncated checkpoint. :class:`AtomicCheckpointIO` writes beside the target, fsyncs and
renames, so ``best.ckpt`` and ``last.ckpt`` are always either the old or the new complete file.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from scenetext.errors import ScenetextError


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to ``<name>.tmp-<pid>`` in the same directory, fsync, then ``os.replace``.

    Loading (``--resume``) always reads with ``weights_only=True``, whatever Lightning or the environment
    asks for, and reports an unreadable checkpoint in one line.
    """

    def load_checkpoint(
        self, path: Any, map_location: Any = None, weights_only: bool | None = None
    ) -> dict[str, Any]:
        return read_training_checkpoint(path)

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
        try:
            with open(tmp, "wb") as handle:
                torch.save(checkpoint, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)


def remove_stale_temporaries(directory: Path) -> None:
    """Delete ``.*.tmp-*`` files a killed run left behind (they are never valid checkpoints)."""
    if directory.is_dir():
        for stale in directory.glob(".*.tmp-*"):
            stale.unlink(missing_ok=True)


def collect_rng_states() -> dict[str, Any]:
    """Python, NumPy and torch (CPU and CUDA) generator states, as types ``torch.load(weights_only=True)``
    accepts, so a resumed run's checkpoint stays loadable without unpickling arbitrary objects."""
    np_state = np.random.get_state()
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {
            "keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def restore_rng_states(states: dict[str, Any]) -> None:
    """Inverse of :func:`collect_rng_states`; CUDA states are skipped when the device count differs."""
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy = states["numpy"]
    np.random.set_state(
        (
            "MT19937",
            numpy["keys"].numpy().astype(np.uint32),
            numpy["pos"],
            numpy["has_gauss"],
            numpy["cached_gaussian"],
        )
    )
    torch.set_rng_state(states["torch"])
    if "cuda" in states and torch.cuda.is_available() and len(states["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(states["cuda"])


def read_training_checkpoint(path: str | Path) -> dict[str, Any]:
    """A scenetext training checkpoint (.ckpt) as a dict, read with ``weights_only=True``.

    A checkpoint cannot run code while it is read, even with ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` set (the
    argument is explicit); a file that needs more than tensors and plain containers is refused in one line.
    """
    from scenetext.models.checkpoints import load_torch_file

    checkpoint = load_torch_file(path, what="training checkpoint")
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("state_dict"), dict):
        raise ScenetextError(f"{path}: not a scenetext training checkpoint (no state_dict)")
    return checkpoint


def model_weights_from_checkpoint(path: str | Path) -> dict[str, torch.Tensor]:
    """The recognition model's weights in a training checkpoint (the ``model.`` entries of its state dict).

    With EMA enabled the checkpoint's ``state_dict`` holds the averaged weights, which is what a later stage
    should start from.
    """
    state = read_training_checkpoint(path)["state_dict"]
    weights = {key[len("model.") :]: value for key, value in state.items() if key.startswith("model.")}
    if not weights:
        raise ScenetextError(f"{path}: the checkpoint holds no model weights")
    return weights
