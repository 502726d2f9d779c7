"""The one-command GPU training kit: build it here, run it on a lent GPU machine (or dry, on this CPU).

usage: scripts/gpu-kit.sh build [options]      (see --help; needs PyPI for the wheels)
       scripts/gpu-kit.sh run [--dry] [options]

`build` assembles, in the git-ignored folder kit/, what a training run needs that the GPU machine lacks:
cp312 wheels of the packages the training path imports and the machine does not hold, ASCII subsets of the
Latin fonts the English engine renders with (licences beside them) and their font index, a fixed set of
background pictures, a wordfreq word list that replaces wordfreq, the real training crops re-encoded at height
32 (the held-out records removed as scripts/split_lmdb.py selects them), the starting weights and the recipe.
The cp311 twins of the same wheels go to kit-dry/ (the dry run's; they do not travel).

`run` (what the device tool is given; gpu-kit.sh installs the wheels first) prints the versions, imports the
training path, runs a few bf16 steps and renders a sample, stopping at once if anything is off; measures
how fast the GPU trains and how fast the loaders feed it, sets trainer.max_steps so the schedule ends when
trainer.max_time does, trains, overwrites a weights-only artifact in $OUT every minute, exports the final
artifact to $OUT/artifact and prints images/s, GPU utilisation, the share of time spent waiting for data and
the final loss. `--dry` runs the same chain on the CPU with tiny settings.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_RECIPE = "configs/gpu/nastr-tiny-en94.yaml"
DEFAULT_WEIGHTS = "scenetext/weights/default"

# What the training path imports that the GPU machine lacks (its package list: the device tool's KINDS.md),
# plus the small dependencies whose version there is unknown; the versions are this machine's, so the dry
# run's cp311 twins are exactly what the cp312 run installs. Import names (for the checks) are the values.
WHEELS = {
    "lmdb==3.0.0": "lmdb",
    "rapidfuzz==3.14.6": "rapidfuzz",
    "albumentations==2.0.8": "albumentations",
    "albucore==0.0.24": "albucore",
    "stringzilla==5.3.2": "stringzilla",
    "simsimd==6.5.16": "simsimd",
    "pydantic==2.13.4": "pydantic",
    "pydantic-core==2.46.4": "pydantic_core",
    "annotated-types==0.7.0": "annotated_types",
    "typing-inspection==0.4.2": "typing_inspection",
    "typing-extensions==4.16.0": "typing_extensions",
}
# The GPU machine's Python packages (KINDS.md, read 2026-11-17): a carried wheel may require only these or
# other carried wheels.
GPU_PACKAGES = set(
    """absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
    certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings
    cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils
    execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-
    xet httpcore httpx huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax
    jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning
    lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
    matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions
    nanobind narwhals networkx ninja numba numba-cuda numpy numpyro nvidia-ml-py onnx onnx-ir
    onnxruntime onnxscript opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-
    checkpoint packaging pandas pathspec patsy peft pillow pip pluggy portalocker prometheus-client
    propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-
    extensions pytest python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors
    scikit-build-core scikit-image scikit-learn scipy seaborn sentencepiece sentence-transformers
    setuptools shellingham simplejson six sortedcontainers statsmodels sympy tabulate tensorboard
    tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz torch
    torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton
    typer typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl zipp""".split()
)
PLATFORMS = [f"manylinux_2_{n}_x86_64" for n in (28, 27, 24, 17, 5)] + [
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]
REAL_SETS = (  # name, importer format, list file under --real
    ("iiit5k", "tags", "iiit5k-train/train-punct.tags"),
    ("ic15", "icdar", "ic15-train/gt.txt"),
)
RENDERED = "".join(chr(c) for c in range(0x20, 0x7F))  # what the English engine draws: printable ASCII
WORDFREQ_NOTE = (
    "English word list exported from wordfreq (https://github.com/rspeer/wordfreq), most frequent first.\n"
    "wordfreq's data is licensed CC-BY-SA 4.0; attribute it when publishing a data set rendered from it.\n"
)


class KitError(Exception):
    """A one-line reason the kit cannot be built or run."""


def log(message: str) -> None:
    print(f"[gpu-kit {time.strftime('%H:%M:%S')}] {message}", flush=True)


def mib(path: Path) -> float:
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "font"


# ---- build ----------------------------------------------------------------------------------------------


def download_wheels(dest: Path, python: str) -> list[Path]:
    """``pip download`` the wheels for CPython ``python`` ("3.12") on manylinux x86_64, one version each."""
    dest.mkdir(parents=True, exist_ok=True)
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    command += ["--python-version", python, "--implementation", "cp", *platforms, "-d", str(dest), *WHEELS]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        tail = (result.stderr.strip().splitlines() or ["?"])[-1]
        raise KitError(f"pip download for Python {python} failed: {tail}")
    wheels = sorted(dest.glob("*.whl"))
    if len(wheels) != len(WHEELS):
        raise KitError(f"{dest}: expected {len(WHEELS)} wheels, found {len(wheels)}")
    return wheels


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check_requirements(wheels: list[Path], python: str) -> None:
    """Every Requires-Dist of a carried wheel (markers evaluated for ``python`` on Linux) must be carried
    or on the GPU machine's package list."""
    import zipfile

    from packaging.requirements import Requirement

    carried = {_norm(spec.split("==")[0]) for spec in WHEELS}
    environment = {"python_version": python, "python_full_version": f"{python}.0", "sys_platform": "linux"}
    environment |= {"platform_system": "Linux", "platform_machine": "x86_64", "extra": ""}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as archive:
            metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
            lines = archive.read(metadata).decode("utf-8").splitlines()
        for line in lines:
            if not line.startswith("Requires-Dist:"):
                continue
            requirement = Requirement(line.split(":", 1)[1].strip())
            if requirement.marker is not None and not requirement.marker.evaluate(environment):
                continue
            name = _norm(requirement.name)
            if name not in carried and name not in GPU_PACKAGES:
                raise KitError(f"{wheel.name} requires {requirement}, neither carried nor on the GPU machine")


