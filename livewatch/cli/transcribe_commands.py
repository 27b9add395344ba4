"""``livewatch transcribe`` (one-off files) and ``livewatch models`` (the local model store)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from livewatch.cli.invocation import CliState, pass_state
from livewatch.errors import CaptureError, ConfigError, ModelError
from livewatch.settings import TranscriberSettings
from livewatch.transcription.formats import WRITERS

# The backends pull in torch and CTranslate2; they are imported inside the commands that need them, so
# every other command starts fast.


@click.command()
@click.argument("media", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--backend", type=click.Choice(["faster-whisper", "openai-whisper"]), help="Default: configured.")
@click.option("--model", "model_spec", help="Store name, model folder or .pt file. Default: configured.")
@click.option("--language", type=click.Choice(["zh", "en", "auto"]), help="Default: configured.")
@click.option("--format", "fmt", type=click.Choice(sorted(WRITERS)), default="txt", show_default=True)
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="Write to a file.")
@click.option("--no-vad", is_flag=True, help="Decode silence too (voice-activity detection off).")
@pass_state
def transcribe(state: CliState, media: Path, backend: str | None, model_spec: str | None, language: str | None,
               fmt: str, output: Path | None, no_vad: bool) -> None:
    """Transcribe one audio or video file."""
    from livewatch.transcription import backends
    from transcribers.base import TranscribeOptions
    from transcribers.decoding import decoding_defaults
    from transcribers.store import ModelStore

    config = state.settings.transcriber
    backend = backend or config.backend
    language = language or config.language
    store = ModelStore(state.settings.model_store)
    model_spec = model_spec or config.model_for(language)
    if not store.languages(model_spec).serves(language):
        raise ConfigError(f"{model_spec} is an English-only Whisper model and cannot transcribe "
                          f"{'speech in an unknown language' if language == 'auto' else language + ' speech'}; "
                          "use --model base (multilingual), or --language en")
    model = backends.resolve_model(state.settings.model_store, model_spec, backend)
    engine = backends.create(backend, model, config.options_for(backend))
    forced = None if language == "auto" else language
    options = replace(decoding_defaults(forced).apply(TranscribeOptions(language=forced)),
                      beam_size=config.beam_size, vad=not no_vad)
    duration = _duration(media)
    segments = []
    progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                        TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    with progress:
        task = progress.add_task(f"{backend} · {model.name}", total=duration or None)
        for segment in engine.transcribe(media, options):
            segments.append(segment)
            progress.update(task, completed=min(segment.end, duration or segment.end))
    text = WRITERS[fmt](segments)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


def _duration(media: Path) -> float:
    import av

    try:
        with av.open(str(media)) as container:
            return float(container.duration or 0) / 1_000_000
    except (av.error.FFmpegError, OSError) as err:
        raise CaptureError(f"cannot read {media}: {err}") from err


@click.group()
def models() -> None:
    """The local model store (works with no network)."""


@models.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@pass_state
def models_list(state: CliState, fmt: str) -> None:
    """Models in the store, and those installed model packages provide."""
    from transcribers.store import ModelStore, installed_packages

    store = ModelStore(state.settings.model_store)
    config = state.settings.transcriber
    # name, languages, used for, backends, model.bin sha256 (the whole hash), imported (when, or from where)
    rows: list[tuple[str, str, str, str, str, str]] = []
    for model in store.models():
        files = model.manifest.get("files", {})
        rows.append((model.name, store.languages(model.name).describe(), _used_for(config, model.name),
                     "faster-whisper, openai-whisper", str(files.get("ct2/model.bin", "")),
                     str(model.manifest.get("imported_at", ""))))
    for name, folders in installed_packages().items():
        if store.get(name) is None:
            rows.append((name, store.languages(name).describe(), _used_for(config, name),
                         "(installed package, imported on first use)", "", " + ".join(map(str, folders))))
    if fmt == "json":
        keys = ("name", "languages", "used_for", "backends", "model_bin_sha256", "imported")
        click.echo(json.dumps({"store": str(store.root), "models": [dict(zip(keys, row, strict=True))
                                                                      for row in rows]},
                              ensure_ascii=False, indent=2))
        return
    table = Table(title=f"Model store {store.root}")
    for column in ("name", "languages", "used for", "backends", "model.bin sha256", "imported"):
        table.add_column(column, overflow="fold")
    for name, languages, used_for, backends, sha256, imported in rows:
        table.add_row(name, languages, used_for, backends, sha256[:16], imported)
    Console(highlight=False).print(table)


def _used_for(config: TranscriberSettings, name: str) -> str:
    """The event languages the configuration transcribes with model ``name``."""
    return ", ".join(language for language in ("zh", "en", "auto") if config.model_for(language) == name) or "-"


@models.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, file_okay=False))
@click.option("--name", required=True, help="Name to store it under, e.g. base or tiny.en.")
@pass_state
def models_import(state: CliState, paths: tuple[Path, ...], name: str) -> None:
    """Import a CTranslate2 model (from one or more folders; split model.bin.partN files are joined) and
    build the openai-whisper checkpoint from it, so both backends run on the same weights."""
    from transcribers.store import ModelStore

    stored = ModelStore(state.settings.model_store).import_ct2(list(paths), name)
    click.echo(f"imported {stored.name} into {stored.folder}")
    for relative, digest in stored.manifest["files"].items():
        click.echo(f"  {digest}  {relative}")


@models.command("verify")
@click.argument("names", nargs=-1)
@pass_state
def models_verify(state: CliState, names: tuple[str, ...]) -> None:
    """Check every stored file against its sha256 (exit 1 on any difference)."""
    from transcribers.store import ModelStore

    store = ModelStore(state.settings.model_store)
    chosen = [m for m in store.models() if not names or m.name in names]
    if names and len(chosen) != len(set(names)):
        missing = sorted(set(names) - {m.name for m in chosen})
        raise ModelError(f"not in the store: {', '.join(missing)}")
    bad = 0
    for model in chosen:
        problems = store.verify(model)
        bad += bool(problems)
        click.echo(f"{model.name}: {'OK' if not problems else 'FAILED'}")
        for problem in problems:
            click.echo(f"  {problem}")
    if bad:
        raise click.exceptions.Exit(1)
