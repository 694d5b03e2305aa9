"""Training pairs at scale from code a user can install: Python packages (installed or from PyPI) and Debian's
Ruby and Go packages.

    python benchmarks/package_pairs.py --work /tmp/codehunt-packages [--python numpy ...] [--pypi sqlalchemy ...]
        [--ruby ruby-thor ...] [--go golang-golang-x-net-dev ...]

1. Python, installed: every package named by ``--python`` that is installed beside codehunt (its ``site-packages``).
2. Python, from PyPI: every distribution named by ``--pypi``, downloaded once with ``pip download --no-deps`` into
   ``WORK/dists`` (a wheel where there is one, else the sdist) and unpacked into ``WORK/python/<name>-<version>``.
   A distribution that is installed beside codehunt is mined from ``site-packages`` instead (never twice), and one
   that ``training_exclusions.txt`` names is never downloaded. Both kinds of Python are mined for docstring pairs
   with web-style queries (``python <what it does>``, as CoSQA's are) whose positives keep their docstrings
   (CoSQA's code does; the retriever recipe measured it better on cosqa than without).
3. Ruby and Go: the Debian packages named by ``--ruby`` (the Ruby standard library is ``libruby3.1``) and ``--go``
   (``golang-*-dev`` packages ship their sources under ``/usr/share/gocode/src``; the Go standard library is
   ``golang-1.19-src``), downloaded once with ``apt-get download`` into ``WORK/debs`` and unpacked into
   ``WORK/ruby/<package>`` and ``WORK/go/<package>`` (Go's ``testdata`` folders, fixtures the go tool never
   builds, are left out), mined for leading-comment pairs with the comment's first sentence as the query
   (CodeSearchNet style).
4. Every source goes through ``codehunt mine pairs`` with the leakage rules of ``../shared/data/training_exclusions.txt``
   (excluded projects, also vendored inside another package, and copies of evaluation-corpus functions are dropped
   and counted) into ``WORK/parts/{py,rb,go}-<source>.jsonl``; then one pass over their concatenation
   (``WORK/pairs.raw.jsonl``) drops positives seen twice (vendored copies across packages), and any pair of a
   repository the localization dev instances of ``data/swebench`` use (:func:`localization_dev_names`: Lite's
   sqlfluff and pyvista are on PyPI though no exclusion names them). The default lists
   name no project the rules exclude (so no Debian package of spf13/cobra, gin, chi, nor ``ruby-json``: the rules
   exclude the name ``json``). Later runs reuse downloads and unpacked sources; a source that cannot be fetched is
   skipped with a note on stderr, one that holds nothing to mine is recorded as skipped in the report. Prints a
   JSON report: pairs and drop counts per source, raw pairs per source language, per origin and per file language
   (Python wheels also ship C, C++ and JavaScript), and the pairs left per file language after the dedupe. ``WORK/pairs.jsonl`` is the result, ready for ``codehunt mine filter`` and
   ``codehunt train retriever``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import time
import zipfile
from collections import Counter
from pathlib import Path

PYTHON = (
    "numpy", "scipy", "pandas", "torch", "transformers", "networkx", "datasets", "huggingface_hub",
    "accelerate", "jinja2", "pygments", "rich", "attr", "dateutil", "jsonschema", "markdown_it", "pyarrow",
    "ray", "setuptools", "pip", "cryptography", "fsspec", "yaml", "joblib", "psutil", "anyio", "h11",
    "httpcore", "idna", "packaging", "pathspec", "typer", "mcp", "safetensors", "narwhals", "filelock",
    "cloudpickle", "dill", "multiprocess", "sentence_transformers", "tokenizers", "google", "referencing",
    "msgpack", "shellingham", "markupsafe",
)
PYPI = (
    # web, networking, async
    "sqlalchemy", "alembic", "werkzeug", "tornado", "twisted", "celery", "kombu", "gunicorn", "falcon", "pyramid",
    "cherrypy", "scrapy", "gevent", "trio", "websockets", "sanic", "pyzmq", "paramiko", "botocore", "google-auth",
    "pymongo", "psycopg", "docker", "scapy", "pycryptodome",
    # text, documents, formats
    "docutils", "babel", "nltk", "gensim", "spacy", "pypdf", "python-docx", "openpyxl", "xlsxwriter", "reportlab",
    "faker", "sqlglot", "sqlfluff",
    # science, data, machine learning
    "statsmodels", "scikit-image", "pillow", "imageio", "zarr", "biopython", "shapely", "geopandas", "bokeh",
    "holoviews", "panel", "plotnine", "dask", "distributed", "polars", "ibis-framework", "numba", "jax", "flax",
    "optax", "dm-haiku", "keras", "tensorflow-probability", "pymc", "pytensor", "arviz", "pyomo", "cvxpy", "pint",
    "mpmath", "lightning", "torchmetrics", "timm", "diffusers", "peft", "gymnasium", "stable-baselines3", "mne",
    "nibabel", "nilearn", "trimesh", "pyvista", "ase", "cirq-core", "pennylane", "qiskit", "langchain-core",
    "streamlit", "gradio", "pyglet",
    # tools
    "ipython", "jupyter-client", "prompt-toolkit", "jedi", "black", "mypy", "libcst", "coverage", "hypothesis",
    "ansible-core", "salt", "boltons", "urllib3", "tqdm",
)
RUBY = (
    "libruby3.1", "rake", "ruby-thor", "ruby-i18n", "ruby-concurrent", "ruby-addressable", "ruby-mime-types",
    "ruby-tzinfo", "ruby-faraday", "ruby-builder", "ruby-public-suffix", "ruby-tilt", "ruby-rspec-core",
    "ruby-rspec-expectations", "ruby-rspec-mocks", "ruby-rspec-support", "ruby-nokogiri", "ruby-net-http-persistent",
    "ruby-coderay", "ruby-kramdown", "ruby-rouge", "ruby-redcarpet", "ruby-mocha", "ruby-minitest",
    "ruby-test-unit", "ruby-diff-lcs", "ruby-erubi", "ruby-excon", "ruby-gettext", "ruby-highline",
    "ruby-httpclient", "ruby-liquid", "ruby-mustache", "ruby-oj", "ruby-sass", "ruby-sequel", "ruby-slop",
    "ruby-zip", "ruby-simplecov", "ruby-haml", "ruby-grape", "ruby-hashie", "ruby-dry-core", "ruby-dry-types",
    "ruby-sidekiq", "rubocop", "ruby-rubocop-ast", "ruby-unparser", "puma", "unicorn", "ruby-nio4r",
    "ruby-eventmachine", "ruby-celluloid", "ruby-net-ssh", "ruby-net-sftp", "ruby-aws-sdk-core", "ruby-fog-aws",
    "ruby-google-protobuf", "ruby-octokit", "ruby-gitlab", "ruby-rugged", "jekyll", "yard", "ruby-asciidoctor",
    "ruby-asciidoctor-pdf", "ruby-commonmarker", "ruby-prawn", "ruby-pdf-reader", "ruby-spreadsheet", "ruby-mail",
    "ruby-mechanize", "ruby-rest-client", "ruby-httparty", "ruby-typhoeus", "ruby-ethon", "ruby-mustermann",
    "ruby-chunky-png", "ruby-pg", "ruby-bunny", "ruby-msgpack", "ruby-graphql", "ruby-devise", "ruby-ffi", "pry",
    "ruby-byebug", "ruby-capybara", "ruby-selenium-webdriver", "ruby-webmock", "ruby-vcr", "ruby-faker",
    "ruby-cucumber-core", "vagrant",
)
GO = (
    "golang-1.19-src",  # the standard library (its vendor/ folders are skipped as vendored)
    "golang-golang-x-net-dev", "golang-golang-x-sys-dev", "golang-golang-x-text-dev", "golang-golang-x-tools-dev",
    "golang-golang-x-crypto-dev", "golang-golang-x-oauth2-dev",
    "golang-golang-x-mod-dev", "golang-golang-x-exp-dev",
    "golang-golang-x-image-dev", "golang-google-protobuf-dev", "golang-google-grpc-dev",
    "golang-github-golang-mock-dev", "golang-github-stretchr-testify-dev", "golang-github-spf13-pflag-dev",
    "golang-github-spf13-viper-dev", "golang-github-spf13-afero-dev",
    "golang-github-sirupsen-logrus-dev", "golang-go.uber-zap-dev", "golang-github-rs-zerolog-dev",
    "golang-github-gorilla-mux-dev", "golang-github-gorilla-websocket-dev",
    "golang-github-labstack-echo-dev", "golang-github-valyala-fasthttp-dev", "golang-github-emicklei-go-restful-dev",
    "golang-github-google-go-cmp-dev",
    "golang-github-google-go-github-dev", "golang-github-google-gopacket-dev",
    "golang-github-prometheus-client-golang-dev", "golang-github-prometheus-common-dev",
    "golang-github-hashicorp-hcl-dev", "golang-github-hashicorp-hcl-v2-dev",
    "golang-github-hashicorp-raft-dev", "golang-github-hashicorp-memberlist-dev", "golang-github-hashicorp-serf-dev",
    "golang-github-hashicorp-go-plugin-dev", "golang-github-zclconf-go-cty-dev", "golang-github-urfave-cli-dev",
    "golang-github-mattn-go-sqlite3-dev", "golang-github-lib-pq-dev", "golang-github-go-sql-driver-mysql-dev",
    "golang-github-jmoiron-sqlx-dev", "golang-github-jackc-pgx-v4-dev", "golang-gopkg-yaml.v3-dev",
    "golang-github-burntsushi-toml-dev", "golang-github-pelletier-go-toml-dev", "golang-github-json-iterator-go-dev",
    "golang-github-mitchellh-mapstructure-dev", "golang-github-fsnotify-fsnotify-dev",
    "golang-github-ugorji-go-codec-dev", "golang-github-tinylib-msgp-dev", "golang-github-docker-docker-dev",
    "golang-github-containerd-containerd-dev", "golang-github-opencontainers-runc-dev",
    "golang-etcd-server-dev", "golang-github-dgraph-io-badger-dev",
    "golang-github-syndtr-goleveldb-dev", "golang-github-miekg-dns-dev", "golang-github-minio-minio-go-dev",
    "golang-github-klauspost-compress-dev", "golang-github-shopify-sarama-dev",
    "golang-github-nats-io-go-nats-dev",
    "golang-github-charmbracelet-bubbletea-dev", "golang-github-rivo-tview-dev", "golang-github-gdamore-tcell.v2-dev",
    "golang-github-go-kit-kit-dev", "golang-opentelemetry-otel-dev",
    "golang-github-go-git-go-git-dev", "golang-github-yuin-goldmark-dev",
    "golang-github-alecthomas-chroma-dev", "golang-github-russross-blackfriday-v2-dev",
    "golang-github-git-lfs-git-lfs-dev", "golang-github-vishvananda-netlink-dev", "golang-github-cilium-ebpf-dev",
    "golang-github-go-playground-validator-v10-dev", "golang-github-lucas-clemente-quic-go-dev",
    "golang-github-pion-webrtc.v3-dev", "golang-github-tdewolff-minify-dev", "golang-github-evanw-esbuild-dev",
    "golang-github-rclone-rclone-dev", "golang-github-xanzy-go-gitlab-dev",
    "golang-github-snapcore-snapd-dev", "golang-gvisor-gvisor-dev", "golang-github-syncthing-syncthing-dev",
    "golang-mongodb-mongo-driver-dev", "golang-github-cloudflare-circl-dev", "golang-github-influxdb-influxdb-dev",
    "golang-github-gophercloud-gophercloud-dev", "golang-gocloud-dev", "golang-github-nats-io-nats-server-dev",
    "golang-entgo-ent-dev", "golang-github-prometheus-alertmanager-dev",
    "golang-github-victoriametrics-victoriametrics-dev", "golang-github-containers-image-dev",
    "golang-github-containers-storage-dev", "golang-github-containers-common-dev", "golang-honnef-go-tools-dev",
    "golang-github-google-pprof-dev", "golang-github-smallstep-certificates-dev", "golang-github-cloudflare-cfssl-dev",
    "golang-github-go-openapi-spec-dev", "golang-github-google-certificate-transparency-dev",
    "golang-github-xenolf-lego-dev", "golang-github-crowdsecurity-crowdsec-dev", "golang-github-osrg-gobgp-dev",
    "golang-github-go-resty-resty-dev", "golang-github-denisenkom-go-mssqldb-dev", "golang-github-newrelic-go-agent-dev",
    "golang-github-andybalholm-brotli-dev", "golang-github-kubernetes-gengo-dev",
)
PREFIX = {"python": "py", "ruby": "rb", "go": "go"}
"""Each language's part-file prefix (``WORK/parts/go-<package>.jsonl``)."""
PYTHON_OPTIONS = ("--kind", "docstring", "--query-style", "web", "--keep-docstring")
DEBIAN_OPTIONS = ("--kind", "docstring")


