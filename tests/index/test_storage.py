"""The one atomic writer: a failed write leaves the old file as it was and no temp file behind."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codehunt.index.storage import atomic_file, save_npy_atomic, write_json_atomic, write_jsonl_atomic, write_text_atomic


def test_writers_publish_complete_files(tmp_path: Path) -> None:
    write_text_atomic(tmp_path / "deep" / "a.txt", "héllo\nworld\n", fsync=True)
    write_json_atomic(tmp_path / "b.json", {"z": 1, "a": [1, 2]})
    count = write_jsonl_atomic(tmp_path / "c.jsonl", iter([{"q": "ä"}, {"q": "b"}]))
    save_npy_atomic(tmp_path / "d.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    assert (tmp_path / "deep" / "a.txt").read_bytes() == "héllo\nworld\n".encode("utf-8")
    assert (tmp_path / "b.json").read_text(encoding="utf-8") == '{\n  "a": [\n    1,\n    2\n  ],\n  "z": 1\n}\n'
    assert count == 2 and (tmp_path / "c.jsonl").read_text(encoding="utf-8") == '{"q": "ä"}\n{"q": "b"}\n'
    assert np.load(tmp_path / "d.npy", allow_pickle=False).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert sorted(p.name for p in tmp_path.rglob(".*")) == []  # no temp file left


def test_a_failed_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "rows.jsonl"
    write_jsonl_atomic(target, [{"old": True}])

    def rows():
        yield {"new": 1}
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        write_jsonl_atomic(target, rows())
    assert [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()] == [{"old": True}]
    with pytest.raises(KeyboardInterrupt):
        with atomic_file(target, "wb") as handle:
            handle.write(b"partial")
            raise KeyboardInterrupt
    assert target.read_text(encoding="utf-8") == '{"old": true}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]
