"""Dev evaluation during training: scored every N steps, the best step published, carried through resume."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from codehunt.retriever.config import RetrieverConfigError
from codehunt.retriever.dev_eval import dev_ndcg, load_dev_sets
from codehunt.retriever.model import load_bi_encoder
from codehunt.training.checkpoint import read_tensors
from tests.retriever.conftest import stdlib_rows


@pytest.fixture(scope="module")
def dev_folder(tmp_path_factory) -> Path:
    """A BEIR dev split over real standard-library functions: each docstring line finds its function."""
    folder = tmp_path_factory.mktemp("dev") / "stdlib-dev"
    (folder / "qrels").mkdir(parents=True)
    rows = stdlib_rows()
    (folder / "corpus.jsonl").write_text("".join(json.dumps({"_id": r["id"], "text": r["code"]}) + "\n" for r in rows), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps({"_id": f"q{i}", "text": r["query"]}) + "\n"
                                                  for i, r in enumerate(rows)), encoding="utf-8")
    (folder / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(
        f"q{i}\t{r['id']}\t1\n" for i, r in enumerate(rows)), encoding="utf-8")
    return folder


def test_the_corpus_sample_keeps_every_judged_document(dev_folder: Path) -> None:
    (dev,) = load_dev_sets((str(dev_folder),), "dev", corpus_size=5, seed=0)
    judged = {doc for grades in dev.qrels.values() for doc in grades}
    assert set(dev.doc_ids) == judged and len(dev.doc_texts) == len(dev.doc_ids)  # judged ones even above the size


def test_dev_ndcg_scores_the_packaged_model_and_restores_training_mode(dev_folder: Path) -> None:
    model = load_bi_encoder("default", 128)
    model.train()
    sets = load_dev_sets((str(dev_folder),), "dev", 100, 0)
    scores = dev_ndcg(model, sets, {"query": "", "document": ""}, sub_batch=4)
    assert model.training
    assert 0.5 < scores["stdlib-dev"] <= 1.0  # docstring lines find their own functions among 18


def test_training_publishes_the_best_dev_step_and_resume_keeps_it(triples_file: Path, dev_folder: Path, make_config,
                                                                  tmp_path: Path) -> None:
    from codehunt.retriever.train import train_retriever

    options = dict(steps=4, dev=(str(dev_folder),), eval_every=2, checkpoint_every=2, lr=5e-4)
    straight = train_retriever(make_config(triples_file, tmp_path / "straight", **options))
    info = json.loads((straight / "codehunt_training.json").read_text(encoding="utf-8"))
    assert [record["step"] for record in info["dev_history"]] == [0, 2, 4]  # the starting model is scored too
    best = info["best_dev"]
    assert best["mean"] == max(record["mean"] for record in info["dev_history"])
    published = load_bi_encoder(str(straight), 64).state_dict()
    kept = read_tensors(tmp_path / "straight.checkpoints" / "step-00000004" / "best_model.safetensors")[0]
    assert kept.keys() == published.keys()
    assert all(torch.equal(published[k], kept[k]) for k in kept)  # the published model is the best step's

    resumed_root = tmp_path / "resumed.checkpoints"
    resumed_root.mkdir()
    shutil.copytree(tmp_path / "straight.checkpoints" / "step-00000002", resumed_root / "step-00000002")
    resumed = train_retriever(make_config(triples_file, tmp_path / "resumed", resume=True, **options))
    again = json.loads((resumed / "codehunt_training.json").read_text(encoding="utf-8"))
    assert again["dev_history"] == info["dev_history"] and again["best_dev"] == best


def test_eval_every_needs_a_dev_folder(triples_file: Path, make_config, tmp_path: Path) -> None:
    with pytest.raises(RetrieverConfigError, match="--eval-every needs"):
        make_config(triples_file, tmp_path / "m", eval_every=5)


def test_an_earlier_best_step_is_what_gets_published(triples_file: Path, dev_folder: Path, make_config, tmp_path: Path,
                                                     monkeypatch) -> None:
    """Scores that fall after step 2 (as longer runs did on cosqa): the step-2 weights are published, not the last."""
    import codehunt.retriever.train as train_module

    falling = iter([0.8, 0.9, 0.5])  # steps 0, 2, 4
    monkeypatch.setattr(train_module, "dev_ndcg", lambda *args, **kwargs: {"stdlib-dev": next(falling)})
    options = dict(steps=4, dev=(str(dev_folder),), eval_every=2, checkpoint_every=2, lr=5e-4)
    published = train_module.train_retriever(make_config(triples_file, tmp_path / "model", **options))
    info = json.loads((published / "codehunt_training.json").read_text(encoding="utf-8"))
    assert info["best_dev"]["step"] == 2 and [r["mean"] for r in info["dev_history"]] == [0.8, 0.9, 0.5]
    weights = load_bi_encoder(str(published), 64).state_dict()
    step2 = read_tensors(tmp_path / "model.checkpoints" / "step-00000002" / "model.safetensors")[0]
    step4 = read_tensors(tmp_path / "model.checkpoints" / "step-00000004" / "model.safetensors")[0]
    assert all(torch.equal(weights[k], step2[k]) for k in step2)
    assert not all(torch.equal(weights[k], step4[k]) for k in step4)  # the last step's weights were not published
    from codehunt.retriever.export import export_checkpoint

    best, step = export_checkpoint(tmp_path / "model.checkpoints", tmp_path / "best", best=True)
    exported = load_bi_encoder(str(best), 64).state_dict()
    assert step == 2 and all(torch.equal(exported[k], step2[k]) for k in step2), "--best exports the best step's weights"


def test_training_that_only_hurts_publishes_the_starting_model(triples_file: Path, dev_folder: Path, make_config,
                                                               tmp_path: Path, monkeypatch) -> None:
    import codehunt.retriever.train as train_module

    falling = iter([0.9, 0.5])  # steps 0 and 2
    monkeypatch.setattr(train_module, "dev_ndcg", lambda *args, **kwargs: {"stdlib-dev": next(falling)})
    published = train_module.train_retriever(make_config(triples_file, tmp_path / "model", steps=2, dev=(str(dev_folder),),
                                                         eval_every=2, lr=5e-4))
    start = load_bi_encoder("default", 64).state_dict()
    weights = load_bi_encoder(str(published), 64).state_dict()
    assert all(torch.equal(weights[k], start[k]) for k in start)