def check_wheels_import(wheels: list[Path], python: str, machine_wheels: list[Path]) -> list[str]:
    """Install ``wheels`` into a fresh target under interpreter ``python`` and import them; returns the
    modules imported. albumentations and albucore also need numpy, OpenCV, SciPy and PyYAML, which the GPU
    machine holds: they are imported only when ``machine_wheels`` supplies those (cp312, not carried)."""
    with tempfile.TemporaryDirectory(prefix="gpu-kit-check-") as target:
        install = [python, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile"]
        every = [*map(str, wheels), *map(str, machine_wheels)]
        subprocess.run([*install, "--target", target, *every], check=True, capture_output=True)
        modules = [m for m in WHEELS.values() if machine_wheels or m not in ("albumentations", "albucore")]
        code = f"import {', '.join(modules)}; print('ok')"
        env = {**os.environ, "PYTHONPATH": target, "PYTHONNOUSERSITE": "1"}
        result = subprocess.run([python, "-S", "-c", code], capture_output=True, text=True, env=env)
        if result.returncode:
            raise KitError(f"carried wheels do not import under {python}: {result.stderr.strip()[-300:]}")
    return modules


@functools.cache
def licences_of(folder: Path, probe: Path) -> tuple[Path, ...]:
    """The licence files for the files of ``folder`` (asked of ``probe``, one of them): the Debian package's
    copyright, else licence-like files beside it."""
    return tuple(_licences(probe))


def font_licences(path: Path) -> tuple[Path, ...]:
    return licences_of(path.parent, path)


def _licences(font: Path) -> list[Path]:
    result = subprocess.run(["dpkg", "-S", str(font)], capture_output=True, text=True)
    if result.returncode == 0 and ":" in result.stdout:
        package = result.stdout.split(":", 1)[0].strip()
        copyright_file = Path("/usr/share/doc") / package / "copyright"
        if copyright_file.is_file():
            return [copyright_file]
    names = ("license", "licence", "copying", "ofl", "copyright", "readme")
    return [p for p in sorted(font.parent.iterdir()) if p.is_file() and p.stem.lower().startswith(names)]


def build_fonts(kit: Path, dirs: list[str] | None, per_family: int, min_per_kind: int) -> dict[str, int]:
    """ASCII subsets of the Latin faces the English engine would use, their licences and a relocatable
    font index (paths relative to the kit); returns faces per kind."""
    from fontTools import subset
    from fontTools.ttLib import TTCollection, TTFont

    from scenetext.synth.fonts import FontLibrary

    logging.getLogger("fontTools").setLevel(logging.ERROR)  # table quirks of real-world fonts, harmless
    library = FontLibrary.discover(dirs or None, warn=False)
    faces = [f for f in library.for_lang("en") if not f.builtin]
    if not faces:
        raise KitError(f"no Latin font in {', '.join(dirs) if dirs else 'the system font directories'}")
    by_family: dict[str, list[Any]] = {}
    for face in faces:
        by_family.setdefault(face.family, []).append(face)
    out = kit / "fonts"
    out.mkdir(parents=True)
    options = subset.Options()
    options.notdef_outline = True
    options.name_IDs = ["*"]
    options.name_languages = ["*"]
    options.hinting = False
    options.layout_features = ["kern"]
    sources: list[str] = []
    for family in sorted(by_family):
        chosen = sorted(by_family[family], key=lambda f: (f.style != "Regular", f.style, f.path, f.index))
        folder = out / slug(family)
        folder.mkdir(exist_ok=True)
        for face in chosen[:per_family]:
            path = Path(face.path)
            if path.suffix.lower() in (".ttc", ".otc"):
                font = TTCollection(str(path)).fonts[face.index]
            else:
                font = TTFont(str(path))
            subsetter = subset.Subsetter(options)
            subsetter.populate(unicodes=[ord(c) for c in RENDERED])
            subsetter.subset(font)
            name = f"{slug(path.stem)}-{face.index}.{'otf' if 'CFF ' in font else 'ttf'}"
            font.save(str(folder / name))
            sources.append(f"{family}\t{face.style}\t{path}\t{folder.name}/{name}")
            for licence in font_licences(path):
                target = folder / f"LICENCE-{licence.parent.name}-{licence.name}"
                if not target.exists():
                    shutil.copyfile(licence, target)
    unlicensed = sorted(d.name for d in out.iterdir() if d.is_dir() and not any(d.glob("LICENCE-*")))
    if unlicensed:
        log(f"warning: no licence file found for the fonts in {', '.join(unlicensed)}")
    (out / "SOURCES.tsv").write_text("family\tstyle\tsource\tfile\n" + "\n".join(sources) + "\n")
    # Index the subsets as the engine does, then store the index with paths relative to the kit.
    with tempfile.TemporaryDirectory(prefix="gpu-kit-fonts-") as cache:
        os.environ["SCENETEXT_CACHE_DIR"] = cache
        from scenetext.synth import fonts as fonts_module

        subsets = fonts_module.FontLibrary.discover([str(out)], warn=False)
        index = json.loads(next(Path(cache).glob("font-index-*.json")).read_text())
        del os.environ["SCENETEXT_CACHE_DIR"]
    root = str(kit.resolve()) + "/"
    relocatable = {key.removeprefix(root): entry["faces"] for key, entry in index.items()}
    (kit / "font-index.json").write_text(
        json.dumps({"version": fonts_module.INDEX_VERSION, "files": relocatable})
    )
    per_kind: dict[str, int] = {}
    for face in subsets.for_lang("en"):
        per_kind[face.kind] = per_kind.get(face.kind, 0) + 1
    short = {kind: n for kind, n in per_kind.items() if n < min_per_kind}
    if short or not per_kind:
        raise KitError(
            f"too few faces per style after subsetting (minimum {min_per_kind}): {short or per_kind}"
        )
    return per_kind


def build_backgrounds(kit: Path, dirs: list[str], limit: int, exclude: list[Path]) -> int:
    """A fixed set of background pictures as JPEG: textures (GIMP patterns) tiled to photo size so the
    engine's photo crops look like the texture, photos shrunk to at most 640 pixels."""
    import cv2
    import numpy as np

    from scenetext.synth.backgrounds import IMAGE_SUFFIXES, MAX_SIDE, load_picture

    excluded = [str(p.resolve()) + "/" for p in exclude]
    found: list[Path] = []
    for root in dirs:
        found += [
            p
            for p in sorted(Path(root).rglob("*"))
            if p.suffix.lower() in IMAGE_SUFFIXES and not str(p.resolve()).startswith(tuple(excluded))
        ]
    if not found:
        raise KitError(f"no background pictures in {', '.join(dirs)}")
    step = max(1, len(found) // limit)
    picked = found[::step][:limit]
    out = kit / "backgrounds"
    out.mkdir(parents=True)
    licences: set[Path] = set()
    written = 0
    for i, path in enumerate(picked):
        picture = load_picture(str(path), MAX_SIDE)
        if picture is None:
            continue
        if max(picture.shape[:2]) < 320:  # a texture tile: repeat it to 320 x 320
            reps = (320 // picture.shape[0] + 1, 320 // picture.shape[1] + 1, 1)
            picture = np.ascontiguousarray(np.tile(picture, reps)[:320, :320])
        bgr = cv2.cvtColor(picture, cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(out / f"{i:03d}-{slug(path.stem)}.jpg"), bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])
        written += 1
        licences.update(font_licences(path)[:1])
    notes = [f"{p}" for p in picked]
    for licence in sorted(licences):
        shutil.copyfile(licence, out / f"LICENCE-{licence.parent.name}-{licence.name}")
    (out / "SOURCES.txt").write_text("\n".join(notes) + "\n")
    return written


def build_real(kit: Path, real: Path, scratch: Path, height: int, fixed_width: int | None) -> dict[str, int]:
    """The real training crops, held-out records removed exactly as scripts/split_lmdb.py selects them
    (--val-fraction 0.1 --seed 0), re-encoded as JPEG at ``height`` (natural aspect, or ``fixed_width``).

    They travel as uncompressed zip files (crop JPEGs plus labels.json), which `run` turns back into LMDBs:
    an LMDB of 1-2 KB records is about twice the size of its payload (half-empty pages).
    """
    import zipfile

    import cv2
    import numpy as np

    from scenetext.data.importers import create_lmdb
    from scenetext.data.lmdb_store import LmdbReader

    counts: dict[str, int] = {}
    (kit / "real").mkdir()
    for name, fmt, listing in REAL_SETS:
        source = real / listing
        if not source.is_file():
            raise KitError(f"{source}: no such file (pass --real DIR holding {listing})")
        full, train, val = scratch / f"{name}-all", scratch / f"{name}-train", scratch / f"{name}-val"
        create_lmdb(fmt, source, full)
        split = [sys.executable, str(REPO / "scripts/split_lmdb.py"), str(full), str(train), str(val)]
        subprocess.run([*split, "--val-fraction", "0.1", "--seed", "0"], check=True, capture_output=True)
        reader = LmdbReader(train)
        labels = []
        with zipfile.ZipFile(kit / "real" / f"{name}.zip", "w", zipfile.ZIP_STORED) as archive:
            for index in range(len(reader)):
                data, label = reader.read(index)
                image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                if image is None:
                    raise KitError(f"{source}: record {index} does not decode")
                h, w = image.shape[:2]
                width = fixed_width or max(8, min(height * 25, round(w * height / h)))
                interpolation = cv2.INTER_AREA if h > height else cv2.INTER_CUBIC
                small = cv2.resize(image, (width, height), interpolation=interpolation)
                ok, encoded = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, 90])
                archive.writestr(f"{index:06d}.jpg", encoded.tobytes())
                labels.append(label)
            archive.writestr("labels.json", json.dumps(labels, ensure_ascii=False))
        counts[name] = len(reader)
        counts[f"{name}_held_out"] = len(LmdbReader(val))
    return counts