def mine(source: Path, output: Path, exclusions: Path, *options: str) -> dict:
    """``codehunt mine pairs SOURCE`` (docstring pairs) with the leakage rules; its report line as counts."""
    command = [sys.executable, "-m", "codehunt", "mine", "pairs", str(source), "-o", str(output),
               "--exclusions", str(exclusions), *options]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return {"pairs": sum(1 for _ in output.open(encoding="utf-8")), "report": done.stderr.strip().splitlines()[-1]}


def prune_folders(root: Path, name: str) -> int:
    """Remove every folder called ``name`` below ``root``; how many went."""
    found = [path for path in root.rglob(name) if path.is_dir() and not path.is_symlink()]
    for path in sorted(found, key=lambda path: len(path.parts)):
        shutil.rmtree(path, ignore_errors=True)  # a nested one went with its parent
    return len(found)


def debian_sources(work: Path, language: str, packages: "list[str] | tuple[str, ...]",
                   prune: tuple[str, ...] = ()) -> dict[str, Path]:
    """Each Debian package unpacked under ``work/<language>/<package>`` (downloaded once into ``work/debs``),
    without the folders named in ``prune``."""
    debs, unpacked = work / "debs", work / language
    debs.mkdir(parents=True, exist_ok=True)
    unpacked.mkdir(parents=True, exist_ok=True)
    sources = {}
    for package in packages:
        target = unpacked / package
        if not target.is_dir():
            if not list(debs.glob(f"{package}_*.deb")):
                fetched = subprocess.run(["apt-get", "download", package], cwd=debs, capture_output=True, text=True, check=False)
                if fetched.returncode != 0 or not list(debs.glob(f"{package}_*.deb")):
                    print(f"  {package}: not downloadable here ({fetched.stderr.strip().splitlines()[-1:]}), skipped",
                          file=sys.stderr)
                    continue
            staging = target.with_name(target.name + ".partial")
            shutil.rmtree(staging, ignore_errors=True)  # left by a killed run
            subprocess.run(["dpkg-deb", "-x", str(next(debs.glob(f"{package}_*.deb"))), str(staging)], check=True)
            for name in prune:
                prune_folders(staging, name)
            staging.rename(target)  # a half-unpacked package is never taken for a whole one
        sources[package] = target
    return sources


