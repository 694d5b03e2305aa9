"""``train_reranker``: fine-tune a cross-encoder on groups of 1 positive + n negatives.

The model reads ``[CLS] query [SEP] code [SEP]`` and emits one logit; it starts from the
packaged all-MiniLM-L6-v2 (a bi-encoder, so the classification head is new) or any local or
hub checkpoint. Each micro-batch holds ``batch_size`` groups per process (``reranker.data``);
all their pairs go through the model in one forward pass and the loss (``reranker.loss``)
compares each positive with its own group: listwise softmax cross-entropy (default) or
pointwise BCE, plus an optional distillation term towards the mined bi-encoder scores
(listwise KL or Margin-MSE).

AdamW with linear warm-up and decay, gradient accumulation, clipping, bf16 autocast where the
device has fast bf16, data parallelism through accelerate (each process takes its slice of the
global micro-batch; DDP averages the gradients): the training base in ``training/``, shared with
the retriever. Checkpoints (``training.checkpoint``: safetensors + JSON, published atomically)
restore weights, optimizer, scheduler and every RNG, and the data position is a pure function
of the step (``training.sampler.BatchOrder``), so N steps + resume + N steps equals 2N straight
steps. The published model is a plain sentence-transformers ``CrossEncoder`` directory: with ``--dev``, the
step whose reranked dev candidates scored best (``reranker.dev_eval``; the starting model competes too).
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from codehunt.index.precision import wants_bf16
from codehunt.reranker.config import RerankerConfigError, RerankerTrainConfig
from codehunt.reranker.data import Group, load_triples
from codehunt.reranker.dev_eval import load_rerank_dev_sets, rerank_ndcg
from codehunt.reranker.model import TRAINING_INFO, load_cross_encoder, pad_batch, tokenize_pairs
from codehunt.training.checkpoint import dumps_json, find_resume_checkpoint, read_tensors, write_tensors
from codehunt.training.loop import RngState, restore_run_state, run_steps, run_summary, save_run_checkpoint
from codehunt.training.rng import (
    capture_host_rng_state, capture_torch_rng_state, read_rng_state, restore_host_rng_state, restore_torch_rng_state,
)
from codehunt.training.run_setup import (
    bf16_autocast, clip_and_step, count_total_steps, make_accelerator, make_optimizer, prepare_run_directories,
)
from codehunt.training.length_groups import in_input_order, length_groups
from codehunt.training.sampler import BatchOrder

if TYPE_CHECKING:
    import numpy as np
    import torch

log = logging.getLogger(__name__)

CHECKPOINT_KIND = "reranker"
"""``kind`` in a reranker checkpoint's ``state.json``: ``--resume`` refuses any other checkpoint."""


def train_reranker(config: RerankerTrainConfig, show_progress: bool = False) -> Path:
    """Train per ``config`` and publish the model at ``config.output_dir``; returns that path."""
    return RerankerTrainingRun(config).train(show_progress)


def group_tensors(groups: Sequence[Group], device: "torch.device | str" = "cpu") -> tuple["torch.Tensor", "torch.Tensor"]:
    """(mask, teacher), both (groups, max group length): True / the teacher score where a text exists, NaN if unscored."""
    import torch

    width = max(len(g) for g in groups)
    mask = torch.zeros(len(groups), width, dtype=torch.bool)
    teacher = torch.full((len(groups), width), float("nan"))
    for row, group in enumerate(groups):
        mask[row, : len(group)] = True
        for column, score in enumerate(group.teacher):
            if score is not None:
                teacher[row, column] = float(score)
    return mask.to(device), teacher.to(device)