def unpack_real(kit: Path, dest: Path) -> int:
    """The kit's real crops as LMDBs under ``dest`` (one per set), the training source's roots."""
    import zipfile

    from scenetext.data.lmdb_store import LmdbWriter

    total = 0
    for archive_path in sorted((kit / "real").glob("*.zip")):
        with zipfile.ZipFile(archive_path) as archive:
            labels = json.loads(archive.read("labels.json"))
            with LmdbWriter(dest / archive_path.stem) as writer:
                for index, label in enumerate(labels):
                    writer.add(archive.read(f"{index:06d}.jpg"), label)
        total += len(labels)
    if not total:
        raise KitError(f"{kit / 'real'}: no real crops in the kit")
    return total


def tree_mib() -> float:
    """The working tree that travels: tracked files plus untracked files git does not ignore."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    return (
        sum((REPO / p.decode()).stat().st_size for p in listing if p and (REPO / p.decode()).is_file())
        / 2**20
    )


def build(args: argparse.Namespace) -> None:
    kit, dry_kit = Path(args.kit).resolve(), Path(args.dry_kit).resolve()
    for folder in (kit, dry_kit):
        if folder.is_relative_to(REPO):
            ignored = (
                subprocess.run(
                    ["git", "check-ignore", "-q", str(folder / "MANIFEST.json")], cwd=REPO
                ).returncode
                == 0
            )
            if not ignored:
                raise KitError(f"{folder}: not git-ignored; the kit must not enter the repository")
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    started = time.time()
    manifest: dict[str, Any] = {"built": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}

    recipe, weights = Path(args.recipe), Path(args.weights)
    if not recipe.is_file():
        raise KitError(f"--recipe {recipe}: no such file")
    if not (weights / "model.safetensors").is_file():
        raise KitError(f"--weights {weights}: not an artifact directory (no model.safetensors)")
    shutil.copyfile(recipe, kit / "recipe.yaml")
    shutil.copytree(weights, kit / "weights")
    manifest |= {"recipe": str(args.recipe), "weights": str(args.weights)}

    if args.wheels in ("both", "cp312"):
        wheels = download_wheels(kit / "wheels", "3.12")
        check_requirements(wheels, "3.12")
        if args.check_python:
            machine = sorted(Path(args.check_with).glob("*.whl")) if args.check_with else []
            modules = check_wheels_import(wheels, args.check_python, machine)
            log(f"cp312 wheels install under {args.check_python}; imported {', '.join(modules)}")
    if args.wheels in ("both", "cp311"):
        check_requirements(download_wheels(dry_kit / "wheels", "3.11"), "3.11")
    manifest["wheels"] = sorted(WHEELS)
    manifest["modules"] = sorted(WHEELS.values())
    log(f"wheels: {len(WHEELS)} packages ({args.wheels})")

    from scenetext.synth.corpus import export_vocabulary

    manifest["vocabulary_words"] = export_vocabulary("en", kit / "vocabulary-en.txt", args.vocab_size)
    (kit / "vocabulary-en.NOTICE").write_text(WORDFREQ_NOTE)
    log(f"word list: {manifest['vocabulary_words']} words")

    manifest["faces_per_style"] = build_fonts(kit, args.fonts, args.faces_per_family, args.min_faces)
    log(f"fonts: {manifest['faces_per_style']} ({mib(kit / 'fonts'):.1f} MiB)")

    real = Path(args.real)
    manifest["backgrounds"] = build_backgrounds(kit, args.backgrounds, args.max_backgrounds, [real])
    log(f"backgrounds: {manifest['backgrounds']} pictures ({mib(kit / 'backgrounds'):.1f} MiB)")

    with tempfile.TemporaryDirectory(prefix="gpu-kit-real-") as scratch:
        manifest["real"] = build_real(kit, real, Path(scratch), 32, args.real_width)
    log(f"real crops: {manifest['real']} ({mib(kit / 'real'):.1f} MiB)")

    sizes = {"kit": mib(kit), "dry_wheels": mib(dry_kit), "tree": tree_mib()}
    manifest["mib"] = {k: round(v, 2) for k, v in sizes.items()}
    (kit / "MANIFEST.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sizes["kit"] + sizes["tree"]
    log(
        f"built {kit} in {time.time() - started:.0f} s: kit {sizes['kit']:.1f} MiB + working tree "
        f"{sizes['tree']:.1f} MiB = {total:.1f} MiB (limit {args.limit_mib} MiB); dry-run wheels "
        f"{sizes['dry_wheels']:.1f} MiB in {dry_kit} (not carried)"
    )
    if total > args.limit_mib:
        raise KitError(f"kit plus working tree is {total:.1f} MiB, over {args.limit_mib} MiB")


# ---- run ------------------------------------------------------------------------------------------------


def relocate_font_index(kit: Path, cache: Path) -> int:
    """Write the kit's font index as the engine's cache, keyed by this machine's paths and file stamps (the
    copy to the GPU machine keeps neither), so no loader worker indexes a font; returns the file's mtime."""
    stored = json.loads((kit / "font-index.json").read_text())
    entries = {}
    for relative, faces in stored["files"].items():
        path = (kit / relative).resolve()
        stat = path.stat()
        entries[str(path)] = {"stamp": [stat.st_size, int(stat.st_mtime)], "faces": faces}
    cache.mkdir(parents=True, exist_ok=True)
    index = cache / f"font-index-v{stored['version']}.json"
    index.write_text(json.dumps(entries))
    return index.stat().st_mtime_ns


