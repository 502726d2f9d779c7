"""LMDB store and dataset: the shared STR layout, atomic writing, corrupt and truncated records, workers."""

from __future__ import annotations

import logging
import pickle

import lmdb
import pytest
import torch
from data_helpers import png_bytes, write_lmdb, write_raw_lmdb
from torch.utils.data import DataLoader

from scenetext.data.charset import LabelFilter
from scenetext.data.dataset import Batch, TextRecognitionDataset, build_dataset, collate_batch, lmdb_datasets
from scenetext.data.lmdb_store import CorruptRecordError, LmdbReader, LmdbWriter, find_lmdbs
from scenetext.errors import ScenetextError
from scenetext.runtime.charset import Charset
from scenetext.runtime.preprocess import ImagePreprocessor, PreprocessConfig

PREPROCESSOR = ImagePreprocessor(PreprocessConfig(height=16, width=48))


def test_round_trip_uses_one_based_keys_and_count(tmp_path):
    labels = ["hello", "中文标签", "a b,c"]
    images = [png_bytes(str(i)) for i in range(3)]
    write_lmdb(tmp_path / "set", labels, images)

    env = lmdb.open(str(tmp_path / "set"), readonly=True, lock=False)
    with env.begin() as txn:
        assert txn.get(b"num-samples") == b"3"
        assert txn.get(b"label-000000001") == b"hello"
        assert txn.get(b"image-000000003") == images[2]
        assert txn.get(b"label-000000000") is None
    env.close()

    reader = LmdbReader(tmp_path / "set")
    assert len(reader) == 3
    assert [reader.read(i) for i in range(3)] == list(zip(images, labels, strict=True))
    assert reader.labels() == labels
    with pytest.raises(IndexError):
        reader.read(3)


def test_reader_rejects_folders_that_are_not_text_lmdbs(tmp_path):
    (tmp_path / "plain").mkdir()
    with pytest.raises(ScenetextError, match="no data.mdb"):
        LmdbReader(tmp_path / "plain")
    with pytest.raises(ScenetextError, match="not a directory"):
        LmdbReader(tmp_path / "missing")
    write_raw_lmdb(tmp_path / "nocount", {b"label-000000001": b"x"})
    with pytest.raises(ScenetextError, match="num-samples"):
        LmdbReader(tmp_path / "nocount")
    write_raw_lmdb(tmp_path / "badcount", {b"num-samples": b"many"})
    with pytest.raises(ScenetextError, match="not an integer"):
        LmdbReader(tmp_path / "badcount")


def test_truncated_lmdb_names_the_lmdb_and_index(tmp_path):
    entries = {b"num-samples": b"4"}
    for i in (1, 2):
        entries[b"image-%09d" % i] = png_bytes()
        entries[b"label-%09d" % i] = b"word%d" % i
    entries[b"label-000000003"] = b"noimage"
    path = write_raw_lmdb(tmp_path / "trunc", entries)

    reader = LmdbReader(path)
    with pytest.raises(CorruptRecordError, match=r"trunc: record 2 has no image-000000003"):
        reader.read(2)
    with pytest.raises(CorruptRecordError, match=r"record 3 has no label-000000004"):
        reader.labels()
    assert reader.labels(skip_unreadable=True) == ["word1", "word2", "noimage", None]

    dataset = TextRecognitionDataset(path, PREPROCESSOR)
    assert (dataset.num_records, len(dataset), dataset.num_unreadable_labels) == (4, 3, 1)
    batch = collate_batch([dataset[i] for i in range(len(dataset))])
    assert batch.labels == ["word1", "word2"]
    assert batch.skipped == 1


def test_undecodable_image_is_skipped_and_counted_never_replaced(tmp_path, caplog):
    images = [png_bytes("ok"), b"\x89PNG\r\n\x1a\n this is not a png", png_bytes("ok")]
    path = write_lmdb(tmp_path / "bad", ["first", "broken", "third"], images)
    dataset = TextRecognitionDataset(path, PREPROCESSOR)

    with caplog.at_level(logging.WARNING, logger="scenetext.data.dataset"):
        samples = [dataset[i] for i in range(3)]
    assert samples[1] is None
    assert dataset.skipped == 1
    assert "bad record 1" in caplog.text

    batch = collate_batch(samples)
    images_tensor, labels = batch
    assert labels == ["first", "third"]
    assert images_tensor.shape == (2, 3, 16, 48)
    assert images_tensor.dtype == torch.float32
    assert batch.skipped == 1 and len(batch) == 2
    empty = collate_batch([None, None])
    assert len(empty) == 0 and empty.skipped == 2