class RerankerTrainingRun:
    """One training process: model, optimizer, scheduler, RNGs and the step it is at."""

    def __init__(self, config: RerankerTrainConfig):
        import torch

        from codehunt.reranker.loss import make_distillation_loss, make_loss

        self.config = c = config
        self.accelerator = acc = make_accelerator(c.device)
        self.rank, self.world = acc.process_index, acc.num_processes
        prepare_run_directories(acc, c, RerankerConfigError)
        resume_from = self.find_checkpoint() if c.resume else None  # fail before the slow model load
        with acc.main_process_first():
            self.data = load_triples(c.data, c.cache_dir)
        self.order = BatchOrder(len(self.data), c.batch_size, self.world, c.seed)

        self.model = load_cross_encoder(c.base, max_length=c.max_length, device=str(acc.device), seed=c.seed)
        self.model.max_seq_length = c.max_length
        self.model.train()
        torch.manual_seed(c.seed + self.rank)  # dropout
        self.loss_fn = make_loss(c.loss)
        self.distill_fn = make_distillation_loss(c.distill_loss, c.distill_temperature) if c.distill_weight > 0 else None

        self.total_steps = count_total_steps(c.steps, c.epochs, self.order.per_epoch, c.grad_accum)
        self.optimizer, self.scheduler = make_optimizer(
            self.model.parameters(), c.lr, c.weight_decay, self.total_steps, c.warmup_ratio)
        self.forward = acc.prepare_model(self.model)
        self.bf16 = wants_bf16(c.precision, acc.device)
        self.step, self.history = 0, []
        self.seconds, self.pairs_seen = 0.0, 0
        self.dev_sets = (load_rerank_dev_sets(c.dev, c.dev_split, c.dev_corpus_size, c.dev_queries, c.dev_depth, c.seed)
                         if c.dev and acc.is_main_process else [])
        self.dev_history: list[dict[str, float]] = []
        self.best: dict[str, Any] | None = None  # {"step", "mean", "scores"} of the best dev evaluation so far
        self.best_weights: dict[str, "torch.Tensor"] | None = None
        if resume_from is not None:
            self.load_checkpoint(*resume_from)

    # -- set-up ---------------------------------------------------------------------------
    def groups(self, micro_index: int) -> list[Group]:
        """This process's groups of global micro-batch ``micro_index``."""
        c = self.config
        epoch = micro_index // self.order.per_epoch
        return [self.data.group(int(row), c.group_size, c.random_negative_ratio, c.seed, epoch)
                for row in self.order.rows(micro_index, self.rank)]

    # -- one micro-batch ------------------------------------------------------------------
    def micro_step(self, groups: list[Group], sync: bool) -> dict[str, float]:
        import torch

        c, device = self.config, self.accelerator.device
        mask, teacher = group_tensors(groups, device)  # (groups, width)
        queries = [g.query for g in groups for _ in g.texts]
        texts = [text for g in groups for text in g.texts]
        encoded = tokenize_pairs(self.model.tokenizer, queries, texts, c.max_length, c.max_query_length)
        context = contextlib.nullcontext() if sync else self.accelerator.no_sync(self.forward)
        with context:
            with bf16_autocast(device, self.bf16):
                scores = self.scores(encoded)  # (pairs,)
            logits = torch.zeros(mask.shape, device=device).masked_scatter(mask, scores.float())  # (groups, width)
            loss = self.loss_fn(logits, mask)
            stats = {"loss": loss.item()}
            if self.distill_fn is not None:
                distill = self.distill_fn(logits, teacher, mask)
                loss = loss + c.distill_weight * distill
                stats["distill"] = distill.item()
            (loss / c.grad_accum).backward()
        return stats

    def scores(self, encoded: dict[str, list[list[int]]], module: "torch.nn.Module | None" = None) -> "torch.Tensor":
        """Logits (pairs,) of every tokenized pair, with gradients, ``sub_batch`` pairs of similar length at a time.

        Pairs are sorted by token count and each group is padded only to its own longest, as the
        retriever's ``embed`` does (``retriever.model``): the same logits as one padded pass (the
        attention mask hides padding), for less work when code lengths are skewed. ``module``: what to call
        (default: the distributed wrapper; the dev evaluation passes the bare model, as only one process runs it).
        """
        device = self.accelerator.device
        forward = module if module is not None else self.forward
        groups = length_groups([len(ids) for ids in encoded["input_ids"]], self.config.sub_batch)
        parts = [forward({k: v.to(device) for k, v in pad_batch(self.model.tokenizer, encoded, rows).items()})["scores"].reshape(-1)
                 for rows in groups]
        return in_input_order(parts, groups)

    def micro_batches(self) -> tuple[list[dict[str, float]], int]:
        """The ``grad_accum`` micro-batches of step ``self.step`` (gradients synchronised on the last): stats, pairs."""
        c = self.config
        pairs, stats = 0, []
        for a in range(c.grad_accum):
            groups = self.groups(self.step * c.grad_accum + a)
            pairs += sum(len(g) for g in groups)
            stats.append(self.micro_step(groups, sync=a == c.grad_accum - 1))
        return stats, pairs

    def optimizer_step(self) -> None:
        clip_and_step(self.optimizer, self.scheduler, self.config.max_grad_norm, self.model.parameters())

    # -- the loop -------------------------------------------------------------------------
    def train(self, show_progress: bool = False) -> Path:
        if self.dev_sets and self.step == 0 and not self.dev_history:
            self.evaluate_dev(force=True)  # step 0: the starting model competes too, so training never publishes worse
        run_steps(self, "train reranker", show_progress, checkpoint_at_end=True, after_step=self.evaluate_dev)
        if self.accelerator.is_main_process:
            if self.dev_sets and (not self.dev_history or self.dev_history[-1]["step"] != self.step):
                self.evaluate_dev(force=True)
            if self.best_weights is not None and self.best is not None and self.best["step"] != self.step:
                self.model.load_state_dict(self.best_weights)  # publish the best step, not the last
            self.publish(Path(self.config.output_dir))
        self.accelerator.wait_for_everyone()
        return Path(self.config.output_dir)

    def evaluate_dev(self, force: bool = False) -> None:
        """Every ``eval_every`` steps (or when ``force``d): the reranked dev candidates' nDCG@10, and a copy of the
        weights when best so far. Only the main process evaluates; with data parallelism its weights are everyone's."""
        import torch

        c = self.config
        if not self.dev_sets or not (force or (c.eval_every and self.step % c.eval_every == 0)):
            return
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                scores = rerank_ndcg(self.dev_scores, self.dev_sets)
        finally:
            self.model.train(was_training)
        mean = sum(scores.values()) / len(scores)
        self.dev_history.append({"step": self.step, **scores, "mean": mean})
        if self.best is None or mean > self.best["mean"]:
            self.best = {"step": self.step, "mean": mean, "scores": scores}
            self.best_weights = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        first = {dev.name: round(dev.first_stage_ndcg, 4) for dev in self.dev_sets}
        log.info("step %d dev nDCG@10 of the reranked BM25 top %d: %s (mean %.4f; BM25 alone %s; best: step %d)",
                 self.step, c.dev_depth, {k: round(v, 4) for k, v in scores.items()}, mean, first, self.best["step"])

    def dev_scores(self, queries: Sequence[str], texts: Sequence[str]) -> "np.ndarray":
        """Logits of (query, text) pairs with the weights being trained, in chunks (called without gradients)."""
        import numpy as np

        c, chunk = self.config, 256
        values = []
        for start in range(0, len(queries), chunk):
            encoded = tokenize_pairs(self.model.tokenizer, queries[start:start + chunk], texts[start:start + chunk],
                                     c.max_length, c.max_query_length)
            with bf16_autocast(self.accelerator.device, self.bf16):
                values.append(self.scores(encoded, self.model).float().cpu().numpy())  # no DDP collectives on one rank
        return np.concatenate(values) if values else np.zeros(0, dtype=np.float32)

    def record_extras(self, last: dict[str, float]) -> dict[str, float]:
        """The last micro-batch's distillation term, when there is one."""
        return {"distill": last["distill"]} if "distill" in last else {}

    def publish(self, output_dir: Path) -> Path:
        """Save through sentence-transformers into a staging dir, then rename it into place."""
        from codehunt.index.storage import staging_directory

        with staging_directory(output_dir) as staging:
            self.model.save(str(staging), create_model_card=False)
            (staging / TRAINING_INFO).write_text(dumps_json(self.summary()) + "\n", encoding="utf-8")
        return output_dir

    def summary(self) -> dict[str, Any]:
        first_stage = {dev.name: dev.first_stage_ndcg for dev in self.dev_sets}
        return {**run_summary(self), "kind": "cross-encoder reranker", "dev_history": self.dev_history,
                "best_dev": self.best, "dev_first_stage": first_stage or None}

    # -- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        return save_run_checkpoint(self, self._write_weights, self._rng_state)

    @staticmethod
    def _rng_state() -> RngState:
        """torch (and CUDA) generators as tensors; Python's and NumPy's global states as JSON."""
        return capture_torch_rng_state(), capture_host_rng_state()

    def _write_weights(self, folder: Path) -> dict[str, Any]:
        write_tensors(folder / "model.safetensors", self.model.state_dict())
        if self.best_weights is not None:
            write_tensors(folder / "best_model.safetensors", self.best_weights)
        return {"kind": CHECKPOINT_KIND, "dev_history": self.dev_history, "best_dev": self.best}

    def find_checkpoint(self) -> tuple[Path, dict[str, Any]]:
        """The latest checkpoint and its state, checked against this run's config and process count."""
        return find_resume_checkpoint(self.config, self.world, kind=CHECKPOINT_KIND)

    def load_checkpoint(self, folder: Path, state: dict[str, Any]) -> None:
        """Restore weights, optimizer, scheduler, RNGs and position from ``folder``."""
        self.model.load_state_dict(read_tensors(folder / "model.safetensors")[0])
        restore_run_state(self, folder, state)
        self.dev_history, self.best = list(state.get("dev_history", [])), state.get("best_dev")
        if (folder / "best_model.safetensors").is_file():
            self.best_weights = read_tensors(folder / "best_model.safetensors")[0]
        tensors, meta = read_rng_state(folder, self.rank)
        restore_torch_rng_state(tensors)
        restore_host_rng_state(meta)