def check_rendering_from_kit(kit: Path, generator: Any, index_stamp: int) -> None:
    """The synth engine drew on the kit alone: its fonts (from the prebuilt index, not re-indexed), its
    backgrounds and its word list (wordfreq never imported)."""
    fonts = str(kit / "fonts") + "/"
    if generator.fonts.is_builtin or not all(f.path.startswith(fonts) for f in generator.fonts.faces):
        raise KitError(f"the synth engine did not render with the kit's fonts only ({fonts})")
    index = next(Path(os.environ["SCENETEXT_CACHE_DIR"]).glob("font-index-*.json"))
    if index.stat().st_mtime_ns != index_stamp:
        raise KitError("the kit's font index did not match its fonts: the engine indexed them again")
    backgrounds = str(kit / "backgrounds") + "/"
    pictures = [*generator.backgrounds.photos, *generator.backgrounds.textures]
    if not pictures or not all(p.startswith(backgrounds) for p in pictures):
        raise KitError(f"the synth engine's pictures do not all come from {backgrounds}")
    if "wordfreq" in sys.modules:
        raise KitError("wordfreq was imported: the kit's word list did not replace it")


def kit_config(kit: Path, real: Path, run_dir: Path, dry: bool, overrides: list[str]) -> Any:
    """The kit's recipe with the kit's paths filled in (``real``: the unpacked real crops) and tiny CPU
    settings for a dry run."""
    from scenetext.engine.config import apply_override, config_from_dict, parse_override, read_yaml

    data = read_yaml(kit / "recipe.yaml")
    data["model"]["init_from"] = str(kit / "weights")
    data["run"] |= {"output_dir": str(run_dir.parent), "name": run_dir.name}
    data["data"]["val"] = []
    for source in data["data"]["train"]:
        if source.get("kind", "lmdb") == "lmdb":
            source["roots"] = [str(real)]
        else:
            source.setdefault("synth", {}).setdefault("config", {}).update(
                font_dirs=[str(kit / "fonts")],
                background_dirs=[str(kit / "backgrounds")],
                system_backgrounds=False,
                vocabulary=str(kit / "vocabulary-en.txt"),
            )
    if dry:
        data["data"] |= {"batch_size": 8, "num_workers": 1}
        data["trainer"] |= {"accelerator": "cpu", "precision": "32-true", "max_time": "00:00:00:25"}
        data["trainer"]["log_every_n_steps"] = 5
    for text in overrides:
        keys, value = parse_override(text)
        apply_override(data, keys, value)
    return config_from_dict(data)


