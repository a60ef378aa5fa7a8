"""``chatbot-tester generate``: build a dataset.jsonl from a pipeline or convert one file."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click

__all__ = ["command"]


def _columns(pairs: tuple[str, ...]) -> dict[str, str]:
    from chatbot_tester.errors import UsageError

    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise UsageError(f"--column expects FIELD=COLUMN (e.g. input=question), got {pair!r}")
        mapping[field.strip()] = column.strip()
    return mapping


@click.command("generate")
@click.argument("pipeline", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--source",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Convert this CSV/JSONL/YAML file instead of a pipeline's generator section.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the dataset (default: ./<dataset id>.jsonl).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "csv", "jsonl", "yaml"]),
    default="auto",
    show_default=True,
    help="Format of --source.",
)
@click.option(
    "-c",
    "--column",
    "columns",
    multiple=True,
    metavar="FIELD=COLUMN",
    help="CSV column mapping for --source, e.g. -c input=question -c tags=category.",
)
@click.option("--id", "dataset_id", help="Dataset id for --source (default: the file name).")
@click.option("--no-cache", is_flag=True, help="Do not cache synthetic/document generation calls.")
@click.option(
    "--pack",
    "packs",
    multiple=True,
    metavar="NAME",
    help="Write the red-team pack NAME (repeatable; see --list-packs).",
)
@click.option(
    "--strategy",
    "strategies",
    multiple=True,
    type=click.Choice(["base64", "leetspeak", "roleplay", "crescendo", "crescendo_sim"]),
    help="Add a transformed copy of every pack attack (repeatable).",
)
@click.option("--list-packs", is_flag=True, help="List the shipped red-team packs and exit.")
def command(
    pipeline: Path | None,
    source: Path | None,
    output: Path | None,
    fmt: str,
    columns: tuple[str, ...],
    dataset_id: str | None,
    no_cache: bool,
    packs: tuple[str, ...],
    strategies: tuple[str, ...],
    list_packs: bool,
) -> None:
    """Build a dataset.jsonl from PIPELINE's generator section, --source FILE or --pack NAME."""
    from chatbot_tester.common.config import GeneratorConfig
    from chatbot_tester.errors import UsageError
    from chatbot_tester.generator.generate import build_dataset, dataset_id_for, report_path_for

    if list_packs:
        from chatbot_tester.generator.redteam import available_packs, load_pack

        for name in available_packs():
            pack = load_pack(name)
            click.echo(f"{name} (v{pack.version}, {len(pack.samples)} attacks): {pack.description}")
        return
    if strategies and not packs:
        raise UsageError("--strategy transforms --pack attacks: add --pack NAME")
    if sum(x is not None and x != () for x in (pipeline, source, packs or None)) != 1:
        raise UsageError("give a PIPELINE file or --source FILE (or --pack NAME; one of them)")
    cache = None
    if packs:
        from chatbot_tester.generator.redteam import load_pack

        for name in packs:
            load_pack(name)  # an unknown name fails before anything is written
        config = GeneratorConfig.model_validate(
            {
                "packs": list(packs),
                "strategies": list(strategies),
                "dataset_id": dataset_id or "redteam",
            }
        )
        base_dir = Path.cwd()
    elif source is not None:
        config = GeneratorConfig(
            source=source.resolve(),
            format=fmt,
            dataset_id=dataset_id,
            columns=_columns(columns),
        )
        base_dir = Path.cwd()
    else:
        if columns or dataset_id or fmt != "auto":
            raise UsageError("--column, --id and --format apply to --source only")
        from chatbot_tester.common.plugins import load_config

        assert pipeline is not None
        pipe = load_config(pipeline)
        config, base_dir = pipe.generator, pipe.base_dir
        if config.documents is not None:  # bad documents fail before the cache is created
            from chatbot_tester.generator.doc_readers import read_documents

            read_documents(
                config.documents.files, base_dir, jsonl_field=config.documents.jsonl_field
            )
        generated = config.synthetic is not None or config.documents is not None
        generated = generated or bool(config.perturbations and config.perturbations.paraphrase)
        if generated and config.cache and not no_cache:
            from chatbot_tester.common.artifacts.cache import open_cache
            from chatbot_tester.common.artifacts.remote_workspace import config_workspace

            cache = open_cache(config_workspace(pipe).root)
    out = output if output is not None else Path.cwd() / f"{dataset_id_for(config)}.jsonl"
    import anyio

    try:
        info, report = anyio.run(
            partial(build_dataset, config, base_dir=base_dir, out_path=out.resolve(), cache=cache)
        )
    finally:
        if cache is not None:
            cache.close()
    if report is not None and report.missing:
        click.echo(
            f"warning: synthetic generation produced {report.produced} of {report.requested} "
            f"samples ({report.invalid} invalid items); see {report_path_for(out).name}",
            err=True,
        )
    if report is not None:
        click.echo(f"synthetic generation: {report.spend()} (apart from the bot)", err=True)
    if config.documents is not None:
        from chatbot_tester.generator.doc_report import documents_report_path, load_documents_report

        documents = load_documents_report(out)
        if documents is not None:
            click.echo(
                f"documents: {documents.summary()}; see {documents_report_path(out).name}",
                err=True,
            )
    click.echo(f"wrote {info.count} samples (dataset '{info.id}', {info.hash[:19]})", err=True)
    click.echo(str(out))
