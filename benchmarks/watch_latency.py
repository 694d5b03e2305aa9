"""How long `codehunt serve --watch` takes to make an edit searchable, on a real repository.

    flock /tmp/codehunt-heavy.lock python benchmarks/watch_latency.py [--repo /work/.mirror/pallets+flask/repo]
        [--file src/flask/helpers.py] [--edits 5]
    flock /tmp/codehunt-heavy.lock python benchmarks/watch_latency.py --index STDLIB.idx --file json/encoder.py

The repository's HEAD is written into a temporary directory (``git archive``) and indexed there (default model);
an ``IndexService`` holds it with the watcher of ``codehunt serve --watch`` (watchfiles, the same
``Background``), and the benchmark appends one new, uniquely named function to ``--file`` at a time and polls a
BM25 search for its name every 10 ms until it is the first hit: the time from the write to that moment is the
edit-to-searchable latency (file event, debounce, incremental update — only the edited file is read and only the
new unit embedded — publish, the service's checked swap). Queries keep being answered from the old index
meanwhile. It prints each edit's latency and the median next to the serve issue's target of 1 s.

``--index`` serves an existing index built from a directory instead (the standard library's takes tens of
minutes to build): ``--file`` is edited in the directory its manifest records and put back as it was at the
end (the index catches up at its next update). Each edit waits until the previous update has also been
written to disk, so a latency is that of an edit to an idle service; the seconds to the written index are
printed beside it.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROBE = '''

def codehunt_watch_probe_{n}(value):
    """Return value unchanged: probe {n} of the watch benchmark."""
    return value
'''


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path("/work/.mirror/pallets+flask/repo"), help="git repository (bare is fine)")
    parser.add_argument("--file", default="src/flask/helpers.py", help="file of the repository to append functions to")
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for one edit")
    parser.add_argument("--index", type=Path, help="serve this existing index (built from a directory) instead of building one")
    args = parser.parse_args()

    from codehunt.index.index import Index
    from codehunt.serve.service import IndexService
    from codehunt.serve.watcher import Background

    with tempfile.TemporaryDirectory(prefix="codehunt-watch-") as work:
        if args.index is not None:
            from codehunt.index.manifest import IndexManifest

            index_dir = args.index.resolve()
            source = Path(IndexManifest.read(index_dir).source["path"])
            service = IndexService([index_dir])
            label = f"{index_dir.name} ({source})"
        else:
            source, index_dir = Path(work) / "src", Path(work) / "src.idx"
            source.mkdir()
            git_dir = args.repo / ".git" if (args.repo / ".git").is_dir() else args.repo
            archive = subprocess.run(["git", f"--git-dir={git_dir}", "archive", "HEAD"], check=True, capture_output=True).stdout
            subprocess.run(["tar", "-x", "-C", str(source)], input=archive, check=True)
            started = time.perf_counter()
            index = Index.build(source, index_dir)
            print(f"indexed {args.repo} HEAD: {index.manifest.unit_count} units in {time.perf_counter() - started:.0f}s",
                  file=sys.stderr)
            service = IndexService([index_dir], encoder=index.encoder)
            label = str(args.repo)
        service.warm_up()
        background = Background(service, watch=True)
        background.start()
        time.sleep(1.0)  # the watcher is listening
        target = source / args.file
        original = target.read_bytes()
        latencies, written_after = [], []
        try:
            run = time.strftime("%H%M%S")  # probes of an earlier run may still be in an --index
            for n in range(args.edits):
                name = f"codehunt_watch_probe_{run}_{n}"
                with target.open("a", encoding="utf-8") as handle:
                    handle.write(PROBE.format(n=f"{run}_{n}"))
                written = time.perf_counter()
                while True:
                    hits = service.get().index.search(name, 1, "bm25")
                    if hits and hits[0].qualname == name:
                        break
                    if time.perf_counter() - written > args.timeout:
                        sys.exit(f"edit {n}: not searchable after {args.timeout:.0f}s")
                    time.sleep(0.01)
                latencies.append(time.perf_counter() - written)
                while service.get().updating:  # the same update, still writing the directory
                    time.sleep(0.01)
                written_after.append(time.perf_counter() - written)
                update = service.get().last_update
                print(f"edit {n}: searchable after {latencies[-1]:.2f}s (the update itself {update.get('seconds', 0):.2f}s), "
                      f"written after {written_after[-1]:.2f}s", file=sys.stderr)
                time.sleep(0.5)
        finally:
            background.stop()
            if args.index is not None:
                target.write_bytes(original)
        units = service.get().index.manifest.unit_count
    print(f"\n| index | units | edits | edit-to-searchable p50 s | max s | written to disk p50 s | target s |\n"
          f"|---|---:|---:|---:|---:|---:|---:|\n"
          f"| {label} | {units:,} | {len(latencies)} | {statistics.median(latencies):.2f} | "
          f"{max(latencies):.2f} | {statistics.median(written_after):.2f} | 1.0 |")


if __name__ == "__main__":
    main()
