"""The model registry: ``manifest.json`` and the files it names (stdlib only).

Where models are looked up, first match wins:

1. the directory in the ``RDCODEC_MODELS_DIR`` environment variable;
2. ``models/`` beside the ``rdcodec`` package (running from a checkout);
3. the ``rdcodec.shipped_models`` package data (an installed wheel carries ``models/`` there).

Each manifest entry names a weights file (torch state dict) and a tables file (frozen integer
probability tables + quantization centres and step, ``.npz``) with their SHA-256. Points of a
quantization-step ladder (one network, tables frozen at several Δ) share one weights file. The model digest
written into every ``.rdc`` header is SHA-256(weights bytes ‖ tables bytes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from pathlib import Path

from rdcodec import atomic_file
from rdcodec.settings import NetworkConfig, ObjectiveConfig

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1


class ModelNotFoundError(LookupError):
    """No such model in the registry, or its files are missing or altered."""


class ManifestError(ModelNotFoundError):
    """The manifest cannot be read or an entry is malformed (one line, names the file)."""


@dataclasses.dataclass(frozen=True)
class ModelEntry:
    id: str
    name: str
    weights: str
    tables: str
    sha256: dict  # file name → hex digest
    digest: str  # hex SHA-256(weights ‖ tables)
    network: NetworkConfig
    objective: ObjectiveConfig | None  # None: exported without its training objective
    description: str = ""
    default: bool = False
    quality: int | None = None
    training: dict = dataclasses.field(default_factory=dict)
    kodak: dict | None = None  # measured mean figures on the 24 Kodak images
    runtime: dict | None = None  # {"analysis": file, "synthesis": file}: ONNX graphs of g_a and g_s (in sha256)
    #: "tables": one quantization step (format version 1 streams name it); "grid": the network's
    #: tables at every step of a grid (``tables`` is a ``.grid.npz``), which version 2 streams name
    kind: str = "tables"
    #: the id of the ladder point that replaced this one on its ladder; a superseded entry has no
    #: quality, is never the default nor listed as a point, and stays installed so that every
    #: file written with it keeps decoding (streams name their model by digest)
    superseded_by: str | None = None

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def metric(self) -> str | None:
        """The training metric D (which ladder the entry belongs to), if recorded."""
        return self.objective.metric if self.objective is not None else None

    @classmethod
    def from_dict(cls, data: dict) -> "ModelEntry":
        known = {f.name for f in dataclasses.fields(cls)}
        fields = {k: v for k, v in data.items() if k in known}
        if isinstance(fields.get("network"), dict):
            fields["network"] = NetworkConfig.from_dict(fields["network"])
        objective = fields.get("objective")
        fields["objective"] = ObjectiveConfig.from_dict(objective) if isinstance(objective, dict) and objective else None
        return cls(**fields)


def model_digest(weights: bytes, tables: bytes) -> str:
    return hashlib.sha256(weights + tables).hexdigest()


_PACKAGE = Path(__file__).resolve().parent.parent  # rdcodec/


def _checkout_dir() -> Path:
    return _PACKAGE.parent / "models"


def default_models_dir() -> Path:
    env = os.environ.get("RDCODEC_MODELS_DIR")
    if env:
        return Path(env)
    checkout = _checkout_dir()
    if (checkout / MANIFEST).is_file():
        return checkout
    installed = _PACKAGE / "shipped_models"
    return installed if (installed / MANIFEST).is_file() else checkout


_REQUIRED = [
    f.name
    for f in dataclasses.fields(ModelEntry)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
]
_ENTRY_DICTS = ("sha256", "network", "objective")
ENTRY_KINDS = ("tables", "grid")
_ENTRY_STRINGS = ("id", "name", "weights", "tables", "digest")


def _checked_entry(path: Path, number: int, item: dict) -> ModelEntry:
    """Entry ``number`` of the manifest at ``path``, or a :class:`ManifestError` saying what is wrong."""
    missing = [name for name in _REQUIRED if name not in item]
    if missing:
        raise ManifestError(f"{path}: model entry {number} lacks {', '.join(missing)}")
    wrong = [
        name for name in _ENTRY_DICTS if not isinstance(item[name], dict) and not (name == "objective" and item[name] is None)
    ]
    if wrong or not all(isinstance(item[name], str) for name in _ENTRY_STRINGS):
        raise ManifestError(f"{path}: model entry {number} ({item['id']!r}) is malformed")
    runtime = item.get("runtime")
    if runtime is not None and not (
        isinstance(runtime, dict)
        and set(runtime) == {"analysis", "synthesis"}
        and all(isinstance(name, str) and name in item["sha256"] for name in runtime.values())
    ):
        raise ManifestError(
            f"{path}: model entry {number} ({item['id']!r}) has a malformed runtime field "
            "(needs analysis and synthesis graph files listed in sha256)"
        )
    superseded_by = item.get("superseded_by")
    if superseded_by is not None and not (
        isinstance(superseded_by, str) and item.get("quality") is None and not item.get("default", False)
    ):
        raise ManifestError(
            f"{path}: model entry {number} ({item['id']!r}) has a malformed superseded_by field "
            "(a model id, on an entry with no quality that is not the default)"
        )
    if item.get("kind", "tables") not in ENTRY_KINDS:
        raise ManifestError(f"{path}: model entry {number} ({item['id']!r}) has an unknown kind {item.get('kind')!r}")
    try:
        return ModelEntry.from_dict(item)
    except (TypeError, ValueError, KeyError) as exc:
        raise ManifestError(f"{path}: model entry {number} ({item['id']!r}) is malformed ({exc})") from None


class Registry:
    """Models listed in one directory's ``manifest.json``."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory is not None else default_models_dir()

    def entries(self) -> list[ModelEntry]:
        """The manifest's entries, checked: a malformed manifest is a :class:`ManifestError` naming the file."""
        path = self.directory / MANIFEST
        if not path.is_file():
            return []
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ManifestError(f"{path}: cannot read ({exc.strerror})") from None
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise ManifestError(f"{path}: not a model manifest (not valid JSON)") from None
        models = data.get("models", []) if isinstance(data, dict) else None
        if not isinstance(models, list) or not all(isinstance(m, dict) for m in models):
            raise ManifestError(f"{path}: not a model manifest (no list of model entries)")
        return [_checked_entry(path, number, item) for number, item in enumerate(models, 1)]

    def find(self, name: str | None = None) -> ModelEntry:
        """Entry by id or name; ``None`` gives the default model."""
        entries = self.entries()
        if not entries:
            raise ModelNotFoundError(f"no models found in {self.directory}")
        if name is None:
            for entry in entries:
                if entry.default:
                    return entry
            return entries[0]
        for entry in entries:
            if name in (entry.id, entry.name):
                return entry
        known = ", ".join(e.id for e in entries)
        raise ModelNotFoundError(f"unknown model {name!r} (available: {known})")

    def find_quality(self, quality: int, metric: str | None = None) -> ModelEntry:
        """The ladder point ``quality`` among models optimised for ``metric``.

        A ladder is the set of entries with a ``quality`` and the same ``objective.metric``
        (CompressAI's ``(quality, metric)`` pair); ``metric=None`` means the default model's.
        """
        entries = self.entries()
        if metric is None:
            metric = self.find().metric if entries else None
        ladder = [e for e in entries if e.quality is not None and e.metric == metric]
        if not ladder:
            metrics = sorted({e.metric for e in entries if e.quality is not None} - {None})
            raise ModelNotFoundError(f"no {metric} ladder is installed (ladders: {', '.join(metrics) or 'none'})")
        for entry in ladder:
            if entry.quality == quality:
                return entry
        qualities = sorted(e.quality for e in ladder)
        raise ModelNotFoundError(f"no {metric} model for quality {quality} (available: {qualities})")

    def grid_for(self, entry: ModelEntry) -> ModelEntry:
        """The grid entry of an entry's network (the one with the same weights file), which
        format version 2 streams of that network name."""
        if entry.kind == "grid":
            return entry
        for other in self.entries():
            if (
                other.kind == "grid"
                and other.weights == entry.weights
                and other.sha256.get(other.weights) == entry.sha256.get(entry.weights)
            ):
                return other
        raise ModelNotFoundError(f"model {entry.id} has no grid tables installed, so it cannot write format version 2")

    def has_grid_tables(self, entry: ModelEntry) -> bool:
        """Whether :meth:`grid_for` finds the entry's grid tables (format version 2 can be written)."""
        try:
            self.grid_for(entry)
        except ModelNotFoundError:
            return False
        return True

    def weights_named(self, sha256_hex: str) -> str | None:
        """Name of a weights file already registered with this SHA-256 (ladder points share one)."""
        for entry in self.entries():
            name = entry.weights
            if entry.sha256.get(name) == sha256_hex and (self.directory / name).is_file():
                return name
        return None

    def read_file(self, entry: ModelEntry, name: str) -> bytes:
        """One of an entry's files, verified against the manifest's SHA-256."""
        path = self.directory / name
        if not path.is_file():
            raise ModelNotFoundError(f"model {entry.id}: file {path} is missing")
        blob = path.read_bytes()
        expected = entry.sha256.get(name)
        if expected and hashlib.sha256(blob).hexdigest() != expected:
            raise ModelNotFoundError(f"model {entry.id}: file {name} does not match its SHA-256 in the manifest")
        return blob

    def read_files(self, entry: ModelEntry) -> tuple[bytes, bytes]:
        """(weights bytes, tables bytes), verified against the manifest's SHA-256."""
        return self.read_file(entry, entry.weights), self.read_file(entry, entry.tables)

    def add(self, entry: ModelEntry, weights: bytes, tables: bytes, extra: dict[str, bytes] | None = None) -> None:
        """Write the files (``extra``: more files by name, e.g. runtime graphs) and insert (or
        replace) the entry in the manifest."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, blob in ((entry.weights, weights), (entry.tables, tables), *(extra or {}).items()):
            path = self.directory / name
            if not (path.is_file() and path.read_bytes() == blob):
                atomic_file.write_bytes(path, blob)  # a kill leaves the old file (shared by other entries) or none
        entries = [e for e in self.entries() if e.id != entry.id]
        if entry.default:
            entries = [dataclasses.replace(e, default=False) for e in entries]
        # a file shared with other entries (ladder points share weights and graphs) keeps one
        # hash: entries that list a rewritten file get its new SHA-256 too
        rewritten = {name: entry.sha256[name] for name in (extra or {}) if name in entry.sha256}
        entries = [
            dataclasses.replace(e, sha256={**e.sha256, **{n: h for n, h in rewritten.items() if n in e.sha256}}) for e in entries
        ]
        entries.append(entry)
        self.write_manifest(entries)

    def supersede(self, ids: list[str], by: str) -> list[ModelEntry]:
        """Take the ladder points ``ids`` off their ladder in favour of ``by`` (the new ladder's
        id): they lose their quality and the default mark, and stay installed, so every file
        written with them still decodes. Returns the changed entries."""
        entries = self.entries()
        known = {e.id: e for e in entries}
        for model_id in ids:
            entry = known.get(model_id)
            if entry is None:
                raise ModelNotFoundError(f"unknown model {model_id!r}: cannot supersede it")
            if entry.kind != "tables":
                raise ModelNotFoundError(f"{model_id} holds grid tables, not a ladder point: supersede its points")
        changed = {e.id: dataclasses.replace(e, quality=None, default=False, superseded_by=by) for e in entries if e.id in ids}
        self.write_manifest([changed.get(e.id, e) for e in entries])
        return list(changed.values())

    def write_manifest(self, entries: list[ModelEntry]) -> None:
        data = {"manifest_version": MANIFEST_VERSION, "models": [e.to_dict() for e in entries]}
        atomic_file.write_json(self.directory / MANIFEST, data, replace=True)
