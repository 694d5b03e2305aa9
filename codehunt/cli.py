"""The ``codehunt`` command line: build an index, search it, evaluate, mine, train, localize.

Results go to stdout, progress and messages to stderr. Exit codes: 0 ok (also for zero
hits), 1 bad input (a one-line message names the file and the fix), 2 usage (a one-line
message names the option: ``-k 0``, an empty query, an unknown ``--mode``, any option value
a config rejects; see ``codehunt.console``).

Length (~500 lines): one typer app holds the options and help text of index, search, eval, serve and mcp, so a
newcomer reads most of the command surface in one file; each command is a few lines that check options and call
a pipeline module. The commands generated from configs live beside it and are imported only when named
(``codehunt.cli_mine``, ``codehunt.cli_train``, ``codehunt.cli_localize``; see ``codehunt.cli_lazy``).
"""
from __future__ import annotations

import contextlib
import json
import sys
from pathlib import Path
from typing import Callable, Iterator, Optional

import typer

from codehunt.cli_lazy import lazy_group
from codehunt.console import cli_errors, options_checked, quiet_libraries, require, setup_logging

app = typer.Typer(
    # mine, train and localize are imported only when a command line names them (codehunt.cli_lazy)
    cls=lazy_group(mine="codehunt.cli_mine:mine_app", train="codehunt.cli_train:train_app",
                   localize="codehunt.cli_localize:localize_app"),
    help="Search a codebase in plain language: index it once, then ask for 'parse an ISO date' and get functions back.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
index_app = typer.Typer(help="Build, inspect and verify index directories.", no_args_is_help=True)
app.add_typer(index_app, name="index")


@app.callback()
def main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Log what each step does (on stderr).")) -> None:
    """codehunt: code search with dense embeddings, BM25 and rerankers."""
    setup_logging(verbose)
    quiet_libraries()


def check_search_options(mode: str, rerank_depth: int, rerank_fusion: float | None, k: int | None = None) -> None:
    """The search options every searching command shares; a bad one is a usage error (exit code 2)."""
    from codehunt.index.index import SEARCH_MODES  # no model, no FAISS: numpy and the index modules

    require(mode in SEARCH_MODES, f"unknown --mode {mode!r}: choose one of {', '.join(SEARCH_MODES)}")
    if k is not None:
        require(k >= 1, f"-k must be at least 1, got {k}")
    require(rerank_depth >= 1, f"--rerank-depth must be at least 1, got {rerank_depth}")
    require(rerank_fusion is None or rerank_fusion >= 0, f"--rerank-fusion must be >= 0, got {rerank_fusion}")


@index_app.command("build")
@cli_errors
def index_build(
    path: Path = typer.Argument(..., help="A directory, a git repository (with --rev), or a BEIR corpus.jsonl."),
    output: Path = typer.Option(..., "--output", "-o", help="Index directory to create (replaced atomically if it exists)."),
    rev: Optional[str] = typer.Option(None, "--rev", help="Index this git revision (commit, tag, branch) without checking it out."),
    model: str = typer.Option("default", "--model", "-m", help="Embedding model: 'default' (packaged all-MiniLM-L6-v2), a local directory or a hub name."),
    index_type: str = typer.Option("auto", "--index-type", help="auto (default: flat, exact, up to 100k vectors; ivf above), flat, hnsw (fast approximate), ivf (inverted lists; memory-mapped when larger than RAM), or ivfpq (compressed 14x)."),
    exclude: list[str] = typer.Option([], "--exclude", help="Glob of paths to leave out, e.g. 'test/*' (repeatable)."),
    max_file_bytes: int = typer.Option(1_000_000, "--max-file-bytes", help="Skip files larger than this many bytes."),
    precision: str = typer.Option("auto", "--precision", help="fp32, bf16, or auto (bf16 where the CPU/GPU has fast bf16)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Texts per encoder forward pass (default 32, the fastest measured on CPU)."),
    fusion: str = typer.Option("minmax", "--fusion", help="Hybrid fusion recorded for searches: minmax (default), zscore, rrf or auto."),
    dense_weight: float = typer.Option(0.8, "--dense-weight", help="Weight of the dense side in hybrid fusion, 0..1, recorded for searches."),
    fresh: bool = typer.Option(False, "--fresh", help="Reuse nothing of an index already at OUTPUT: read every file and embed every unit again."),
    shard: Optional[str] = typer.Option(None, "--shard", help="Embed only shard i/N of the units (0-based) into the shard directory OUTPUT; join them with `codehunt index merge`."),
    engine: str = typer.Option("local", "--engine", help="local (this process, default) or ray (chunk and embed on a Ray cluster; needs the ray extra of codehunt)."),
    address: Optional[str] = typer.Option(None, "--address", help="--engine ray: the cluster (auto, ray://host:10001); default: a running local one, else a new one."),
    workers: int = typer.Option(0, "--workers", help="--engine ray: model actors (0: one per CPU of the cluster)."),
) -> None:
    """Index a codebase: chunk it into functions, embed them, and write FAISS + BM25 to OUTPUT.

    Onto an existing index the build is incremental: unchanged files keep their chunks and texts already
    embedded (also by a build that was killed) keep their vectors; the result equals a fresh build.
    """
    from codehunt.index.corpus import CorpusConfig
    from codehunt.index.dense import DenseConfig
    from codehunt.index.encoder import EncoderConfig
    from codehunt.index.index import Index, IndexConfig
    from codehunt.index.ranking import SearchConfig
    from codehunt.index.sources import SourceConfig

    require(max_file_bytes >= 1, f"--max-file-bytes must be at least 1, got {max_file_bytes}")
    with options_checked():
        config = IndexConfig(
            encoder=EncoderConfig(model=model, precision=precision, **({} if batch_size is None else {"batch_size": batch_size})),
            corpus=CorpusConfig(source=SourceConfig(max_file_bytes=max_file_bytes, exclude=tuple(exclude))),
            dense=DenseConfig(index_type=index_type),
            search=SearchConfig().with_fusion(fusion, dense_weight),
        )
    if shard is not None or engine != "local" or address is not None or workers:
        index = distributed_build(path, output, config, rev, shard, engine, address, workers)
        if index is None:
            return
    else:
        with build_progress_bar() as progress:
            index = Index.build(path, output, config, rev=rev, progress=progress, fresh=fresh)
    skipped = sum(1 for _ in (output / "skipped.jsonl").open(encoding="utf-8"))
    print(
        f"indexed {index.manifest.unit_count} units ({index.manifest.document_count} chunks) into {output}; "
        f"{skipped} files listed in {output / 'skipped.jsonl'}; {build_summary(index.manifest.build)}",
        file=sys.stderr,
    )


ENGINES = ("local", "ray")


def distributed_build(path: Path, output: Path, config, rev: Optional[str], shard: Optional[str], engine: str,  # noqa: ANN001
                      address: Optional[str], workers: int):  # noqa: ANN201 - IndexConfig -> Index | None
    """``index build --shard i/N`` (a shard directory; returns None) or ``--engine ray`` (the index)."""
    require(engine in ENGINES, f"unknown --engine {engine!r}: choose one of {', '.join(ENGINES)}")
    require(shard is None or engine == "local", "--shard and --engine ray do not mix: Ray divides the work itself")
    require(engine == "ray" or (address is None and not workers), "--address and --workers need --engine ray")
    if shard is not None:
        from codehunt.index.shards import ShardSpec, build_shard

        with options_checked():
            spec = ShardSpec.parse(shard)
        manifest = build_shard(path, output, spec, config, rev=rev, show_progress=True)
        print(f"wrote shard {spec.shard}/{spec.shards} ({manifest.rows} chunks of {manifest.corpus_chunks} units' corpus) to {output}; "
              f"join every shard with `codehunt index merge SHARD_DIRS... -o INDEX`", file=sys.stderr)
        return None
    from codehunt.index.ray_engine import RayConfig, build_index_ray

    with options_checked():
        ray_config = RayConfig(address=address, workers=workers)
    return build_index_ray(path, output, config, ray_config, rev=rev, show_progress=True)


@index_app.command("merge")
@cli_errors
def index_merge(
    shards: list[Path] = typer.Argument(..., help="Every shard directory made by `codehunt index build --shard i/N` (0/N .. N-1/N)."),
    output: Path = typer.Option(..., "--output", "-o", help="Index directory to create (replaced atomically if it exists)."),
) -> None:
    """Join the shards of a sharded build into one index, the same as a single-process `index build` makes."""
    require(all(output.resolve() != shard.resolve() for shard in shards), f"-o {output} is one of the shards: write the index elsewhere")
    from codehunt.index.shards import merge_shards

    index = merge_shards(shards, output)
    print(f"merged {len(shards)} shards: {index.manifest.unit_count} units ({index.manifest.document_count} chunks) into {output}",
          file=sys.stderr)


@index_app.command("update")
@cli_errors
def index_update(
    path: Path = typer.Argument(..., help="Index directory made by `codehunt index build`."),
    rev: Optional[str] = typer.Option(None, "--rev", help="Move a git index to this revision (default: the one it records, looked up again, so a branch picks up its new commits)."),
    service: str = typer.Option("auto", "--service", help="auto (a running `codehunt serve` of this index does the update from memory, without loading the model again, and serves the result), off, or a service URL; without --rev only."),
) -> None:
    """Bring an index up to date with the source it records: only changed files are read, only new units embedded.

    Same model and config as the index was built with; published atomically, as by `index build`. When a
    `codehunt serve` holds the index, it does the update (same result, without loading the model again).
    """
    require(rev is None or bool(rev.strip()), "--rev is empty: name a commit, tag or branch")
    require(service in ("auto", "off") or service.startswith(("http://", "https://")),
            f"unknown --service {service!r}: choose auto, off or a URL such as http://127.0.0.1:8765")
    if rev is None:
        from codehunt.serve.discovery import update_with_service  # standard library only

        answered = update_with_service(path, service)
        if answered is not None:
            print(f"updated {path} through the running service at generation {answered.get('generation')}: "
                  f"{answered.get('units')} units, searchable after {answered.get('seconds')} s, "
                  f"written after {answered.get('published_seconds', answered.get('seconds'))} s", file=sys.stderr)
            return
    from codehunt.index.incremental import update_index

    with build_progress_bar() as progress:
        index = update_index(path, rev=rev, progress=progress)
    if index.up_to_date:
        print(f"{path} is up to date: no file, setting or model changed since {index.manifest.created_at}", file=sys.stderr)
        return
    print(
        f"updated {path}: {build_summary(index.manifest.build)}; "
        f"{index.manifest.unit_count} units ({index.manifest.document_count} chunks)",
        file=sys.stderr,
    )


def build_summary(build: dict) -> str:  # noqa: ANN001 - a manifest's ``build`` record
    from dataclasses import fields

    from codehunt.index.progress import BuildProgress

    known = {item.name for item in fields(BuildProgress)}
    return BuildProgress(**{key: value for key, value in build.items() if key in known}).summary()


@contextlib.contextmanager
def build_progress_bar() -> Iterator[Callable[..., None]]:
    """One rich bar on stderr for a build, in codehunt's words: files read and units chunked, then units
    embedded of N with an ETA, then indexing and writing; plain lines when stderr is not a terminal.
    Yields the ``progress`` callback ``Index.build`` takes."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from codehunt.console import stderr_console
    from codehunt.progress_lines import STAGE_WORDS as words
    from codehunt.progress_lines import ProgressLines

    console = stderr_console()
    if not console.is_terminal:  # redirected: rich would draw nothing, so write plain lines instead
        yield ProgressLines()
        return
    columns = (TextColumn("{task.description:<15}"), BarColumn(bar_width=24), TextColumn("{task.fields[detail]}"),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(words["reading"], total=None, detail="")
        shown = ["reading"]

        def show(state) -> None:  # noqa: ANN001 - a BuildProgress
            if state.stage != shown[0]:
                shown[0] = state.stage
                bar.reset(task, total=None, description=words.get(state.stage, state.stage))
            if state.stage == "reading":
                bar.update(task, completed=state.files_read + state.files_reused,
                           detail=f"{state.files_read:,} files read, {state.files_reused:,} unchanged, "
                                  f"{state.units_chunked:,} units chunked")
            elif state.stage == "embedding":
                bar.update(task, total=state.units_to_embed or None, completed=state.units_embedded,
                           detail=f"{state.units_embedded:,} of {state.units_to_embed:,} units embedded")
            else:
                bar.update(task, detail="")

        yield show


@index_app.command("info")
@cli_errors
def index_info(path: Path = typer.Argument(..., help="Index directory.")) -> None:
    """Print an index's manifest: encoder, dimension, counts, source, files, and the search settings it uses."""
    from dataclasses import asdict

    from codehunt.index.manifest import IndexManifest
    from codehunt.index.ranking import SearchConfig

    manifest = IndexManifest.read(path)
    payload = manifest.to_json()
    payload["search"] = asdict(SearchConfig.from_json(manifest.config.get("search")))  # also for indexes built before it
    payload["dense"] = dense_summary(manifest)
    print(json.dumps(payload, indent=2))


def dense_summary(manifest) -> dict:  # noqa: ANN001 - IndexManifest
    """The dense index in words: the type built (what ``auto`` chose, and why) and its estimated memory."""
    from codehunt.index.dense import DenseConfig, memory_bytes

    config = DenseConfig(**manifest.config.get("dense", {}))
    chosen = manifest.index_type
    why = (f"auto: flat up to {config.auto_flat_max} vectors, {config.auto_large_type} above" if config.index_type == "auto"
           else "requested")
    estimate = memory_bytes(chosen, manifest.document_count, manifest.encoder.dimension, config)
    return {"index_type": chosen, "chosen_by": why, "vectors": manifest.document_count, "memory_bytes": estimate}


@index_app.command("verify")
@cli_errors
def index_verify(path: Path = typer.Argument(..., help="Index directory.")) -> None:
    """Check every file of an index against the sha256 recorded in its manifest (exit 1 on mismatch)."""
    from codehunt.index.errors import CorruptIndexError
    from codehunt.index.index import verify_checksums
    from codehunt.index.manifest import IndexManifest

    manifest = IndexManifest.read(path)
    problems = verify_checksums(path, manifest)
    if problems:
        raise CorruptIndexError(f"{len(problems)} corrupted file(s): {'; '.join(problems)}; rebuild the index")
    print(f"ok: {len(manifest.files)} files match their checksums")


@app.command("search")
@cli_errors
def search(
    query: str = typer.Argument(..., help="What you are looking for, in plain language or identifiers."),
    index_path: Path = typer.Option(..., "--index", "-i", help="Index directory made by `codehunt index build`."),
    k: int = typer.Option(10, "-k", help="Number of results."),
    mode: str = typer.Option("hybrid", "--mode", help="hybrid (dense + BM25, score fusion and code-search features; default), dense or bm25."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per hit (rank, score, doc_id, path, start_line, ...)."),
    rerank: Optional[Path] = typer.Option(None, "--rerank", help="Cross-encoder directory to rescore the top candidates."),
    rerank_depth: int = typer.Option(50, "--rerank-depth", help="How many candidates the reranker rescores."),
    rerank_fusion: Optional[float] = typer.Option(None, "--rerank-fusion", help="Weight of the first stage's order fused (RRF) with the reranker's; 0 = reranker order only (default: the combination stored in the reranker directory, else 0)."),
    level: str = typer.Option("function", "--level", help="function (one line per unit; default), file (one line per file, ranked from its units) or both."),
    fusion: Optional[str] = typer.Option(None, "--fusion", help="Hybrid fusion: minmax, zscore, rrf or auto (default: what the index recorded, minmax)."),
    dense_weight: Optional[float] = typer.Option(None, "--dense-weight", help="Weight of the dense side in hybrid fusion, 0..1 (default: recorded, 0.8)."),
    service: str = typer.Option("auto", "--service", help="auto (a `codehunt serve` of this index, found beside it, else in-process), off, or a service URL; same results either way."),
) -> None:
    """Search an index; prints hits like grep: path:line: qualname, then a short snippet.

    With --level file, one line per file: path, score, and the unit that ranked best in it.
    """
    require(bool(query.strip()), "the query is empty: say what you are looking for, e.g. 'parse an ISO date'")
    check_search_options(mode, rerank_depth, rerank_fusion, k)
    check_fusion_options(fusion, dense_weight)
    require(level in LEVELS, f"unknown --level {level!r}: choose one of {', '.join(LEVELS)}")
    require(service in ("auto", "off") or service.startswith(("http://", "https://")),
            f"unknown --service {service!r}: choose auto, off or a URL such as http://127.0.0.1:8765")
    from codehunt.serve.discovery import search_with_service  # standard library only

    depth = k if level == "function" else max(k, 100)
    answered = search_with_service(index_path, service, query, depth, mode, rerank, rerank_depth, rerank_fusion, fusion, dense_weight)
    if answered is not None:
        hits, aggregation = answered
    else:
        from codehunt.pipeline import search_index

        index, hits = search_index(index_path, query, k=depth, mode=mode, rerank=rerank, rerank_depth=rerank_depth,
                                   rerank_fusion=rerank_fusion, fusion=fusion, dense_weight=dense_weight)
        aggregation = index.search_config.file_aggregation
    if level in ("function", "both"):
        print_hits(hits[:k], as_json, "function" if level == "both" else None)
    if level in ("file", "both"):
        from codehunt.index.file_ranking import rank_files

        print_files(rank_files(hits, aggregation, k), as_json, "file" if level == "both" else None)


LEVELS = ("function", "file", "both")


def check_fusion_options(fusion: str | None, dense_weight: float | None) -> None:
    """``--fusion`` and ``--dense-weight``: a bad value is a usage error (exit code 2)."""
    from codehunt.index.fusion import FUSION_METHODS

    if fusion is not None:
        require(fusion in FUSION_METHODS, f"unknown --fusion {fusion!r}: choose one of {', '.join(FUSION_METHODS)}")
    if dense_weight is not None:
        require(0.0 <= dense_weight <= 1.0, f"--dense-weight must be between 0 and 1, got {dense_weight}")


def print_files(files: list, as_json: bool, level: str | None = None) -> None:  # noqa: ANN001 - list[FileHit]
    """One line per file: ``path  score  best unit at line N`` (or one JSON object per file)."""
    if level and not as_json:
        print("# files")
    for file in files:
        if as_json:
            print(json.dumps({**({"level": level} if level else {}), **file.to_json()}, ensure_ascii=False))
        else:
            print(f"{file.path}  {file.score:.3f}  {file.best.qualname} at line {file.best.start_line}")


def print_hits(hits: list, as_json: bool, level: str | None = None) -> None:  # noqa: ANN001 - list[Hit]
    if level and not as_json:
        print("# functions")
    for hit in hits:
        if as_json:
            print(json.dumps({**({"level": level} if level else {}), **hit.to_json()}, ensure_ascii=False))
        else:
            print(f"{hit.path}:{hit.start_line}: {hit.qualname}  ({hit.score:.3f})")
            for line in hit.snippet.split("\n"):
                print(f"    {line.strip()}")


class _DefaultToBeir(typer.core.TyperGroup):
    """`codehunt eval BEIR_DIR ...` runs `eval beir`; `codehunt eval localize ...` runs localization."""

    def parse_args(self, ctx, args):  # noqa: ANN001, ANN201 - click signature
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["beir", *args]
        return super().parse_args(ctx, args)


eval_app = typer.Typer(
    cls=lazy_group(_DefaultToBeir, localize="codehunt.cli_localize:eval_localize_app"),
    help="Measure retrieval quality: `codehunt eval BEIR_DIR --split dev` or `codehunt eval localize INSTANCES.jsonl`.",
    no_args_is_help=True,
)
app.add_typer(eval_app, name="eval")


@eval_app.command("beir")
@cli_errors
def eval_beir(
    folder: Path = typer.Argument(..., help="BEIR folder with corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv."),
    split: str = typer.Option("dev", "--split", help="Which qrels/SPLIT.tsv to score."),
    index_path: Optional[Path] = typer.Option(None, "--index", "-i", help="Index of the corpus to use (built there if missing; default: a cache under ~/.cache/codehunt)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Embedding model for a new index: 'default' (when omitted), a directory or a hub name."),
    mode: str = typer.Option("hybrid", "--mode", help="dense, bm25 or hybrid."),
    rerank: Optional[Path] = typer.Option(None, "--rerank", help="Cross-encoder directory that rescores the top candidates."),
    rerank_depth: int = typer.Option(50, "--rerank-depth", help="Candidates rescored per query."),
    rerank_fusion: Optional[float] = typer.Option(None, "--rerank-fusion", help="Weight of the first stage's order fused (RRF) with the reranker's; 0 = reranker order only (default: the combination stored in the reranker directory, else 0)."),
    run_path: Optional[Path] = typer.Option(None, "--run", help="Write the TREC run file (qid Q0 docid rank score tag) here."),
    per_query_path: Optional[Path] = typer.Option(None, "--per-query", help="Write per-query metrics (JSONL) here; default: next to --run."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of a table."),
) -> None:
    """Run every query of a BEIR split and print nDCG/MRR/Recall/MAP/P at 1..100 (MTEB names)."""
    require(bool(split.strip()), "--split is empty: name a qrels file, e.g. --split dev for qrels/dev.tsv")
    check_search_options(mode, rerank_depth, rerank_fusion)
    from codehunt.evaluate import evaluate_beir
    from codehunt.report import print_metrics, write_per_query
    from codehunt.index.trec import write_trec_run

    rescorer = None
    if rerank is not None:
        from codehunt.reranker.config import RerankConfig
        from codehunt.reranker.model import load_rescorer

        with options_checked():
            rerank_config = RerankConfig(first_stage_weight=rerank_fusion) if rerank_fusion is not None else None
        rescorer = load_rescorer(rerank, rerank_config, mode=mode)  # no --rerank-fusion: the directory's stored combination for this mode
    result = evaluate_beir(folder, split, index_path, model, mode, rescorer, rerank_depth, show_progress=True)
    tag = f"codehunt-{mode}" + ("-rerank" if rerank else "")
    if run_path is not None:
        write_trec_run(run_path, result.run, tag)
        per_query_path = per_query_path or run_path.with_suffix(".per_query.jsonl")
    if per_query_path is not None:
        write_per_query(per_query_path, result.report.per_query)
    summary = {"dataset": folder.name, "split": split, "mode": mode, "rerank": str(rerank) if rerank else None,
               "queries": len(result.report.per_query), "seconds": round(result.seconds, 2), **result.report.aggregate}
    print_metrics(summary, as_json)


@app.command("serve")
@cli_errors
def serve(
    index_paths: list[Path] = typer.Option(..., "--index", "-i", help="Index directory to serve (repeatable: -i A -i B; the first is the default)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on: loopback by default; any other needs --allow-remote."),
    port: int = typer.Option(8765, "--port", help="TCP port (0: a free one; the URL is printed on stderr and written beside each index)."),
    allow_remote: bool = typer.Option(False, "--allow-remote", help="Allow a --host that is not loopback (the service has no authentication: anyone who reaches it can search and update)."),
    watch: bool = typer.Option(False, "--watch", help="Re-index when files of the source tree change; queries are answered from the old index until the new one is published."),
    rerank: Optional[Path] = typer.Option(None, "--rerank", help="Cross-encoder directory loaded once, for requests with rerank=true (and `codehunt search --rerank` of the same directory)."),
    max_request_bytes: int = typer.Option(1 << 20, "--max-request-bytes", help="Largest request body accepted (413 above it)."),
    threads: int = typer.Option(0, "--threads", help="torch threads for reranking and re-indexing (0: torch's default); a query is always encoded on one thread, as in-process."),
) -> None:
    """Serve indexes over HTTP (JSON): search, localize, status, update, with the model loaded once.

    `codehunt search -i IDX` then uses the service (found through .IDX.serve.json beside the index) and
    prints exactly what it would print in-process.
    """
    from codehunt.serve.discovery import is_loopback

    require(0 <= port <= 65535, f"--port must be between 0 and 65535, got {port}")
    require(max_request_bytes >= 1024, f"--max-request-bytes must be at least 1024, got {max_request_bytes}")
    require(threads >= 0, f"--threads must be 0 (torch's default) or more, got {threads}")
    require(is_loopback(host) or allow_remote,
            f"--host {host} is not a loopback address: the service has no authentication; add --allow-remote to listen there anyway")
    from codehunt.serve.app import _require_extra, bind_socket, run_server, url_of
    from codehunt.serve.service import IndexService

    _require_extra()
    sock = bind_socket(host, port)  # before loading anything: a port in use fails at once
    try:
        set_torch_threads(threads)
        service = IndexService(list(index_paths), rerank=rerank)
        service.warm_up()
    except BaseException:
        sock.close()
        raise
    print(f"serving {', '.join(str(s.path) for s in service.indexes.values())} at {url_of(sock)} (Ctrl-C stops)", file=sys.stderr)
    run_server(service, sock, watch=watch, max_request_bytes=max_request_bytes)


@app.command("mcp")
@cli_errors
def mcp(
    index_path: Path = typer.Option(..., "--index", "-i", help="Index directory the tools search (its source tree is the root paths must stay in)."),
    watch: bool = typer.Option(False, "--watch", help="Re-index when files of the source tree change (as `serve --watch`)."),
    threads: int = typer.Option(0, "--threads", help="torch threads for re-indexing (0: torch's default); a query is always encoded on one thread."),
) -> None:
    """Model Context Protocol server on stdio for coding agents: search_code, localize_issue, read_code, index_status, reindex."""
    require(threads >= 0, f"--threads must be 0 (torch's default) or more, got {threads}")
    from codehunt.mcp_server import build_server
    from codehunt.serve.service import IndexService
    from codehunt.serve.watcher import Background

    set_torch_threads(threads)
    service = IndexService([index_path])
    server = build_server(service)
    service.warm_up()
    background = Background(service, watch=watch)
    background.start()
    try:
        server.run("stdio")
    finally:
        background.stop()


def set_torch_threads(threads: int) -> None:
    """``--threads N`` of the long-lived commands: torch's intra-op threads for the process (0 leaves torch's default)."""
    if threads > 0:
        import torch

        torch.set_num_threads(threads)
