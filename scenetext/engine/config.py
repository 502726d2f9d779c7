"""Training recipes: a YAML file, dotted command-line overrides, and a schema that rejects typos.

A recipe is validated against the dataclasses below (pydantic dataclasses, so types are checked and coerced:
``lr: 1e-4`` is a float even though YAML 1.1 reads it as a string). An unknown key fails with one line naming
its full path and the valid keys at that level, because a silently ignored ``trainer.max_step`` wastes a
whole run. The resolved config is written next to every run (``run_dir/config.yaml``), so a run can be
reproduced from its directory alone.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from scenetext.errors import ScenetextError

_SCHEMA = ConfigDict(extra="forbid")

Protocol = Literal["en36", "case-sensitive", "en94", "zh"]


@dataclass(config=_SCHEMA)
class RunConfig:
    """Where a run lives: ``output_dir/name`` holds config.yaml, checkpoints/, best/ and tensorboard/."""

    name: str = "run"
    output_dir: str = "runs"
    seed: int = 0


@dataclass(config=_SCHEMA)
class ModelConfig:
    """Which registered model to build, its charset, and optional weights to start from.

    ``options`` go to ``build_model`` unchanged (img_size, mask, constraint switches...). ``init_from`` loads
    weights strictly from an artifact (directory, config.json or model.safetensors), a built-in model name
    (``default``: fine-tuning the shipped model) or a training .ckpt, then training starts fresh (new
    optimizer, step 0): LPV stage 2 starts from stage 1 this way.
    ``init_new_charset`` lets ``init_from`` weights of another charset start a model: every layer loads
    strictly except those sized by the charset (the model's ``charset_layers``); from an artifact, which names
    its charset, their rows of shared characters carry over (a new uppercase letter starts from its lowercase
    row), the rest start fresh.
    ``init_parts`` limits ``init_from`` to some top-level parts of the model (e.g. ``[encoder]``), strictly
    within them; the other parts keep their fresh initialisation. That starts one family from another's
    trained encoder (the AR baseline from a NASTR model).
    ``encoder_init`` loads MAE-pretrained weights into a ViT encoder (``load_mae_pretrained``), as the
    NASTR ViT† run did (spec-nastr §1.2).
    """

    name: str = "nastr-tiny"
    charset: str = "en36"
    max_length: int = 25
    options: dict[str, Any] = field(default_factory=dict)
    init_from: str | None = None
    init_new_charset: bool = False
    init_parts: list[str] | None = None
    encoder_init: str | None = None


@dataclass(config=_SCHEMA)
class PreprocessSection:
    """Resizing rule; height, width and normalisation come from the model itself.

    ``interpolation: null`` takes the model's own (LPV: bicubic as its reference loader; others: bilinear).
    """

    interpolation: Literal["bilinear", "bicubic"] | None = None
    keep_ratio: bool = False
    rotate_tall: bool = False


@dataclass(config=_SCHEMA)
class LabelConfig:
    """Training-label policy (see ``scenetext.data.charset.LabelFilter``)."""

    policy: Literal["strip", "drop"] = "strip"
    lowercase: bool = True
    max_length: int | None = 25
    length_of_raw: bool = False
    keep_empty: bool = False


@dataclass(config=_SCHEMA)
class TrainSource:
    """One training source; several are mixed per batch by ``ratio`` (e.g. MJ 0.5 + ST 0.5).

    ``kind: lmdb`` reads every LMDB under ``roots``; ``kind: synth`` renders images on the fly with
    ``synth`` as the options of ``scenetext.synth.SynthDataset``.
    """

    kind: Literal["lmdb", "synth"] = "lmdb"
    roots: list[str] = field(default_factory=list)
    ratio: float = 1.0
    synth: dict[str, Any] = field(default_factory=dict)


@dataclass(config=_SCHEMA)
class DataConfig:
    """Training sources, validation roots (every LMDB below a root is one subset) and loader settings."""

    train: list[TrainSource] = field(default_factory=list)
    val: list[str] = field(default_factory=list)
    batch_size: int = 64
    val_batch_size: int = 128
    num_workers: int = 4
    val_num_workers: int | None = None
    pin_memory: bool | None = None
    persistent_workers: bool = True
    augmentation: str | None = None
    label: LabelConfig = field(default_factory=LabelConfig)
    val_max_length: int | None = None


@dataclass(config=_SCHEMA)
class OptimConfig:
    """Optimizer; ``weight_decay`` applies to every parameter, as in the NASTR code (spec-nastr §5.1)."""

    name: Literal["adamw", "adam"] = "adamw"
    lr: float = 8e-4
    weight_decay: float = 0.05
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8


@dataclass(config=_SCHEMA)
class ScheduleConfig:
    """LR schedule, stepped every optimizer step.

    ``onecycle``: torch OneCycleLR over ``trainer.max_steps`` (starts at lr/div_factor, ends at
    lr/div_factor/final_div_factor; with ``cycle_momentum`` Adam's beta1 goes max_momentum -> base_momentum ->
    max_momentum). ``step``: StepLR (multiply by ``gamma`` every ``step_size`` steps). ``constant``: none.
    """

    name: Literal["onecycle", "step", "constant"] = "onecycle"
    pct_start: float = 0.025
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    anneal_strategy: Literal["cos", "linear"] = "cos"
    cycle_momentum: bool = True
    base_momentum: float = 0.85
    max_momentum: float = 0.95
    step_size: int = 240_000
    gamma: float = 0.1


@dataclass(config=_SCHEMA)
class TrainerConfig:
    """Lightning Trainer settings. ``val_check_interval`` counts optimizer steps.

    The run length is ``max_steps`` optimizer steps, or ``max_epochs`` passes over the training data (then
    ``max_steps = max_epochs * floor(samples / (batch_size * processes)) / accumulate_grad_batches``, the
    count the NASTR schedule was built from, spec-nastr §5.2). Set one of the two to null. ``max_time``
    ("DD:HH:MM:SS") also stops the run when that much time has passed (a fixed compute budget); the schedule
    is still laid out over ``max_steps``.
    """

    max_steps: int | None = 1000
    max_epochs: int | None = None
    max_time: str | None = None
    val_check_interval: int = 1000
    accelerator: str = "auto"
    devices: int | str | list[int] = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    find_unused_parameters: bool = False
    precision: Literal["32-true", "bf16-mixed", "16-mixed"] = "32-true"
    gradient_clip_val: float | None = None
    accumulate_grad_batches: int = 1
    log_every_n_steps: int = 50
    deterministic: bool = False
    limit_val_batches: int | float = 1.0
    num_sanity_val_steps: int = 2
    progress_bar: Literal["auto", "rich", "plain"] = "auto"
    sample_predictions: int = 16


@dataclass(config=_SCHEMA)
class EmaConfig:
    """Exponential moving average of the weights, used for validation, checkpoints and the exported model."""

    enabled: bool = False
    decay: float = 0.9999
    start_step: int = 0


@dataclass(config=_SCHEMA)
class EvalConfig:
    """How predictions and ground truths are normalised before comparison (``scenetext.engine.protocols``)."""

    protocol: Protocol = "en36"


@dataclass(config=_SCHEMA)
class Config:
    """A whole training recipe."""

    run: RunConfig = field(default_factory=RunConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    preprocess: PreprocessSection = field(default_factory=PreprocessSection)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    ema: EmaConfig = field(default_factory=EmaConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


_ADAPTER = TypeAdapter(Config)


def _schema_class(hint: Any) -> type | None:
    """The schema dataclass in a hint (``LabelConfig``, ``list[TrainSource]``); None for free dicts."""
    if dataclasses.is_dataclass(hint):
        return hint
    if get_origin(hint) is dict:
        return None
    for arg in get_args(hint):
        found = _schema_class(arg)
        if found is not None:
            return found
    return None


def _dataclass_at(loc: tuple[Any, ...]) -> type | None:
    """The schema dataclass reached by following ``loc`` from the top (list indices skipped)."""
    current: type | None = Config
    for key in loc:
        if isinstance(key, int):
            continue
        if current is None:
            return None
        hint = get_type_hints(current).get(key)
        current = _schema_class(hint) if hint is not None else None
    return current


def _format_error(error: dict[str, Any]) -> str:
    loc = tuple(error["loc"])
    path = ".".join(str(part) for part in loc)
    if error["type"] in ("unexpected_keyword_argument", "extra_forbidden"):
        parent = _dataclass_at(loc[:-1])
        valid = ", ".join(f.name for f in dataclasses.fields(parent)) if parent else "?"
        where = ".".join(str(p) for p in loc[:-1]) or "the top level"
        return f"config: unknown key {path!r}; valid keys in {where}: {valid}"
    value = error.get("input")
    return f"config: {path or 'top level'}: {error['msg']} (got {value!r})"


def config_from_dict(data: dict[str, Any]) -> Config:
    """Validate a plain dict against the schema; the first problem becomes a one-line ScenetextError."""
    if not isinstance(data, dict):
        raise ScenetextError(f"config: expected a mapping at the top level, got {type(data).__name__}")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise ScenetextError(_format_error(exc.errors()[0])) from None


def config_to_dict(config: Config) -> dict[str, Any]:
    """Plain YAML/JSON-safe dict (lists, not tuples)."""
    return _ADAPTER.dump_python(config, mode="json")


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], value parsed as a YAML scalar/flow value)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ScenetextError(f"override {text!r}: expected key.path=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        reason = str(exc).splitlines()[0]
        raise ScenetextError(f"override {text!r}: value is not valid YAML ({reason})") from None
    return key.strip().split("."), value


def apply_override(data: dict[str, Any], path: list[str], value: Any) -> None:
    """Set ``value`` at ``path`` inside nested dicts/lists (numeric parts index lists), creating dicts."""
    node: Any = data
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        where = ".".join(path[: depth + 1])
        if isinstance(node, list):
            if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
                raise ScenetextError(f"override {'.'.join(path)}: {where}: no list item {part!r}")
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
            continue
        if not isinstance(node, dict):
            raise ScenetextError(f"override {'.'.join(path)}: {'.'.join(path[:depth])} is not a mapping")
        if last:
            node[part] = value
        else:
            if node.get(part) is None:
                node[part] = {}
            node = node[part]


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A YAML mapping from disk, with one-line errors for missing files and syntax errors."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenetextError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ScenetextError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenetextError(f"{path}: invalid YAML{where} ({problem})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenetextError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def load_config(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a recipe (None: all defaults), apply ``key.sub=value`` overrides in order, validate."""
    data = read_yaml(path) if path is not None else {}
    for text in overrides:
        keys, value = parse_override(text)
        apply_override(data, keys, value)
    return config_from_dict(data)


def save_config(config: Config, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically: a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False, allow_unicode=True), "utf-8")
    tmp.replace(path)


def config_differences(old: Config, new: Config) -> list[str]:
    """Dotted keys whose values differ between two configs (to warn when a resumed run changed its recipe)."""
    changed: list[str] = []

    def walk(a: Any, b: Any, prefix: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in dict.fromkeys([*a, *b]):
                walk(a.get(key), b.get(key), f"{prefix}{key}.")
        elif a != b:
            changed.append(prefix.rstrip("."))

    walk(config_to_dict(old), config_to_dict(new), "")
    return changed
