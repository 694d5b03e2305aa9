"""Load-time integrity: every file's size and CRC-32 recorded in the manifest, checked by ``Index.load``.

A same-size byte flip inside ``dense.faiss`` used to be served silently (only ``codehunt index verify``
noticed); now loading for search or serving refuses the index and names the file.
"""
from __future__ import annotations

import json
import logging
import shutil
import zlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codehunt.cli import app
from codehunt.index.errors import CorruptIndexError
from codehunt.index.index import Index
from codehunt.index.manifest import FAST_HASH, IndexManifest, check_fast_checksums, fast_checksum_file, fast_checksum_tree

CODE = '''
def parse_iso_date(text):
    """Parse an ISO 8601 date string into a datetime."""
    from datetime import datetime
    return datetime.strptime(text, "%Y-%m-%d")


def send_email(address, body):
    """Send an email message over SMTP."""
    import smtplib
    smtplib.SMTP("localhost").sendmail("me", [address], body)
'''


@pytest.fixture(scope="module")
def intact(tmp_path_factory, default_encoder) -> Path:
    root = tmp_path_factory.mktemp("src")
    (root / "util.py").write_text(CODE, encoding="utf-8")
    out = tmp_path_factory.mktemp("idx") / "idx"
    Index.build(root, out, encoder=default_encoder)
    return out


@pytest.fixture
def copy(intact, tmp_path) -> Path:
    target = tmp_path / "idx"
    shutil.copytree(intact, target)
    return target


def flip_byte(path: Path, offset: int | None = None) -> None:
    """Invert one byte in place (same size): the corruption a size check cannot see."""
    data = bytearray(path.read_bytes())
    position = len(data) // 2 if offset is None else offset
    data[position] ^= 0xFF
    path.write_bytes(bytes(data))


