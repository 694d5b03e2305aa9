"""``train_reranker``: fine-tune a cross-encoder on groups of 1 positive + n negatives.

The model reads ``[CLS] query [SEP] code [SEP]`` and emits one logit; it starts from the
packaged all-MiniLM-L6-v2 (a bi-encoder, so the classification head is new) or any local or
hub checkpoint. Each micro-batch holds ``batch_size`` groups per process (``reranker.data``);
all their pairs go through the model in one forward pass and the loss (``reranker.loss``)
compares each positive with its own group: listwise softmax cross-entropy (default) or
pointwise BCE, plus an optional KL term towards the mined bi-encoder scores.

AdamW with linear warm-up and decay (``retriever.run_setup.linear_schedule``), gradient
accumulation, clipping, bf16 autocast where the device has fast bf16, data parallelism
through accelerate (each process takes its slice of the global micro-batch; DDP averages the
gradients). Checkpoints (``retriever.checkpoint``: safetensors + JSON, published atomically)
restore weights, optimizer, scheduler and every RNG, and the data position is a pure function
of the step, so N steps + resume + N steps equals 2N straight steps. The published model is a
plain sentence-transformers ``CrossEncoder`` directory.
"""
from __future__ import annotations

import contextlib
import json
import logging
import random
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from codehunt.reranker.config import RerankerConfigError, RerankerTrainConfig
from codehunt.reranker.data import Group, load_triples
from codehunt.reranker.model import TRAINING_INFO, load_cross_encoder, pad_batch, tokenize_pairs
from codehunt.retriever.checkpoint import (
    STATE_FILE, CheckpointError, latest_checkpoint, optimizer_from_tensors, optimizer_to_tensors,
    publish_checkpoint, read_tensors, write_tensors,
)
from codehunt.retriever.data import BatchOrder
from codehunt.retriever.run_setup import make_optimizer, prepare_run_directories, wants_bf16

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Of reranker checkpoints (``state.json``) and of ``codehunt_training.json``."""


def train_reranker(config: RerankerTrainConfig, show_progress: bool = False) -> Path:
    """Train per ``config`` and publish the model at ``config.output_dir``; returns that path."""
    return RerankerTrainingRun(config).train(show_progress)


# -- RNG state: not in retriever/ as functions, so here ------------------------------------------
def capture_rng_state() -> tuple[dict[str, "torch.Tensor"], dict[str, str]]:
    """This process's torch (and CUDA) generator states as tensors, Python's and NumPy's as JSON metadata."""
    import numpy as np
    import torch

    tensors = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        tensors.update({f"cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    meta = {
        "python": json.dumps([version, list(internal), gauss]),
        "numpy": json.dumps([kind, keys.tolist(), int(pos), int(has_gauss), float(cached)]),
    }
    return tensors, meta


def restore_rng_state(tensors: dict[str, "torch.Tensor"], meta: dict[str, str]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    import numpy as np
    import torch

    torch.set_rng_state(tensors["torch"])
    if torch.cuda.is_available():
        torch.cuda.set_rng_state_all([tensors[f"cuda.{i}"] for i in range(torch.cuda.device_count())])
    version, internal, gauss = json.loads(meta["python"])
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = json.loads(meta["numpy"])
    np.random.set_state((kind, np.array(keys, dtype=np.uint32), pos, has_gauss, cached))


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
        from accelerate import Accelerator

        from codehunt.reranker.loss import ListwiseDistillationLoss, make_loss

        self.config = c = config
        use_cpu = c.device == "cpu" or (c.device is None and not torch.cuda.is_available())
        self.accelerator = acc = Accelerator(cpu=use_cpu)
        self.rank, self.world = acc.process_index, acc.num_processes
        self._prepare_directories()
        resume_from = self.find_checkpoint() if c.resume else None  # fail before the slow model load
        with acc.main_process_first():
            self.data = load_triples(c.data, c.cache_dir)
        self.order = BatchOrder(len(self.data), c.batch_size, self.world, c.seed)

        self.model = load_cross_encoder(c.base, max_length=c.max_length, device=str(acc.device), seed=c.seed)
        self.model.max_seq_length = c.max_length
        self.model.train()
        torch.manual_seed(c.seed + self.rank)  # dropout
        self.loss_fn = make_loss(c.loss)
        self.distill_fn = ListwiseDistillationLoss(c.distill_temperature) if c.distill_weight > 0 else None

        self.total_steps = c.steps or c.epochs * max(1, self.order.per_epoch // c.grad_accum)
        self.optimizer, self.scheduler = make_optimizer(
            self.model.parameters(), c.lr, c.weight_decay, self.total_steps, c.warmup_ratio)
        self.forward = acc.prepare_model(self.model)
        self.bf16 = wants_bf16(c.precision, acc.device)
        self.step, self.history = 0, []
        self.seconds, self.pairs_seen = 0.0, 0
        if resume_from is not None:
            self.load_checkpoint(*resume_from)

    # -- set-up ---------------------------------------------------------------------------
    def _prepare_directories(self) -> None:
        c = self.config
        prepare_run_directories(self.accelerator, Path(c.output_dir), c.checkpoint_path, c.resume, c.overwrite,
                                RerankerConfigError)

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
        features = {k: v.to(device) for k, v in pad_batch(self.model.tokenizer, encoded, range(len(texts))).items()}
        context = contextlib.nullcontext() if sync else self.accelerator.no_sync(self.forward)
        with context:
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=self.bf16):
                scores = self.forward(features)["scores"].reshape(-1)  # (pairs,)
            logits = torch.zeros(mask.shape, device=device).masked_scatter(mask, scores.float())  # (groups, width)
            loss = self.loss_fn(logits, mask)
            stats = {"loss": loss.item()}
            if self.distill_fn is not None:
                distill = self.distill_fn(logits, teacher, mask)
                loss = loss + c.distill_weight * distill
                stats["distill"] = distill.item()
            (loss / c.grad_accum).backward()
        return stats

    def optimizer_step(self) -> None:
        import torch

        if self.config.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)

    # -- the loop -------------------------------------------------------------------------
    def train(self, show_progress: bool = False) -> Path:
        from tqdm.auto import tqdm

        c, acc = self.config, self.accelerator
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train reranker", unit="step",
                   disable=not (show_progress and acc.is_main_process), dynamic_ncols=True)
        window: list[float] = []
        while self.step < self.total_steps:
            started = time.perf_counter()
            pairs = 0
            micro_stats = []
            for a in range(c.grad_accum):
                groups = self.groups(self.step * c.grad_accum + a)
                pairs += sum(len(g) for g in groups)
                micro_stats.append(self.micro_step(groups, sync=a == c.grad_accum - 1))
            lr = self.scheduler.get_last_lr()[0]
            self.optimizer_step()
            self.step += 1
            self.seconds += time.perf_counter() - started
            self.pairs_seen += pairs * self.world
            loss = sum(s["loss"] for s in micro_stats) / len(micro_stats)
            window.append(loss)
            if self.step % c.log_every == 0 or self.step == self.total_steps:
                record = {"step": self.step, "loss": sum(window) / len(window), "lr": lr}
                if "distill" in micro_stats[-1]:
                    record["distill"] = micro_stats[-1]["distill"]
                self.history.append(record)
                log.info("step %d/%d loss %.4f lr %.2e", self.step, self.total_steps, record["loss"], lr)
                window = []
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", pairs_s=f"{self.pairs_seen / max(self.seconds, 1e-9):.1f}")
            bar.update(1)
            if self.step % c.checkpoint_every == 0 or self.step == self.total_steps:
                self.save_checkpoint()
        bar.close()
        if acc.is_main_process:
            self.publish(Path(c.output_dir))
        acc.wait_for_everyone()
        return Path(c.output_dir)

    def publish(self, output_dir: Path) -> Path:
        """Save through sentence-transformers into a staging dir, then rename it into place."""
        from codehunt.index.storage import staging_directory

        with staging_directory(output_dir) as staging:
            self.model.save(str(staging), create_model_card=False)
            (staging / TRAINING_INFO).write_text(_dumps(self.summary()) + "\n", encoding="utf-8")
        return output_dir

    def summary(self) -> dict[str, Any]:
        return {
            "format_version": FORMAT_VERSION, "kind": "cross-encoder reranker", "config": self.config.to_json(),
            "steps": self.step, "world_size": self.world, "bf16": self.bf16, "history": self.history,
            "train_seconds": round(self.seconds, 3), "pairs_per_second": self.pairs_seen / max(self.seconds, 1e-9),
        }

    # -- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        acc = self.accelerator

        def write(folder: Path) -> None:
            generators, meta = capture_rng_state()
            write_tensors(folder / f"rng-{self.rank}.safetensors", generators, meta)
            if not acc.is_main_process:
                return
            write_tensors(folder / "model.safetensors", self.model.state_dict())
            optimizer_tensors, optimizer_meta = optimizer_to_tensors(self.optimizer.state_dict())
            write_tensors(folder / "optimizer.safetensors", optimizer_tensors)
            state = {
                "format_version": FORMAT_VERSION, "kind": "reranker", "step": self.step,
                "micro_batch": self.step * self.config.grad_accum, "world_size": self.world,
                "scheduler": self.scheduler.state_dict(), "optimizer": optimizer_meta, "history": self.history,
                "seconds": self.seconds, "pairs_seen": self.pairs_seen, "config": self.config.to_json(),
            }
            (folder / STATE_FILE).write_text(_dumps(state), encoding="utf-8")

        return publish_checkpoint(self.config.checkpoint_path, self.step, write, is_main=acc.is_main_process,
                                  barrier=acc.wait_for_everyone, keep=self.config.keep_checkpoints)

    def find_checkpoint(self) -> tuple[Path, dict[str, Any]]:
        """The latest checkpoint and its state, checked against this run's config and process count."""
        root = self.config.checkpoint_path
        folder = latest_checkpoint(root)
        if folder is None:
            raise CheckpointError(f"--resume: no checkpoint under {root}; run without --resume to start afresh")
        try:
            state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CheckpointError(f"{folder / STATE_FILE} is unreadable ({exc}): delete {folder} to resume from the one before") from exc
        if state.get("format_version") != FORMAT_VERSION or state.get("kind") != "reranker":
            raise CheckpointError(f"{folder} is not a reranker checkpoint of format {FORMAT_VERSION}: start a new run")
        saved = RerankerTrainConfig.from_json(state["config"]).learning_fields()
        differ = sorted(k for k, v in self.config.learning_fields().items() if saved.get(k) != v)
        if differ:
            raise CheckpointError(f"{folder} was written with other settings for {', '.join(differ)}: "
                                  "resume with the same options or start a new run")
        if state["world_size"] != self.world:
            raise CheckpointError(f"{folder} was written by {state['world_size']} processes, this run has {self.world}")
        return folder, state

    def load_checkpoint(self, folder: Path, state: dict[str, Any]) -> None:
        """Restore weights, optimizer, scheduler, RNGs and position from ``folder``."""
        self.model.load_state_dict(read_tensors(folder / "model.safetensors")[0])
        self.optimizer.load_state_dict(
            optimizer_from_tensors(read_tensors(folder / "optimizer.safetensors")[0], state["optimizer"]))
        self.scheduler.load_state_dict(state["scheduler"])
        restore_rng_state(*read_tensors(folder / f"rng-{self.rank}.safetensors"))
        self.step, self.history = int(state["step"]), list(state["history"])
        self.seconds, self.pairs_seen = float(state["seconds"]), int(state["pairs_seen"])
        log.info("resumed from %s at step %d", folder, self.step)


def _dumps(payload: Any) -> str:
    return json.dumps(payload, indent=1, sort_keys=True)