def ruby_sources(work: Path, packages: "list[str] | tuple[str, ...]") -> dict[str, Path]:
    """Each Debian Ruby package unpacked under ``work/ruby/<package>``."""
    return debian_sources(work, "ruby", packages)


def go_sources(work: Path, packages: "list[str] | tuple[str, ...]") -> dict[str, Path]:
    """Each Debian Go package unpacked under ``work/go/<package>``, without its ``testdata`` folders."""
    return debian_sources(work, "go", packages, prune=("testdata",))


def distribution_name(filename: str) -> tuple[str, str] | None:
    """``(name, version)`` of a wheel or sdist file name (``SQLAlchemy-2.0.23-cp311-...whl``,
    ``python-dateutil-2.8.2.tar.gz``), None for any other file."""
    if filename.endswith(".whl"):
        parts = filename[: -len(".whl")].split("-")
        return (parts[0], parts[1]) if len(parts) >= 5 else None
    for suffix in (".tar.gz", ".tar.bz2", ".tgz", ".zip"):
        if filename.endswith(suffix):
            name, _, version = filename[: -len(suffix)].rpartition("-")
            return (name, version) if name and version else None
    return None


def unpack_distribution(archive: Path, target: Path) -> Path:
    """Unpack a wheel or an sdist into ``target`` atomically (a staging folder, then one rename). An sdist's single
    top folder (``name-version/``) becomes ``target`` itself; members that would land outside it are refused."""
    staging = target.with_name(target.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)  # left by a killed run
    staging.mkdir(parents=True)
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as handle:
            handle.extractall(staging)  # zipfile drops absolute paths and '..' from member names
    else:
        with tarfile.open(archive) as handle:
            handle.extractall(staging, filter="data")
    inner = list(staging.iterdir())
    root = inner[0] if not archive.name.endswith(".whl") and len(inner) == 1 and inner[0].is_dir() else staging
    root.rename(target)
    shutil.rmtree(staging, ignore_errors=True)
    return target