def smoke(config: Any, device: str, steps: int) -> tuple[Any, float]:
    """A few training steps of the recipe's model on random images at full batch (bf16 on a GPU); stops the
    run if the loss is not finite. Returns the built model and the images/s of the timed steps."""
    import torch

    from scenetext.engine.train import build_from_config

    built = build_from_config(config)
    model = built.model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    batch = config.data.batch_size
    height, width = built.preprocess.height, built.preprocess.width
    images = torch.rand(batch, 3, height, width, device=device) * 2 - 1
    words = ["Kit", "run", "TEST", "4.50", "e-mail"]
    targets = built.tokenizer.encode([words[i % len(words)] for i in range(batch)]).to(device)
    autocast = torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=device == "cuda")
    timed = 0.0
    for step in range(steps):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with autocast:
            loss = model.loss(model(images, targets), targets)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        value = float(loss)  # synchronises
        if not torch.isfinite(torch.tensor(value)):
            raise KitError(f"smoke step {step}: loss is {value}")
        if step >= 2:
            timed += time.perf_counter() - start
    rate = batch * (steps - 2) / timed if steps > 2 and timed > 0 else float("nan")
    return built, rate


def probe_loader(config: Any, built: Any, seconds: float) -> float:
    """Images/s the training loaders deliver (all workers rendering and augmenting), first batch excluded."""
    from scenetext.engine.datamodule import RecognitionDataModule

    data = RecognitionDataModule(config.data, built.preprocess, built.charset, config.run.seed, [])
    loader = iter(data.train_dataloader())
    next(loader)
    images, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        images += len(next(loader))
    rate = images / (time.perf_counter() - start)
    del loader
    return rate


