"""``train_retriever``: momentum-queue contrastive training of a bi-encoder (MoCo / CoCoSoDa).

Per micro-batch the query encoder embeds queries, their code and the mined negatives; the key
encoder (an EMA of the query encoder) embeds the queries and the (augmented) code, and those
keys are all-gathered across processes and enqueued after the loss, so every process holds
the same queues. The loss (``retriever.loss``) masks same-document and same-text negatives.

Gradient accumulation keeps the negative pool: each micro-batch sees its own in-batch
candidates plus the full queue, which already holds the keys of the earlier micro-batches of
the same step. AdamW with linear warm-up and decay, gradient clipping, bf16 autocast where
the device has fast bf16, data parallelism through accelerate (DDP). Checkpoints restore
everything, so N steps + resume + N steps equals 2N straight steps; the published model is
a plain sentence-transformers directory (the key encoder and queues stay in checkpoints).
"""
from __future__ import annotations

import contextlib
import logging
import resource
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codehunt.retriever.checkpoint import (
    FORMAT_VERSION, STATE_FILE, CheckpointError, latest_checkpoint, optimizer_from_tensors,
    optimizer_to_tensors, publish_checkpoint, read_state, read_tensors, write_tensors,
)
from codehunt.retriever.config import RetrieverConfigError, RetrieverTrainConfig
from codehunt.retriever.data import BatchOrder, TrainingBatch, load_training_data, stable_id
from codehunt.retriever.model import embed, load_bi_encoder, make_key_encoder, momentum_update, resolve_prompts, save_bi_encoder
from codehunt.retriever.run_setup import make_optimizer, prepare_run_directories, wants_bf16

if TYPE_CHECKING:
    import torch

log = logging.getLogger(__name__)


def train_retriever(config: RetrieverTrainConfig, show_progress: bool = False) -> Path:
    """Train per ``config`` and publish the model at ``config.output_dir``; returns that path."""
    return TrainingRun(config).train(show_progress)


