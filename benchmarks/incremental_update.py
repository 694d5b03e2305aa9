"""Incremental ``codehunt index update`` vs a full build, on real code, every step in a new process.

    flock /tmp/codehunt-heavy.lock python benchmarks/incremental_update.py [--workdir /tmp/codehunt-incremental]
        [--skip-stdlib] [--quickstart] [--reuse-build] [--repo /work/.mirror/fastapi+fastapi/repo] [--commits 10]

1. Directory: a copy of the installed Python standard library (``site-packages`` and ``__pycache__`` left
   out; tests included, as in ``benchmarks/build_speed.py``) is indexed by ``codehunt index build`` in a child
   process (the full build), then ``codehunt index update`` runs in a new process three times: with nothing
   changed, after one function was appended to one module (``json/encoder.py``), and after that module was
   changed back (its old texts are still in the store: nothing to embed). The floor of any update is a
   process that imports sentence-transformers and loads the model, timed on its own. ``--quickstart``
   copies and indexes the standard library as the README's Quickstart does instead (the whole
   ``lib/python3.X``, its ``site-packages`` too, with the Quickstart's ``--exclude`` globs: 19.5k units).
2. Git: a repository is indexed at the N+1-th last commit that changed Python files (first parent), then
   moved commit by commit through the next N with ``update_index(rev=...)``, in process with one loaded
   model so the seconds show what each step itself costs; the files each step changed, the files read
   and the units embedded are printed beside them.

Prints markdown tables; ``--json`` also writes the figures.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

APPENDED = '''

def _bench_is_json_scalar_{run}(value):
    """True when value encodes as a JSON scalar: a string, a number, a boolean or null."""
    return value is None or isinstance(value, (str, int, float, bool))
'''
"""Appended to one module; ``{run}`` makes its text new to the embedding store on every run."""


def edit(path: Path, text: str) -> None:
    """Write ``text`` with an mtime a minute back: an edit made a while before ``index update`` runs."""
    path.write_text(text, encoding="utf-8")
    then = time.time() - 60
    os.utime(path, (then, then))


ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
"""The child processes' environment: a user's Python caches compiled modules, so these do too (with
PYTHONDONTWRITEBYTECODE, set in some sandboxes, every start recompiles codehunt's modules)."""

QUICKSTART_EXCLUDES = ("test/*", "*/tests/*", "idlelib/*")
"""The Quickstart's ``--exclude`` globs (README): its index holds 19,512 units of the installed standard library."""


def codehunt(*args: str) -> float:
    """Wall seconds of one ``codehunt`` process (stdout and stderr kept quiet)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "codehunt", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=ENV)
    return time.perf_counter() - started


def build_record(index: Path) -> dict:
    manifest = json.loads((index / "manifest.json").read_text(encoding="utf-8"))
    return {**manifest["build"], "chunks": manifest["document_count"]}


def row(step: str, seconds: float, build: dict) -> str:
    return (f"| {step} | {seconds:.1f} | {build['files_read']:,} | {build['files_reused']:,} | {build['units_chunked']:,} "
            f"| {build['units_embedded']:,} | {build['chunks']:,} |")


HEADER = ("| step | wall s | files read | files unchanged | units chunked | texts embedded | chunks in index |\n"
          "|---|---|---|---|---|---|---|")


def stdlib_benchmark(workdir: Path, reuse_build: bool, quickstart: bool = False) -> dict:
    """``quickstart``: the index the README's Quickstart builds (the whole ``lib/python3.X`` directory, its
    site-packages too, with the Quickstart's excludes); otherwise the stdlib with its tests, site-packages left out."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    name = "stdlib-quickstart" if quickstart else "stdlib"
    copy, index = workdir / name, workdir / f"{name}.idx"
    results: dict = {}
    if not (reuse_build and (index / "manifest.json").is_file()):
        shutil.rmtree(copy, ignore_errors=True)
        shutil.rmtree(index, ignore_errors=True)
        ignore = None if quickstart else shutil.ignore_patterns("site-packages", "__pycache__", "*.pyc")
        shutil.copytree(stdlib, copy, symlinks=True, ignore=ignore)
        print(f"full build of {copy} ...", file=sys.stderr)
        excludes = [flag for glob in QUICKSTART_EXCLUDES for flag in ("--exclude", glob)] if quickstart else []
        results["full build"] = (codehunt("index", "build", str(copy), *excludes, "-o", str(index)), build_record(index))
    module = copy / "json" / "encoder.py"
    original = module.read_text(encoding="utf-8").split("\n\ndef _bench_is_json_scalar_")[0]  # an earlier run's edit
    edit(module, original)
    codehunt("index", "update", str(index))  # settle: the copy now matches the index
    floor = time.perf_counter()
    subprocess.run([sys.executable, "-c", "from codehunt.index.encoder import SentenceTransformerEncoder as E; E().fingerprint()"],
                   check=True, capture_output=True, env=ENV)
    results["floor: a process that loads the model"] = (time.perf_counter() - floor, None)
    results["update, nothing changed"] = (codehunt("index", "update", str(index)), build_record(index))
    edit(module, original + APPENDED.format(run=time.time_ns()))
    results["update, one function appended to json/encoder.py"] = (codehunt("index", "update", str(index)), build_record(index))
    edit(module, original)
    results["update, the change undone"] = (codehunt("index", "update", str(index)), build_record(index))
    results.update(through_service(index, module, original))
    kind = "the Quickstart's index" if quickstart else "tests included, site-packages left out"
    print(f"\n### Standard library copy ({copy}; {kind}), every step a new `codehunt` process\n\n{HEADER}")
    for step, (seconds, build) in results.items():
        print(row(step, seconds, build) if build else f"| {step} | {seconds:.1f} | | | | | |")
    return {step: {"seconds": seconds, **(build or {})} for step, (seconds, build) in results.items()}


def through_service(index: Path, module: Path, original: str) -> dict:
    """The same edit with a `codehunt serve -i INDEX` running: `codehunt index update` hands it to the service,
    which updates from memory (each step still a new `codehunt index update` process)."""
    from codehunt.serve.discovery import find_service

    server = subprocess.Popen([sys.executable, "-m", "codehunt", "serve", "-i", str(index), "--port", "0"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV)
    results: dict = {}
    try:
        deadline = time.monotonic() + 300
        while (find_service(index) is None or find_service(index).pid != server.pid) and time.monotonic() < deadline:
            if server.poll() is not None:
                raise SystemExit(f"codehunt serve exited {server.returncode}")
            time.sleep(0.2)
        edit(module, original + APPENDED.format(run=time.time_ns()))
        results["through a running serve: one function appended"] = (codehunt("index", "update", str(index)), build_record(index))
        edit(module, original)
        results["through a running serve: the change undone"] = (codehunt("index", "update", str(index)), build_record(index))
    finally:
        server.terminate()
        server.wait(60)
    return results


def git_benchmark(workdir: Path, repo: Path, commits: int) -> dict:
    from codehunt.index.encoder import SentenceTransformerEncoder
    from codehunt.index.git import git
    from codehunt.index.incremental import update_index
    from codehunt.index.index import Index

    # The last commits that changed Python files (others change nothing an index reads), oldest first.
    revs = git(["rev-list", "--first-parent", f"-{commits + 1}", "HEAD", "--", "*.py"], repo).decode().split()[::-1]
    index = workdir / f"{repo.parent.name if repo.name == 'repo' else repo.name}.idx"
    shutil.rmtree(index, ignore_errors=True)
    encoder = SentenceTransformerEncoder()
    encoder.fingerprint()
    started = time.perf_counter()
    Index.build(repo, index, rev=revs[0], encoder=encoder)
    full = time.perf_counter() - started
    print(f"\n### {repo} at {revs[0][:10]}, then commit by commit to {revs[-1][:10]} (in process, model loaded once)\n")
    print("| commit | files changed | wall s | files read | files unchanged | texts embedded | chunks |\n|---|---|---|---|---|---|---|")
    build = build_record(index)
    print(f"| {revs[0][:10]} (full build) | - | {full:.1f} | {build['files_read']:,} | 0 | {build['units_embedded']:,} | {build['chunks']:,} |")
    steps = []
    for before, rev in zip(revs, revs[1:]):
        changed = len(git(["diff", "--name-only", "-z", before, rev], repo).decode().strip("\0").split("\0"))
        started = time.perf_counter()
        update_index(index, rev=rev, encoder=encoder)
        seconds = time.perf_counter() - started
        build = build_record(index)
        steps.append({"commit": rev, "files_changed": changed, "seconds": seconds, **build})
        print(f"| {rev[:10]} | {changed} | {seconds:.2f} | {build['files_read']:,} | {build['files_reused']:,} "
              f"| {build['units_embedded']:,} | {build['chunks']:,} |")
    return {"full_build_seconds": full, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/codehunt-incremental"))
    parser.add_argument("--skip-stdlib", action="store_true", help="only the git benchmark")
    parser.add_argument("--quickstart", action="store_true",
                        help="the stdlib as the Quickstart indexes it (site-packages in, its excludes) instead of with tests")
    parser.add_argument("--reuse-build", action="store_true", help="keep an earlier full build of the stdlib copy")
    parser.add_argument("--repo", type=Path, default=Path("/work/.mirror/fastapi+fastapi/repo"), help="git repository (bare is fine)")
    parser.add_argument("--commits", type=int, default=10, help="commits to step through (0: skip the git benchmark)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    figures: dict = {}
    if not args.skip_stdlib:
        figures["stdlib"] = stdlib_benchmark(args.workdir, args.reuse_build, args.quickstart)
    if args.commits and args.repo.exists():
        figures["git"] = git_benchmark(args.workdir, args.repo, args.commits)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