class RepeatedBatches:
    """Each batch of ``loader`` ``times`` times in a row: when the loaders cannot feed the GPU, every rendered
    batch is trained on again under on-device augmentation (:func:`device_augment`) instead of waiting."""

    def __init__(self, loader: Any, times: int) -> None:
        self.loader = loader
        self.times = times

    def __len__(self) -> int:
        return len(self.loader) * self.times

    def __iter__(self) -> Any:
        for batch in self.loader:
            for _ in range(self.times):
                yield batch


def device_augment(images: Any, low: float, high: float) -> Any:
    """A fresh random variant of each image, on the images' device: one affine warp (rotation up to 3
    degrees in pixel space, shear, scale 0.9-1.1, shift), contrast, brightness and pixel noise, clamped to
    the normalised range [low, high]."""
    import torch
    import torch.nn.functional as F

    n, _, height, width = images.shape

    def uniform(lo: float, hi: float) -> Any:
        return torch.empty(n, device=images.device).uniform_(lo, hi)

    angle, shear, scale = uniform(-0.05, 0.05), uniform(-0.15, 0.15), uniform(0.9, 1.1)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack(
        [
            torch.stack([cos, -sin * height / width + shear, uniform(-0.04, 0.04)], 1),
            torch.stack([sin * width / height, cos, uniform(-0.08, 0.08)], 1),
        ],
        1,
    )
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    warped = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)
    middle = (low + high) / 2
    contrast = uniform(0.7, 1.3).view(n, 1, 1, 1)
    shift = uniform(-0.1, 0.1).view(n, 1, 1, 1) * (high - low)
    noise = torch.randn_like(warped) * uniform(0.0, 0.03).view(n, 1, 1, 1) * (high - low)
    return ((warped - middle) * contrast + middle + shift + noise).clamp_(low, high)


def make_reuse(times: int, normalize: str) -> Any:
    """A callback that augments on the device every repeat of a batch but the first (see RepeatedBatches)."""
    import torch
    from lightning.pytorch.callbacks import Callback

    low, high = (-1.0, 1.0) if normalize == "nastr" else (0.0, 1.0)

    class DeviceAugment(Callback):
        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
            if batch_idx % times and len(batch):
                with torch.no_grad():
                    batch.images = device_augment(batch.images, low, high)

    return DeviceAugment()


class GpuSampler(threading.Thread):
    """Samples nvidia-smi's GPU utilisation every ``every`` seconds until stopped."""

    def __init__(self, every: float = 2.0) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        query = ["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"]
        while not self.stop.wait(self.every):
            result = subprocess.run(query, capture_output=True, text=True)
            if result.returncode == 0 and result.stdout.strip():
                self.samples.append(float(result.stdout.split()[0]))


def make_monitor(export: Any, every_s: float) -> Any:
    """A Lightning callback: data-wait time (from one batch's end to the next one's start, where the loop
    waits for the loaders), images, last loss, and a weights-only artifact every ``every_s`` seconds."""
    from lightning.pytorch.callbacks import Callback

    class KitMonitor(Callback):
        def __init__(self) -> None:
            self.wait = 0.0
            self.images = 0
            self.steps = 0
            self.loss: Any = None  # a tensor until the end: reading it every step would stall the GPU
            self.started = self.saved = self.last_end = None
            self.ended = None

        def on_train_start(self, trainer: Any, pl_module: Any) -> None:
            self.started = self.saved = time.perf_counter()

        def on_train_batch_start(self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int) -> None:
            if self.last_end is not None:
                self.wait += time.perf_counter() - self.last_end

        def on_train_batch_end(
            self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
        ) -> None:
            self.last_end = time.perf_counter()
            self.images += len(batch)
            self.steps += 1
            if outputs is not None:
                self.loss = outputs["loss"].detach()
            if self.last_end - self.saved >= every_s:
                export(pl_module.model, {"step": trainer.global_step, "checkpoint": "timed"})
                self.saved = time.perf_counter()
                log(f"weights at step {trainer.global_step} (loss {float(self.loss):.4f})")

        def on_train_end(self, trainer: Any, pl_module: Any) -> None:
            self.ended = time.perf_counter()

    return KitMonitor()


