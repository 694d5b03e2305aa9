"""``codehunt mine teacher``: triples rescored by the mean cosine of real bi-encoders."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from codehunt.index.errors import BadInputError
from codehunt.mining.teacher import TeacherConfig, TeacherError, read_triples, rescore_triples

ROWS = [
    {"anchor": "parse an ISO date", "positive": "def parse_iso(text):\n    return datetime.fromisoformat(text)",
     "negative_1": "def send_mail(to, body):\n    smtp.send(to, body)", "negative_1_score": 0.9,
     "negative_2": "def read_csv(path):\n    return list(csv.reader(open(path)))", "positive_score": 0.1, "repo": "x"},
    {"anchor": "send an email", "positive": "def send_mail(to, body):\n    smtp.send(to, body)",
     "negative_1": "def parse_iso(text):\n    return datetime.fromisoformat(text)", "negative_2": None},
]


class Negated:
    """A real encoder whose document vectors point the other way: every query-document cosine changes sign."""

    def __init__(self, inner):
        self.inner = inner
        self.name, self.dimension = "negated", inner.dimension

    def fingerprint(self) -> str:
        return "negated-" + self.inner.fingerprint()

    def encode(self, texts, kind, show_progress=False):
        vectors = self.inner.encode(texts, kind, show_progress)
        return -vectors if kind == "document" else vectors


def write_rows(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_scores_are_the_model_cosines_and_other_fields_stay(default_encoder, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "triples.jsonl", ROWS)
    config = TeacherConfig(input=source, output=tmp_path / "out.jsonl")
    result = rescore_triples(config, encoders=[default_encoder])
    out = read_rows(result.output)
    assert result.rows == 2 and len(out) == 2
    from codehunt.index.encoder import SentenceTransformerEncoder

    # the teacher embeds its anchors as a batch, in torch; one query alone may go through ONNX Runtime (fp32)
    torch_only = SentenceTransformerEncoder(default_encoder.config, model=default_encoder.model, onnx_queries=False)
    for row, original in zip(out, ROWS):
        query = torch_only.encode([original["anchor"]], "query")[0]
        for column in ("positive", "negative_1"):
            code = default_encoder.encode([original[column]], "document")[0]
            assert row[f"{column}_score"] == pytest.approx(float(code @ query), abs=1e-5)
        assert {k: v for k, v in row.items() if not k.endswith("_score")} == {k: v for k, v in original.items() if not k.endswith("_score")}
    assert out[0]["negative_1_score"] != 0.9 and out[0]["positive_score"] != 0.1, "the miner's scores were replaced"
    assert "negative_2_score" not in out[1], "a missing negative gets no score"
    # the positive is the better match in both rows, so the model ranks it first in both
    assert result.agreement["default"] == 1.0
    report = json.loads(result.report.read_text(encoding="utf-8"))
    assert report["rows"] == 2 and report["models"][0]["dimension"] == default_encoder.dimension


def test_the_teacher_is_the_mean_over_models(default_encoder, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "triples.jsonl", ROWS)
    config = TeacherConfig(input=source, output=tmp_path / "out.jsonl", model=("default", "negated"))
    result = rescore_triples(config, encoders=[default_encoder, Negated(default_encoder)])
    scores = [row[c] for row in read_rows(result.output) for c in row if c.endswith("_score")]
    assert len(scores) == 5 and np.allclose(scores, 0.0, atol=1e-6), "a model and its negation average to zero"
    assert result.agreement["negated"] == 0.0 and result.agreement["default"] == 1.0


def test_bad_input_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(ROWS[0]) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(BadInputError, match=r"bad\.jsonl:2: not JSON"):
        read_triples(bad)
    no_negatives = write_rows(tmp_path / "pairs.jsonl", [{"anchor": "q", "positive": "def f(): pass"}])
    with pytest.raises(TeacherError, match="no negative_<i> columns"):
        rescore_triples(TeacherConfig(input=no_negatives, output=tmp_path / "out.jsonl"))
    assert not (tmp_path / "out.jsonl").exists()
    with pytest.raises(TeacherError, match="is the input"):
        TeacherConfig(input=bad, output=bad)