def downloaded(dists: Path, name: str) -> Path | None:
    """The newest wheel or sdist of distribution ``name`` in ``dists`` (names compared as PEP 503 does)."""
    from codehunt.mining.exclusions import normalise_name

    found = [path for path in dists.iterdir() if (parsed := distribution_name(path.name))
             and normalise_name(parsed[0]) == normalise_name(name)]
    return max(found, key=lambda path: path.stat().st_mtime) if found else None


def pypi_sources(work: Path, names: "list[str] | tuple[str, ...]") -> dict[str, Path]:
    """Each distribution downloaded once into ``work/dists`` and unpacked under ``work/python/<name>-<version>``;
    those that cannot be downloaded are skipped with a note on stderr."""
    from codehunt.mining.exclusions import normalise_name

    dists, unpacked = work / "dists", work / "python"
    dists.mkdir(parents=True, exist_ok=True)
    unpacked.mkdir(parents=True, exist_ok=True)
    sources = {}
    for name in names:
        archive = downloaded(dists, name)
        if archive is None:
            fetched = subprocess.run(
                [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":none:", "--disable-pip-version-check",
                 "--quiet", "-d", str(dists), name], capture_output=True, text=True, check=False)
            archive = downloaded(dists, name)
            if fetched.returncode != 0 or archive is None:
                print(f"  {name}: not downloadable here ({fetched.stderr.strip().splitlines()[-1:]}), skipped", file=sys.stderr)
                continue
        dist, version = distribution_name(archive.name) or (name, "0")
        target = unpacked / f"{normalise_name(dist)}-{version}"
        if not target.is_dir():
            try:
                unpack_distribution(archive, target)
            except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
                print(f"  {name}: {archive.name} does not unpack ({exc}), skipped", file=sys.stderr)
                continue
        sources[target.name] = target
    return sources