def test_fast_checksum_tree_covers_nested_files_and_skips_the_manifest(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a").write_bytes(b"hello")
    (tmp_path / "manifest.json").write_text("{}", encoding="utf-8")
    assert fast_checksum_tree(tmp_path) == {"sub/a": "5:3610a686"}


def test_fast_checksum_is_size_and_crc32(tmp_path):
    file = tmp_path / "f"
    file.write_bytes(b"hello")
    assert fast_checksum_file(file) == "5:3610a686"  # zlib.crc32(b"hello") == 0x3610A686, hand-checked
    big = tmp_path / "big"
    payload = bytes(range(256)) * 40_000  # 10 MB, read through a memory map
    big.write_bytes(payload)
    assert fast_checksum_file(big) == f"{len(payload)}:{zlib.crc32(payload):08x}"


def test_the_manifest_records_a_fast_checksum_for_every_file(intact):
    manifest = IndexManifest.read(intact)
    assert manifest.fast_hash == FAST_HASH == "crc32"
    assert set(manifest.fast_files) == set(manifest.files)  # every file sha256 covers, the fast hash covers too
    assert manifest.fast_files == {name: fast_checksum_file(intact / name) for name in manifest.files}
    assert "dense.faiss" in manifest.fast_files and "corpus.jsonl" in manifest.fast_files


@pytest.mark.parametrize("name", ["dense.faiss", "corpus.jsonl", "ids.json", "bm25/idf.npy"])
def test_a_same_size_byte_flip_is_refused_at_load_with_the_file_name(copy, name):
    target = copy / name
    if not target.is_file():
        pytest.skip(f"this index layout has no {name}")
    size = target.stat().st_size
    flip_byte(target)
    assert target.stat().st_size == size
    with pytest.raises(CorruptIndexError, match=rf"{name.replace('/', '.')} is corrupted \(checksum differs"):
        Index.load(copy)


def test_a_truncated_file_is_reported_as_a_size_change(copy):
    target = copy / "dense.faiss"
    target.write_bytes(target.read_bytes()[:-8])
    with pytest.raises(CorruptIndexError, match=r"dense.faiss is corrupted \(size differs"):
        Index.load(copy)


def test_a_missing_file_is_named(copy):
    (copy / "ids.json").unlink()
    with pytest.raises(CorruptIndexError, match=r"ids.json is missing"):
        Index.load(copy)


def test_verify_false_skips_the_check_and_sha256_verify_still_sees_it(copy):
    flip_byte(copy / "dense.faiss", offset=(copy / "dense.faiss").stat().st_size - 3)  # inside the last vector
    index = Index.load(copy, verify=False)
    assert any("dense.faiss: checksum mismatch" in problem for problem in index.verify())


def test_empty_file_checksum(tmp_path):
    (tmp_path / "empty").write_bytes(b"")
    assert fast_checksum_file(tmp_path / "empty") == "0:00000000"


def test_a_deferred_dense_index_is_checked_when_first_read(copy):
    flip_byte(copy / "dense.faiss")
    index = Index.load(copy, load_dense=False)  # a BM25-only open does not read dense.faiss
    assert index.search("parse a date", k=1, mode="bm25")[0].qualname == "parse_iso_date"
    with pytest.raises(CorruptIndexError, match=r"dense.faiss is corrupted \(checksum differs"):
        index.search("parse a date", k=1, mode="dense")


def test_a_deferred_dense_index_refuses_a_file_republished_after_open(copy, intact, tmp_path, default_encoder):
    index = Index.load(copy, load_dense=False, encoder=default_encoder)
    other = tmp_path / "src2"
    other.mkdir()
    (other / "m.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    rebuilt = tmp_path / "rebuilt"
    Index.build(other, rebuilt, encoder=default_encoder)
    shutil.copy(rebuilt / "dense.faiss", copy / "dense.faiss")  # another index's vectors where this one's were
    with pytest.raises(CorruptIndexError, match=r"dense.faiss is corrupted"):
        index.search("parse a date", k=1, mode="dense")


def test_deferred_and_eager_loads_answer_alike(intact):
    eager, lazy = Index.load(intact), Index.load(intact, load_dense=False)
    for mode in ("bm25", "hybrid", "dense"):
        assert lazy.search("send an email", k=2, mode=mode) == eager.search("send an email", k=2, mode=mode)


def test_an_intact_index_loads_and_searches(intact):
    index = Index.load(intact)
    assert index.search("parse a date", k=1, mode="bm25")[0].qualname == "parse_iso_date"


def test_an_old_manifest_without_fast_checksums_still_loads(copy, caplog):
    record = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    del record["fast_hash"], record["fast_files"]
    (copy / "manifest.json").write_text(json.dumps(record), encoding="utf-8")
    flip_byte(copy / "dense.faiss", offset=(copy / "dense.faiss").stat().st_size - 3)
    with caplog.at_level(logging.DEBUG, logger="codehunt.index.manifest"):
        index = Index.load(copy)  # nothing to check against: loads, says so at debug level
    assert index.manifest.fast_files == {}
    assert "records no fast checksums" in caplog.text


def test_an_unknown_fast_hash_kind_is_a_clear_error(copy):
    record = json.loads((copy / "manifest.json").read_text(encoding="utf-8"))
    record["fast_hash"] = "xxh128"
    (copy / "manifest.json").write_text(json.dumps(record), encoding="utf-8")
    with pytest.raises(CorruptIndexError, match=r"fast checksums of kind 'xxh128'.*rebuild the index"):
        check_fast_checksums(copy, IndexManifest.read(copy))


def test_cli_search_refuses_a_corrupted_index_in_one_line(copy):
    flip_byte(copy / "dense.faiss")
    result = CliRunner().invoke(app, ["search", "parse a date", "-i", str(copy), "--service", "off"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "dense.faiss is corrupted" in lines[0]
    assert result.stdout == ""


def test_serving_refuses_a_corrupted_index(copy, default_encoder):
    from codehunt.serve.service import IndexService

    flip_byte(copy / "dense.faiss")
    with pytest.raises(CorruptIndexError, match="dense.faiss is corrupted"):
        IndexService([copy], encoder=default_encoder)