class TrainingRun:
    """Everything one training process holds: model, key encoder, queues, optimizer, RNGs, position."""

    def __init__(self, config: RetrieverTrainConfig):
        import torch
        from accelerate import Accelerator, DistributedDataParallelKwargs

        from codehunt.retriever.augment import CodeAugmenter
        from codehunt.retriever.loss import ContrastiveObjective
        from codehunt.retriever.queue import KeyQueue

        self.config = c = config
        use_cpu = c.device == "cpu" or (c.device is None and not torch.cuda.is_available())
        # BERT-style bases carry a pooler that sentence-transformers never uses: DDP must not wait for its gradients
        self.accelerator = acc = Accelerator(cpu=use_cpu, kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
        self.rank, self.world = acc.process_index, acc.num_processes
        self._prepare_directories()
        with acc.main_process_first():
            self.data = load_training_data(c.data, c.hard_negatives, c.beir_split, c.cache_dir)
        self.order = BatchOrder(len(self.data), c.batch_size, self.world, c.seed)
        torch.manual_seed(c.seed + self.rank)

        self.model = load_bi_encoder(c.base, c.max_seq_length, acc.device)
        self.model.train()
        self.prompts = resolve_prompts(self.model, c.query_prompt, c.document_prompt)
        self.key_encoder = make_key_encoder(self.model) if c.queue_size else None
        dim = int(self.model.get_embedding_dimension())
        self.queues = {kind: KeyQueue(c.queue_size, dim, acc.device) for kind in ("code", "query")} if c.queue_size else {}
        self.objective = ContrastiveObjective(c.temperature, c.learn_temperature, c.loss == "dcl", c.mochi_params).to(acc.device)
        mask_token = getattr(self.model.tokenizer, "mask_token", None) or "[MASK]"
        self.augmenter = CodeAugmenter(c.augment_operators, c.augment_rate, c.seed + 1000 * self.rank, mask_token) \
            if c.augment_operators else None
        self.mochi_generator = torch.Generator().manual_seed(c.seed + 1000 * self.rank + 1)

        self.total_steps = c.steps or c.epochs * max(1, self.order.per_epoch // c.grad_accum)
        self.optimizer, self.scheduler = make_optimizer(
            [*self.model.parameters(), *self.objective.parameters()], c.lr, c.weight_decay, self.total_steps, c.warmup_ratio)
        self.forward = acc.prepare_model(self.model)
        self.bf16 = wants_bf16(c.precision, acc.device)
        self.step, self.history = 0, []
        self.seconds, self.pairs_seen = 0.0, 0
        if c.resume:
            self.load_checkpoint()

    # -- set-up ---------------------------------------------------------------------------
    def _prepare_directories(self) -> None:
        c = self.config
        prepare_run_directories(self.accelerator, Path(c.output_dir), c.checkpoint_path, c.resume, c.overwrite,
                                RetrieverConfigError)

    def autocast(self) -> Any:
        import torch

        return torch.autocast(device_type=self.accelerator.device.type, dtype=torch.bfloat16, enabled=self.bf16)

    def ids(self, values: list[int]) -> "torch.Tensor":
        import torch

        return torch.tensor(values, dtype=torch.int64, device=self.accelerator.device)

    def text_ids(self, texts: list[str]) -> "torch.Tensor":
        return self.ids([stable_id(text) for text in texts])

    # -- one micro-batch ------------------------------------------------------------------
    def keys(self, batch: TrainingBatch) -> tuple["torch.Tensor", "torch.Tensor"]:
        """Key-encoder embeddings of the (augmented) code and of the queries, without gradients."""
        import torch

        codes = [self.augmenter(code) for code in batch.codes] if self.augmenter else batch.codes
        with torch.no_grad(), self.autocast():
            return (embed(self.key_encoder, codes, self.prompts["document"]),
                    embed(self.key_encoder, batch.queries, self.prompts["query"]))

    def enqueue(self, batch: TrainingBatch, code_keys: "torch.Tensor", query_keys: "torch.Tensor") -> None:
        """All-gather keys and ids from every process (in rank order), then enqueue the same entries everywhere."""
        gather = self.accelerator.gather
        docs = gather(self.ids(batch.code_doc_ids))
        self.queues["code"].enqueue(gather(code_keys.contiguous()), docs, gather(self.text_ids(batch.codes)))
        self.queues["query"].enqueue(gather(query_keys.contiguous()), docs, gather(self.text_ids(batch.queries)))

    def micro_step(self, batch: TrainingBatch, sync: bool) -> dict[str, float]:
        from codehunt.retriever.loss import BatchIds

        c = self.config
        code_keys = query_keys = None
        if self.key_encoder is not None:
            code_keys, query_keys = self.keys(batch)
        context = contextlib.nullcontext() if sync else self.accelerator.no_sync(self.forward)
        with context:
            with self.autocast():
                queries = embed(self.model, batch.queries, self.prompts["query"], self.forward)  # (batch, dim)
                documents = embed(self.model, batch.codes + batch.negatives, self.prompts["document"], self.forward)
            ids = BatchIds(self.ids(batch.code_doc_ids), self.text_ids(batch.codes), self.text_ids(batch.queries),
                           self.ids(batch.negative_doc_ids), self.text_ids(batch.negatives))
            loss, stats = self.objective(
                queries, documents[: len(batch)], documents[len(batch):], ids,
                code_queue=self.queues["code"].entries() if self.queues else None,
                query_queue=self.queues["query"].entries() if self.queues else None,
                code_keys=code_keys if c.intra_modal else None, generator=self.mochi_generator)
            (loss / c.grad_accum).backward()
        if self.key_encoder is not None:
            self.enqueue(batch, code_keys, query_keys)
        return {"loss": loss.item(), **stats}

    def optimizer_step(self) -> None:
        import torch

        c = self.config
        if self.world > 1 and c.learn_temperature and self.objective.log_inv_temperature.grad is not None:
            grad = self.objective.log_inv_temperature.grad
            grad.copy_(self.accelerator.reduce(grad, reduction="mean"))
        if c.max_grad_norm > 0:
            params = [p for group in self.optimizer.param_groups for p in group["params"]]
            torch.nn.utils.clip_grad_norm_(params, c.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.key_encoder is not None:
            momentum_update(self.key_encoder, self.model, c.momentum)

    def warm_up_queues(self) -> None:
        """Fill both queues with real keys of training rows before the first step (no random negatives)."""
        order = BatchOrder(len(self.data), self.config.batch_size, self.world, self.config.seed, salt=1)
        micro = 0
        while len(self.queues["code"]) < self.config.queue_size:
            batch = self.data.batch(order.rows(micro, self.rank))
            self.enqueue(batch, *self.keys(batch))
            micro += 1

    # -- the loop -------------------------------------------------------------------------
    def train(self, show_progress: bool = False) -> Path:
        from tqdm.auto import tqdm

        c, acc = self.config, self.accelerator
        if self.key_encoder is not None and self.step == 0 and c.queue_warmup and len(self.queues["code"]) == 0:
            self.warm_up_queues()
        pairs_per_step = c.batch_size * self.world * c.grad_accum
        bar = tqdm(total=self.total_steps, initial=self.step, desc="train retriever", unit="step",
                   disable=not (show_progress and acc.is_main_process), dynamic_ncols=True)
        window: list[float] = []
        while self.step < self.total_steps:
            started = time.perf_counter()
            micro_stats = [
                self.micro_step(self.data.batch(self.order.rows(self.step * c.grad_accum + a, self.rank)),
                                sync=a == c.grad_accum - 1)
                for a in range(c.grad_accum)
            ]
            lr = self.scheduler.get_last_lr()[0]
            self.optimizer_step()
            self.step += 1
            self.seconds += time.perf_counter() - started
            self.pairs_seen += pairs_per_step
            loss = sum(s["loss"] for s in micro_stats) / len(micro_stats)
            window.append(loss)
            if self.step % c.log_every == 0 or self.step == self.total_steps:
                record = {"step": self.step, "loss": sum(window) / len(window), "lr": lr, "seconds": round(self.seconds, 3),
                          **{k: v for k, v in micro_stats[-1].items() if k != "loss"}}
                self.history.append(record)
                log.info("step %d/%d loss %.4f lr %.2e", self.step, self.total_steps, record["loss"], lr)
                window = []
            bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.2e}", pairs_s=f"{self.pairs_seen / max(self.seconds, 1e-9):.1f}")
            bar.update(1)
            if self.step % c.checkpoint_every == 0:
                self.save_checkpoint()
        bar.close()
        if acc.is_main_process:
            save_bi_encoder(self.model, Path(c.output_dir), self.prompts, self.summary())
        acc.wait_for_everyone()
        return Path(c.output_dir)

    def summary(self) -> dict[str, Any]:
        import torch

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {
            "format_version": FORMAT_VERSION, "config": self.config.to_json(), "prompts": self.prompts,
            "steps": self.step, "world_size": self.world, "bf16": self.bf16, "history": self.history,
            "train_seconds": round(self.seconds, 3), "pairs_per_second": self.pairs_seen / max(self.seconds, 1e-9),
            "peak_rss_mb": round(peak, 1),
            "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None,
        }

    # -- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        import torch

        acc = self.accelerator

        def write(folder: Path) -> None:
            generators = {"torch": torch.get_rng_state(), "mochi": self.mochi_generator.get_state()}
            if torch.cuda.is_available():
                generators.update({f"cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
            numpy_state = self.augmenter.state() if self.augmenter else None
            write_tensors(folder / f"rng-{self.rank}.safetensors", generators, {"numpy": _dumps(numpy_state)})
            if not acc.is_main_process:
                return
            write_tensors(folder / "model.safetensors", self.model.state_dict())
            write_tensors(folder / "objective.safetensors", self.objective.state_dict())
            pointers = {}
            if self.key_encoder is not None:
                write_tensors(folder / "key_encoder.safetensors", self.key_encoder.state_dict())
                tensors = {}
                for kind, queue in self.queues.items():
                    queue_tensors, pointers[kind] = queue.state(kind)
                    tensors.update(queue_tensors)
                write_tensors(folder / "queues.safetensors", tensors)
            optimizer_tensors, optimizer_meta = optimizer_to_tensors(self.optimizer.state_dict())
            write_tensors(folder / "optimizer.safetensors", optimizer_tensors)
            state = {
                "format_version": FORMAT_VERSION, "step": self.step, "micro_batch": self.step * self.config.grad_accum,
                "world_size": self.world, "queues": pointers, "scheduler": self.scheduler.state_dict(),
                "optimizer": optimizer_meta, "history": self.history, "seconds": self.seconds,
                "pairs_seen": self.pairs_seen, "config": self.config.to_json(),
            }
            (folder / STATE_FILE).write_text(_dumps(state), encoding="utf-8")

        return publish_checkpoint(self.config.checkpoint_path, self.step, write, is_main=acc.is_main_process,
                                  barrier=acc.wait_for_everyone, keep=self.config.keep_checkpoints)

    def load_checkpoint(self) -> Path:
        import json

        import torch

        root = self.config.checkpoint_path
        folder = latest_checkpoint(root)
        if folder is None:
            raise CheckpointError(f"--resume: no checkpoint under {root}; run without --resume to start afresh")
        state = read_state(folder)
        saved = RetrieverTrainConfig.from_json(state["config"]).learning_fields()
        differ = sorted(k for k, v in self.config.learning_fields().items() if saved.get(k) != v)
        if differ:
            raise CheckpointError(f"{folder} was written with other settings for {', '.join(differ)}: "
                                  "resume with the same options or start a new run")
        if state["world_size"] != self.world:
            raise CheckpointError(f"{folder} was written by {state['world_size']} processes, this run has {self.world}")
        self.model.load_state_dict(read_tensors(folder / "model.safetensors")[0])
        self.objective.load_state_dict(read_tensors(folder / "objective.safetensors")[0])
        if self.key_encoder is not None:
            self.key_encoder.load_state_dict(read_tensors(folder / "key_encoder.safetensors")[0])
            tensors, _ = read_tensors(folder / "queues.safetensors")
            for kind, queue in self.queues.items():
                queue.load_state(kind, tensors, state["queues"][kind])
        self.optimizer.load_state_dict(optimizer_from_tensors(read_tensors(folder / "optimizer.safetensors")[0],
                                                              state["optimizer"]))
        self.scheduler.load_state_dict(state["scheduler"])
        generators, meta = read_tensors(folder / f"rng-{self.rank}.safetensors")
        torch.set_rng_state(generators["torch"])
        self.mochi_generator.set_state(generators["mochi"])
        if torch.cuda.is_available():
            torch.cuda.set_rng_state_all([generators[f"cuda.{i}"] for i in range(torch.cuda.device_count())])
        if self.augmenter is not None:
            self.augmenter.set_state(json.loads(meta["numpy"]))
        self.step, self.history = int(state["step"]), list(state["history"])
        self.seconds, self.pairs_seen = float(state["seconds"]), int(state["pairs_seen"])
        log.info("resumed from %s at step %d", folder, self.step)
        return folder


def _dumps(payload: Any) -> str:
    import json

    return json.dumps(payload, indent=1, sort_keys=True)