def installed_packages(name: str, site: Path) -> list[str] | None:
    """The import folders in ``site`` of distribution ``name`` if it is installed there, else None."""
    from importlib import metadata

    try:
        files = metadata.distribution(name).files or []
    except metadata.PackageNotFoundError:
        return None
    tops = {file.parts[0] for file in files if len(file.parts) > 1 and file.parts[0] != ".."}
    return sorted(top for top in tops if top.isidentifier() and top != "__pycache__" and (site / top).is_dir())


def localization_dev_names(data: Path) -> frozenset[str]:
    """Project names of the repositories the localization dev instances use (``data/swebench/*_dev.jsonl``).

    ``training_exclusions.txt`` names the evaluation's repositories, but not every one a dev split of
    ``../shared`` uses (SWE-bench Lite's sqlfluff and pyvista are on PyPI). Their code is what those instances
    are localized in, so none of it is mined either: a localizer judged on a repository must not have trained on
    its functions."""
    from codehunt.mining.exclusions import IMPORT_NAMES, normalise_name

    names: set[str] = set()
    for instances in sorted((data / "swebench").glob("*_dev.jsonl")):
        with instances.open(encoding="utf-8") as handle:
            names.update(normalise_name(json.loads(line)["repo"].rsplit("/", 1)[-1]) for line in handle if line.strip())
    # the package folder a repository ships: pvlib-python -> pvlib, scikit-learn -> sklearn
    aliases = {name.removesuffix("-python").removeprefix("python-") for name in names}
    aliases.update(normalise_name(alias) for name in names for alias in IMPORT_NAMES.get(name, ()))
    return frozenset(names | aliases)


def drop_projects(path: Path, names: frozenset[str]) -> Counter[str]:
    """Remove from a pair file (rewritten atomically) the pairs whose repository or a folder of whose path is one
    of ``names`` (the leakage rules' own matching, :meth:`Exclusions.pair_reason`); the drop reasons, counted."""
    from codehunt.index.storage import atomic_file
    from codehunt.mining.exclusions import Exclusions
    from codehunt.mining.records import Pair

    rules = Exclusions(repositories=frozenset(), names=names, corpora=(), source="the localization dev sets")
    dropped: Counter[str] = Counter()
    with path.open(encoding="utf-8") as lines, atomic_file(path) as kept:
        for line in lines:
            reason = rules.pair_reason(Pair.from_json(json.loads(line)))
            if reason is None:
                kept.write(line)
            else:
                dropped[reason] += 1
    return dropped


def concatenate(parts: "list[Path]", output: Path) -> None:
    """The part files one after the other in ``output`` (written atomically)."""
    staging = output.with_name(output.name + ".partial")
    with staging.open("w", encoding="utf-8") as handle:
        for part in parts:
            with part.open(encoding="utf-8") as lines:
                shutil.copyfileobj(lines, handle)
    staging.replace(output)