def run(args: argparse.Namespace) -> None:
    import cv2
    import torch

    # Sequential OpenCV in this process: a DataLoader worker forked after OpenCV's thread pool has run here
    # deadlocks in its own cv2.setNumThreads(1) (seen in a fresh venv: the loader probe waited forever).
    cv2.setNumThreads(1)

    dry = args.dry
    kit = Path(args.kit).resolve()
    out = Path(os.environ.get("OUT") or args.out or (REPO / "runs" / ("gpu-kit-dry" if dry else "gpu-kit")))
    out.mkdir(parents=True, exist_ok=True)
    if not (kit / "MANIFEST.json").is_file():
        raise KitError(f"{kit}: no kit here (build it with scripts/gpu-kit.sh build)")
    manifest = json.loads((kit / "MANIFEST.json").read_text())
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda and not dry else "cpu"
    gpu = torch.cuda.get_device_name(0) if cuda else "none"
    log(
        f"python {platform.python_version()}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"cuDNN {torch.backends.cudnn.version() if cuda else None}, GPU {gpu}, device {device}"
    )
    if not dry and not cuda:
        raise KitError("no CUDA device visible to torch (use --dry on a CPU)")
    if not dry and not torch.cuda.is_bf16_supported():
        raise KitError(f"{gpu}: no bf16 support")
    site = Path(args.site).resolve() if args.site else None
    for module in manifest["modules"]:
        imported = __import__(module)
        where = Path(imported.__file__).resolve()
        if site is not None and not where.is_relative_to(site):
            raise KitError(f"{module} imported from {where}, not from the kit's wheels in {site}")
    from scenetext.engine.train import train
    from scenetext.models.artifact import save_artifact
    from scenetext.synth.dataset import SynthDataset

    log(f"training path imports; carried packages from {site or 'the environment'}")

    scratch = Path(tempfile.mkdtemp(prefix="gpu-kit-run-"))
    os.environ["SCENETEXT_CACHE_DIR"] = str(scratch / "cache")
    index_stamp = relocate_font_index(kit, scratch / "cache")
    crops = unpack_real(kit, scratch / "real")
    log(f"{crops} real training crops unpacked")
    config = kit_config(kit, scratch / "real", scratch / "run", dry, args.set)
    built, gpu_rate = smoke(config, device, args.smoke_steps)
    log(
        f"smoke: {args.smoke_steps} steps of batch {config.data.batch_size} fine, "
        f"{gpu_rate:.0f} img/s on {device}"
    )
    synth = next(s for s in config.data.train if s.kind == "synth")
    samples = Path(args.samples) if args.samples else scratch / "samples"
    samples.mkdir(parents=True, exist_ok=True)
    dataset = SynthDataset(preprocessor=None, **synth.synth)
    for i in range(4):
        sample = dataset.sample(i)
        cv2.imwrite(str(samples / f"{i}.png"), cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR))
        log(f"rendered sample {i}: {sample.label!r} in {sample.font}")
    check_rendering_from_kit(kit, dataset.generator, index_stamp)

    built.model.to("cpu")  # the smoke's copy; train() builds its own
    loader_rate = probe_loader(config, built, args.probe_seconds)
    bound = "data" if loader_rate < gpu_rate else "compute"
    reuse = (
        args.reuse if args.reuse is not None else min(args.max_reuse, max(1, round(gpu_rate / loader_rate)))
    )
    log(
        f"loaders deliver {loader_rate:.0f} img/s, the {device} trains {gpu_rate:.0f} img/s: {bound}-bound; "
        f"each rendered batch is used {reuse} time(s)"
    )
    reuse_callbacks = []
    if reuse > 1:
        from scenetext.engine.datamodule import RecognitionDataModule

        # train() builds its own data module: wrap its training loader for this process only.
        plain_loader = RecognitionDataModule.train_dataloader
        RecognitionDataModule.train_dataloader = lambda self: RepeatedBatches(plain_loader(self), reuse)
        reuse_callbacks.append(make_reuse(reuse, built.preprocess.normalize))
        loader_rate *= reuse
    budget = sum(
        int(x) * m for x, m in zip(config.trainer.max_time.split(":"), (86400, 3600, 60, 1), strict=True)
    )
    # 0.8: Lightning's own per-step work is not in the smoke rate, and a schedule cut short by max_time ends
    # at a high learning rate. At least enough steps for OneCycle's phases to hold a few steps each.
    steps = max(40, int(0.8 * min(loader_rate, gpu_rate) * budget / config.data.batch_size))
    config.trainer.max_steps = steps
    log(
        f"trainer.max_steps {steps} (schedule over ~{budget} s at the slower rate), "
        f"max_time {config.trainer.max_time}"
    )

    def export(model: Any, extra: dict[str, Any], directory: Path = out / "checkpoint") -> None:
        weights = model.state_dict()
        if sum(t.numel() * t.element_size() for t in weights.values()) > 15 * 2**20:
            weights = {k: v.half() if v.is_floating_point() else v for k, v in weights.items()}
        save_artifact(
            directory,
            model,
            model_name=config.model.name,
            model_options=built.options,
            charset=built.charset,
            preprocess=built.preprocess,
            protocol=config.eval.protocol,
            extra={"run": "gpu-kit", **extra},
            state_dict=weights,
        )

    monitor = make_monitor(export, args.checkpoint_seconds)
    sampler = GpuSampler()
    if device == "cuda":
        sampler.start()
    result = train(config, progress=False, extra_callbacks=[*reuse_callbacks, monitor])
    sampler.stop.set()
    if result.artifact is None:
        raise KitError("training ended without an exported artifact")
    shutil.rmtree(out / "artifact", ignore_errors=True)
    shutil.copytree(result.artifact, out / "artifact")
    elapsed = (monitor.ended or time.perf_counter()) - (monitor.started or time.perf_counter())
    stats = {
        "device": gpu if device == "cuda" else platform.processor() or "cpu",
        "steps": result.global_step,
        "batch_size": config.data.batch_size,
        "train_seconds": round(elapsed, 1),
        "images_per_second": round(monitor.images / elapsed, 1) if elapsed else None,
        "data_wait_fraction": round(monitor.wait / elapsed, 3) if elapsed else None,
        "gpu_utilisation_percent": round(sum(sampler.samples) / len(sampler.samples), 1)
        if sampler.samples
        else None,
        "final_loss": round(float(monitor.loss), 4) if monitor.loss is not None else None,
        "smoke_images_per_second": round(gpu_rate, 1),
        "loader_images_per_second": round(loader_rate / reuse, 1),
        "reuse": reuse,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
    }
    (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")
    log(
        f"done: {stats['steps']} steps in {stats['train_seconds']} s, {stats['images_per_second']} img/s, "
        f"GPU utilisation {stats['gpu_utilisation_percent'] or 'n/a '}%, "
        f"data wait {stats['data_wait_fraction']}, "
        f"final loss {stats['final_loss']}; artifact {out / 'artifact'}"
    )
    shutil.rmtree(scratch, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    b = commands.add_parser("build", help="assemble the kit (git-ignored) from this machine")
    b.add_argument("--kit", default=str(REPO / "kit"), help="kit folder (carried to the GPU machine)")
    b.add_argument("--dry-kit", default=str(REPO / "kit-dry"), help="the dry run's cp311 wheels")
    b.add_argument("--recipe", default=str(REPO / DEFAULT_RECIPE), help="training recipe to carry")
    b.add_argument("--weights", default=str(REPO / DEFAULT_WEIGHTS), help="artifact to start from")
    b.add_argument("--real", default=str(REPO.parent / "shared/data/real"), help="real data root")
    b.add_argument("--real-width", type=int, default=None, help="fixed crop width (default: natural aspect)")
    b.add_argument("--fonts", action="append", help="font directory (repeatable; default: the system's)")
    b.add_argument("--faces-per-family", type=int, default=4)
    b.add_argument("--min-faces", type=int, default=4, help="minimum faces per style (sans, serif...)")
    b.add_argument(
        "--backgrounds", action="append", help="picture directory (repeatable; default: GIMP's patterns)"
    )
    b.add_argument("--max-backgrounds", type=int, default=120)
    b.add_argument("--vocab-size", type=int, default=None, help="words to export (default: the engine's 60k)")
    b.add_argument("--wheels", choices=("both", "cp312", "cp311", "none"), default="both")
    b.add_argument(
        "--check-python", default=None, help="a Python 3.12 to install and import the cp312 wheels with"
    )
    b.add_argument(
        "--check-with", default=None, help="folder of cp312 numpy/opencv/scipy/pyyaml wheels for that check"
    )
    b.add_argument("--limit-mib", type=float, default=60.0)
    r = commands.add_parser("run", help="train from the kit (on the GPU machine, or --dry on a CPU)")
    r.add_argument("--dry", action="store_true", help="the same chain on the CPU with tiny settings")
    r.add_argument("--kit", default=str(REPO / "kit"))
    r.add_argument("--site", default=None, help="where gpu-kit.sh installed the wheels (checked)")
    r.add_argument("--out", default=None, help="output folder (default $OUT, else runs/gpu-kit[-dry])")
    r.add_argument("--samples", default=None, help="where to write the rendered samples (read back last)")
    r.add_argument("--smoke-steps", type=int, default=None)
    r.add_argument("--probe-seconds", type=float, default=None)
    r.add_argument("--checkpoint-seconds", type=float, default=None)
    r.add_argument(
        "--reuse", type=int, default=None, help="times each rendered batch is trained on (default: measured)"
    )
    r.add_argument("--max-reuse", type=int, default=4, help="cap on the measured reuse")
    r.add_argument("--set", action="append", default=[], help="recipe override key.sub=value (repeatable)")
    args = parser.parse_args()
    if args.command == "build":
        args.backgrounds = args.backgrounds or ["/usr/share/gimp/2.0/patterns"]
    else:
        defaults = (3, 3.0, 5.0) if args.dry else (12, 10.0, 60.0)
        args.smoke_steps = args.smoke_steps or defaults[0]
        args.probe_seconds = args.probe_seconds or defaults[1]
        args.checkpoint_seconds = args.checkpoint_seconds or defaults[2]
    try:
        build(args) if args.command == "build" else run(args)
    except KitError as exc:
        print(f"gpu-kit error: {exc}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:
        from scenetext.errors import ScenetextError

        if not isinstance(exc, ScenetextError):
            raise
        print(f"gpu-kit error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
