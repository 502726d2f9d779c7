"""On-the-fly synthetic training data: a map-style torch Dataset with a virtual length.

Sample i is rendered from (config.seed, epoch * length + i) alone, so the result does not depend on which
DataLoader worker renders it or how many there are: no per-worker seeding is needed for determinism, and a
real LMDB written by ``scenetext synth`` with the same config holds exactly the same (image, label) pairs.
Items have the format of :class:`scenetext.data.dataset.TextRecognitionDataset` (same preprocessor, same
augmentation hook), so training configs can mix this dataset with real LMDBs by ratio.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import Dataset

from scenetext.data.charset import LabelFilter
from scenetext.errors import ScenetextError
from scenetext.runtime.preprocess import ImagePreprocessor
from scenetext.synth.config import SynthConfig
from scenetext.synth.generator import Sample, SynthGenerator

MAX_ATTEMPTS = 20


class SynthDataset(Dataset):
    """``length`` rendered samples per epoch as ``(image 3 x H x W float32 tensor, label)``.

    ``label_filter`` may reject a sample (e.g. a stricter ``max_length``); the next attempt of the same
    index is rendered instead, still deterministically. ``transform`` is the augmentation hook on the uint8
    H x W x 3 image before resizing, as for LMDB datasets. Call :meth:`set_epoch` to see new samples.
    ``config`` may be a plain mapping of SynthConfig fields, as in a training recipe::

        data:
          train:
            - kind: synth
              ratio: 0.5
              synth: {config: {lang: en, seed: 0, categories: {general: 1, curve: 1}}, length: 200000}
    """

    def __init__(
        self,
        config: SynthConfig | dict,
        preprocessor: ImagePreprocessor,
        length: int = 100_000,
        label_filter: LabelFilter | None = None,
        transform: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        if length < 1:
            raise ScenetextError(f"synth dataset: length {length} must be positive")
        # A mapping is what a training recipe holds (data.train[i].synth.config in YAML).
        self.config = config if isinstance(config, SynthConfig) else SynthConfig.from_dict(dict(config))
        self.preprocessor = preprocessor
        self.length = length
        self.label_filter = label_filter
        self.transform = transform
        self.epoch = 0
        self._generator: SynthGenerator | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def generator(self) -> SynthGenerator:
        """Built on first use in each process (fonts and word lists are not pickled into workers)."""
        if self._generator is None:
            if torch.utils.data.get_worker_info() is not None:
                import cv2

                cv2.setNumThreads(1)
            self._generator = SynthGenerator(self.config)
        return self._generator

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_generator"] = None
        return state

    def __len__(self) -> int:
        return self.length

    def sample(self, i: int) -> Sample:
        """The raw rendered sample behind item ``i`` (uint8 image and charset label), after the filter."""
        if not 0 <= i < self.length:
            raise IndexError(f"synth dataset: sample {i} out of range (size {self.length})")
        index = self.epoch * self.length + i
        for attempt in range(MAX_ATTEMPTS):
            sample = self.generator.sample(index, attempt)
            if self.label_filter is None:
                return sample
            label = self.label_filter(sample.label)
            if label is not None:
                sample.label = label
                return sample
        raise ScenetextError(
            f"synth dataset: the label filter rejected {MAX_ATTEMPTS} renderings of sample {i}"
        )

    def __getitem__(self, i: int) -> tuple[torch.Tensor, str]:
        sample = self.sample(i)
        array = sample.image
        if self.transform is not None:
            array = self.transform(array)
        return torch.from_numpy(self.preprocessor(array)), sample.label