def test_writer_failure_leaves_nothing_behind(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with LmdbWriter(tmp_path / "out", commit_every=2) as writer:
            for i in range(5):
                writer.add(png_bytes(), f"w{i}")
            assert not (tmp_path / "out").exists()  # nothing at the destination while writing
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_refuses_existing_output_and_overwrite_replaces_only_on_success(tmp_path):
    write_lmdb(tmp_path / "out", ["old"])
    with pytest.raises(ScenetextError, match="already exists"):
        with LmdbWriter(tmp_path / "out") as writer:
            writer.add(png_bytes(), "new")
    assert LmdbReader(tmp_path / "out").labels() == ["old"]

    with pytest.raises(RuntimeError):
        with LmdbWriter(tmp_path / "out", overwrite=True) as writer:
            writer.add(png_bytes(), "new")
            raise RuntimeError("interrupted")
    assert LmdbReader(tmp_path / "out").labels() == ["old"]

    with LmdbWriter(tmp_path / "out", overwrite=True) as writer:
        writer.add(png_bytes(), "new")
        writer.add(png_bytes(), "newer")
    assert LmdbReader(tmp_path / "out").labels() == ["new", "newer"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_writer_grows_its_map_and_accepts_an_empty_existing_folder(tmp_path):
    (tmp_path / "out").mkdir()
    big = bytes(range(256)) * 1024  # 256 KiB per record, far over the 64 KiB starting map
    with LmdbWriter(tmp_path / "out", initial_map_size=64 << 10, commit_every=3) as writer:
        for i in range(8):
            writer.add(big, f"w{i}")
    reader = LmdbReader(tmp_path / "out")
    assert len(reader) == 8 and reader.read(7) == (big, "w7")


def test_find_lmdbs_is_recursive_and_sorted(tmp_path):
    for name in ("b/two", "a/one", "a/one/inner", "c"):
        write_lmdb(tmp_path / name, ["x"])
    (tmp_path / "empty").mkdir()
    assert find_lmdbs(tmp_path) == [tmp_path / p for p in ("a/one", "a/one/inner", "b/two", "c")]
    assert find_lmdbs(tmp_path / "c") == [tmp_path / "c"]
    assert find_lmdbs(tmp_path / "empty") == []
    with pytest.raises(ScenetextError, match="no such file"):
        find_lmdbs(tmp_path / "nope")


def test_dataloader_workers_open_their_own_environment(tmp_path):
    labels = [f"word{i}" for i in range(12)]
    dataset = TextRecognitionDataset(write_lmdb(tmp_path / "set", labels), PREPROCESSOR)
    assert dataset[0][1] == "word0"  # the main process has its environment open before the workers fork
    loader = DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=collate_batch)
    batches = list(loader)
    assert all(isinstance(b, Batch) for b in batches)
    assert [label for b in batches for label in b.labels] == labels
    assert sum(b.skipped for b in batches) == 0
    assert dataset[11][1] == "word11"  # and the main process still reads after the workers are gone


def test_reader_and_dataset_survive_pickling(tmp_path):
    dataset = TextRecognitionDataset(write_lmdb(tmp_path / "set", ["abc", "def"]), PREPROCESSOR)
    dataset[0]
    copy = pickle.loads(pickle.dumps(dataset))
    assert copy[1][1] == "def"
    assert torch.equal(copy[0][0], dataset[0][0])


def test_build_dataset_concatenates_and_filters(tmp_path, caplog):
    write_lmdb(tmp_path / "root" / "mj", ["Hello", "a-b", "waytoolongforthis"])
    write_lmdb(tmp_path / "root" / "st", ["World", "!!"])
    label_filter = LabelFilter(Charset.from_spec("en36"), lowercase=True, max_length=10)
    with caplog.at_level(logging.INFO, logger="scenetext.data.dataset"):
        dataset = build_dataset(tmp_path / "root", PREPROCESSOR, label_filter)
    assert [dataset[i][1] for i in range(len(dataset))] == ["hello", "ab", "world"]
    parts = lmdb_datasets(dataset)
    assert [(p.path.name, p.num_records, len(p), p.num_filtered) for p in parts] == [
        ("mj", 3, 2, 1),
        ("st", 2, 1, 1),
    ]
    assert "mj: 3 records, 2 kept, 1 filtered out" in caplog.text
    (tmp_path / "nothing").mkdir()
    with pytest.raises(ScenetextError, match="no LMDB found"):
        build_dataset(tmp_path / "nothing", PREPROCESSOR)
    strict = LabelFilter(Charset.from_spec("en36"), policy="drop", max_length=3)
    with pytest.raises(ScenetextError, match="every sample was filtered out"):
        build_dataset(tmp_path / "root", PREPROCESSOR, strict)


def test_transform_sees_the_decoded_uint8_image(tmp_path):
    seen = []

    def invert(array):
        seen.append((array.dtype, array.shape))
        return 255 - array

    path = write_lmdb(tmp_path / "set", ["ab"], [png_bytes("ab", size=(48, 16))])  # model size: no resize
    plain = TextRecognitionDataset(path, PREPROCESSOR)[0][0]
    inverted = TextRecognitionDataset(path, PREPROCESSOR, transform=invert)[0][0]
    assert seen == [("uint8", (16, 48, 3))]
    assert torch.allclose(inverted, -plain, atol=1e-6)  # nastr normalisation is symmetric around 127.5