def pairs_per_language(path: Path) -> dict[str, int]:
    """Pairs of a pair file per language of their file, as the chunker names it (``other`` where it names none).
    Not always the source's language: Python wheels ship C and C++ headers and JavaScript, and those are mined too."""
    from codehunt.index.chunking import language_for_path

    counts: Counter[str] = Counter()
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            counts[language_for_path(json.loads(line)["path"]) or "other"] += 1
    return dict(sorted(counts.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=Path("/tmp/codehunt-packages"))
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("CODEHUNT_SHARED", Path(__file__).resolve().parents[2] / "shared")) / "data")
    parser.add_argument("--python", nargs="*", default=PYTHON, help="installed packages to mine (import names)")
    parser.add_argument("--pypi", nargs="*", default=PYPI, help="PyPI distributions to download and mine")
    parser.add_argument("--ruby", nargs="*", default=RUBY, help="Debian packages of Ruby code to mine")
    parser.add_argument("--go", nargs="*", default=GO, help="Debian packages of Go code to mine")
    args = parser.parse_args()
    started = time.perf_counter()
    exclusions = args.data / "training_exclusions.txt"
    if not exclusions.is_file():
        sys.exit(f"{exclusions} is missing: the leakage rules are required to mine training data")
    from codehunt.mining.exclusions import Exclusions, normalise_name

    held_out = localization_dev_names(args.data)
    excluded = Exclusions.read(exclusions).names | held_out
    parts = args.work / "parts"
    parts.mkdir(parents=True, exist_ok=True)
    site = Path(sysconfig.get_paths()["purelib"])
    installed, downloads = [name for name in args.python if normalise_name(name) not in held_out], []
    for name in args.pypi:
        if normalise_name(name) in excluded:
            why = "a localization dev repository" if normalise_name(name) in held_out else f"named by {exclusions}"
            print(f"  {name}: {why}, never mined", file=sys.stderr)
            continue
        packages = installed_packages(name, site)
        if not packages:
            downloads.append(name)
        else:  # installed beside codehunt: mined from site-packages, not downloaded as well
            installed += [package for package in packages if package not in installed]
    sources: list[tuple[str, str, str, Path, tuple[str, ...]]] = []  # (language, origin, name, folder, options)
    sources += [("python", "site-packages", package, site / package, PYTHON_OPTIONS)
                for package in installed if (site / package).is_dir()]
    sources += [("python", "pypi", name, folder, PYTHON_OPTIONS) for name, folder in pypi_sources(args.work, downloads).items()]
    sources += [("ruby", "debian", name, folder, DEBIAN_OPTIONS) for name, folder in ruby_sources(args.work, args.ruby).items()]
    sources += [("go", "debian", name, folder, DEBIAN_OPTIONS) for name, folder in go_sources(args.work, args.go).items()]
    report: dict[str, dict] = {}
    mined: list[Path] = []
    by_language: Counter[str] = Counter()
    by_origin: Counter[str] = Counter()
    for language, origin, name, folder, options in sources:
        part = parts / f"{PREFIX[language]}-{name}.jsonl"
        try:
            counts = mine(folder, part, exclusions, *options)
        except subprocess.CalledProcessError as exc:  # no source code in it, say: recorded, and the rest goes on
            reason = (exc.stderr or "").strip().splitlines()[-1:] or [f"exit status {exc.returncode}"]
            report[f"{language} {name}"] = {"origin": origin, "pairs": 0, "skipped": reason[0]}
            print(f"{language} {name}: skipped ({reason[0]})", file=sys.stderr)
            continue
        report[f"{language} {name}"] = {"origin": origin, **counts}
        mined.append(part)
        by_language[language] += counts["pairs"]
        by_origin[f"{language} {origin}"] += counts["pairs"]
        print(f"{language} {name}: {counts['pairs']} pairs", file=sys.stderr)
    raw = args.work / "pairs.raw.jsonl"
    concatenate(mined, raw)
    final = mine(raw, args.work / "pairs.jsonl", exclusions)  # across packages: duplicates (vendored copies) dropped
    final["dropped_localization_dev_projects"] = dict(drop_projects(args.work / "pairs.jsonl", held_out))
    final["pairs"] = sum(1 for _ in (args.work / "pairs.jsonl").open(encoding="utf-8"))
    print(json.dumps({
        "sources": report,
        "raw_pairs": {**dict(by_language), "total": sum(by_language.values())},
        "raw_pairs_by_origin": dict(by_origin),
        "raw_pairs_by_file_language": pairs_per_language(raw),
        "after_dedupe": {**final, "per_language": pairs_per_language(args.work / "pairs.jsonl")},
        "seconds": round(time.perf_counter() - started, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
