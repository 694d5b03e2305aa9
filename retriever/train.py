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
import json
import logging
import resource
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codehunt.index.precision import wants_bf16
from codehunt.retriever.config import RetrieverConfigError, RetrieverTrainConfig
from codehunt.retriever.data import TrainingBatch, load_training_data, stable_id
from codehunt.retriever.dev_eval import dev_ndcg, load_dev_sets
from codehunt.retriever.model import embed, load_bi_encoder, make_key_encoder, momentum_update, resolve_prompts, save_bi_encoder
from codehunt.training.checkpoint import dumps_json, find_resume_checkpoint, read_tensors, write_tensors
from codehunt.training.loop import RngState, restore_run_state, run_steps, run_summary, save_run_checkpoint
from codehunt.training.rng import capture_torch_rng_state, read_rng_state, restore_torch_rng_state
from codehunt.training.run_setup import (
    bf16_autocast, clip_and_step, count_total_steps, make_accelerator, make_optimizer, prepare_run_directories,
)
from codehunt.training.sampler import BatchOrder

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

        from codehunt.retriever.augment import CodeAugmenter
        from codehunt.retriever.loss import ContrastiveObjective
        from codehunt.retriever.queue import KeyQueue

        self.config = c = config
        # BERT-style bases carry a pooler that sentence-transformers never uses: DDP must not wait for its gradients
        self.accelerator = acc = make_accelerator(c.device, find_unused_parameters=True)
        self.rank, self.world = acc.process_index, acc.num_processes
        prepare_run_directories(acc, c, RetrieverConfigError)
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

        self.total_steps = count_total_steps(c.steps, c.epochs, self.order.per_epoch, c.grad_accum)
        self.optimizer, self.scheduler = make_optimizer(
            [*self.model.parameters(), *self.objective.parameters()], c.lr, c.weight_decay, self.total_steps, c.warmup_ratio)
        self.forward = acc.prepare_model(self.model)
        self.bf16 = wants_bf16(c.precision, acc.device)
        self.step, self.history = 0, []
        self.seconds, self.pairs_seen = 0.0, 0
        self.dev_sets = load_dev_sets(c.dev, c.dev_split, c.dev_corpus_size, c.seed) if c.dev and acc.is_main_process else []
        self.dev_history: list[dict[str, float]] = []
        self.best: dict[str, Any] | None = None  # {"step", "mean", "scores"} of the best dev evaluation so far
        self.best_weights: dict[str, torch.Tensor] | None = None
        if c.resume:
            self.load_checkpoint()

    # -- set-up ---------------------------------------------------------------------------
    def autocast(self) -> contextlib.AbstractContextManager[object]:
        return bf16_autocast(self.accelerator.device, self.bf16)

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
            return (embed(self.key_encoder, codes, self.prompts["document"], sub_batch=self.config.sub_batch),
                    embed(self.key_encoder, batch.queries, self.prompts["query"], sub_batch=self.config.sub_batch))

    def enqueue(self, batch: TrainingBatch, code_keys: "torch.Tensor", query_keys: "torch.Tensor") -> None:
        """All-gather keys and ids from every process (in rank order), then enqueue the same entries everywhere."""
        gather = self.accelerator.gather
        docs = gather(self.ids(batch.code_doc_ids))
        self.queues["code"].enqueue(gather(code_keys.contiguous()), docs, gather(self.text_ids(batch.codes)))
        self.queues["query"].enqueue(gather(query_keys.contiguous()), docs, gather(self.text_ids(batch.queries)))

    def documents(self, batch: TrainingBatch) -> tuple["torch.Tensor", "torch.Tensor"]:
        """The batch's code (batch, dim) and mined negatives (negatives, dim), by the model being trained.

        With ``negative_grad`` off the negatives go through the same model in the same mode (dropout included)
        but without autograd state: their forward values, so the loss, are what the default path computes, and
        the queries get the same gradient from them; only the gradient into the negatives' own encoding is
        dropped (the stop-gradient on negatives of momentum contrast, MoCo, He et al. 2020, without its second
        encoder). It trains 1.4-1.5x faster with 3 negatives, but in the recipe's run it learned measurably worse
        (csn_ruby dev -0.029 nDCG@10 [-0.035, -0.022] against the default, cosqa -0.004 [-0.014, +0.007];
        ``benchmarks/retriever_recipe.py``), so the gradient stays on by default."""
        import torch

        c, prompt = self.config, self.prompts["document"]
        if c.negative_grad or not batch.negatives:
            documents = embed(self.model, batch.codes + batch.negatives, prompt, self.forward, c.sub_batch)
            return documents[: len(batch)], documents[len(batch):]
        codes = embed(self.model, batch.codes, prompt, self.forward, c.sub_batch)
        with torch.no_grad():
            negatives = embed(self.model, batch.negatives, prompt, self.forward, c.sub_batch)
        return codes, negatives

    def micro_step(self, batch: TrainingBatch, sync: bool) -> dict[str, float]:
        from codehunt.retriever.loss import BatchIds

        c = self.config
        code_keys = query_keys = None
        if self.key_encoder is not None:
            code_keys, query_keys = self.keys(batch)
        context = contextlib.nullcontext() if sync else self.accelerator.no_sync(self.forward)
        with context:
            with self.autocast():
                queries = embed(self.model, batch.queries, self.prompts["query"], self.forward, c.sub_batch)  # (batch, dim)
                codes, negatives = self.documents(batch)
            ids = BatchIds(self.ids(batch.code_doc_ids), self.text_ids(batch.codes), self.text_ids(batch.queries),
                           self.ids(batch.negative_doc_ids), self.text_ids(batch.negatives))
            loss, stats = self.objective(
                queries, codes, negatives, ids,
                code_queue=self.queues["code"].entries() if self.queues else None,
                query_queue=self.queues["query"].entries() if self.queues else None,
                code_keys=code_keys if c.intra_modal else None, generator=self.mochi_generator)
            (loss / c.grad_accum).backward()
        if self.key_encoder is not None:
            self.enqueue(batch, code_keys, query_keys)
        return {"loss": loss.item(), **stats}

    def micro_batches(self) -> tuple[list[dict[str, float]], int]:
        """The ``grad_accum`` micro-batches of step ``self.step`` (gradients synchronised on the last): stats, pairs."""
        c = self.config
        stats = [
            self.micro_step(self.data.batch(self.order.rows(self.step * c.grad_accum + a, self.rank)), sync=a == c.grad_accum - 1)
            for a in range(c.grad_accum)
        ]
        return stats, c.batch_size * c.grad_accum

    def optimizer_step(self) -> None:
        c = self.config
        if self.world > 1 and c.learn_temperature and self.objective.log_inv_temperature.grad is not None:
            grad = self.objective.log_inv_temperature.grad
            grad.copy_(self.accelerator.reduce(grad, reduction="mean"))
        clip_and_step(self.optimizer, self.scheduler, c.max_grad_norm)
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
        c, acc = self.config, self.accelerator
        if self.key_encoder is not None and self.step == 0 and c.queue_warmup and len(self.queues["code"]) == 0:
            self.warm_up_queues()
        if self.dev_sets and self.step == 0 and not self.dev_history:
            self.evaluate_dev(force=True)  # step 0: the starting model competes too, so training never publishes worse
        run_steps(self, "train retriever", show_progress, after_step=self.evaluate_dev)
        if acc.is_main_process:
            if self.dev_sets and (not self.dev_history or self.dev_history[-1]["step"] != self.step):
                self.evaluate_dev(force=True)
            if self.best_weights is not None and self.best is not None and self.best["step"] != self.step:
                self.model.load_state_dict(self.best_weights)  # publish the best step, not the last
            save_bi_encoder(self.model, Path(c.output_dir), self.prompts, self.summary())
        acc.wait_for_everyone()
        return Path(c.output_dir)

    def evaluate_dev(self, force: bool = False) -> None:
        """Every ``eval_every`` steps (or when ``force``d): dev nDCG@10, and a copy of the weights when best so far.

        ``retriever.dev_eval`` says why and how; only the main process evaluates, and with data
        parallelism its copy of the weights is every process's.
        """
        c = self.config
        if not self.dev_sets or not (force or (c.eval_every and self.step % c.eval_every == 0)):
            return
        scores = dev_ndcg(self.model, self.dev_sets, self.prompts, c.sub_batch)
        mean = sum(scores.values()) / len(scores)
        self.dev_history.append({"step": self.step, **scores, "mean": mean})
        if self.best is None or mean > self.best["mean"]:
            self.best = {"step": self.step, "mean": mean, "scores": scores}
            self.best_weights = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
        log.info("step %d dev nDCG@10 %s (mean %.4f; best: step %d)", self.step,
                 {k: round(v, 4) for k, v in scores.items()}, mean, self.best["step"])

    def record_extras(self, last: dict[str, float]) -> dict[str, float]:
        """Seconds so far and the last micro-batch's loss terms, negatives and temperature."""
        return {"seconds": round(self.seconds, 3), **{k: v for k, v in last.items() if k != "loss"}}

    def summary(self) -> dict[str, Any]:
        import torch

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return {
            **run_summary(self), "prompts": self.prompts, "peak_rss_mb": round(peak, 1),
            "dev_history": self.dev_history, "best_dev": self.best,
            "peak_cuda_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1) if torch.cuda.is_available() else None,
        }

    # -- checkpoints ----------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        return save_run_checkpoint(self, self._write_weights, self._rng_state)

    def _rng_state(self) -> RngState:
        """torch (and CUDA) and MoCHi generators as tensors, the augmenter's NumPy generator as JSON."""
        numpy_state = self.augmenter.state() if self.augmenter else None
        return capture_torch_rng_state({"mochi": self.mochi_generator}), {"numpy": dumps_json(numpy_state)}

    def _write_weights(self, folder: Path) -> dict[str, Any]:
        """Model, objective, key encoder and queues; the queue pointers go into ``state.json``."""
        write_tensors(folder / "model.safetensors", self.model.state_dict())
        write_tensors(folder / "objective.safetensors", self.objective.state_dict())
        if self.best_weights is not None:
            write_tensors(folder / "best_model.safetensors", self.best_weights)
        pointers = {}
        if self.key_encoder is not None:
            write_tensors(folder / "key_encoder.safetensors", self.key_encoder.state_dict())
            tensors = {}
            for kind, queue in self.queues.items():
                queue_tensors, pointers[kind] = queue.state(kind)
                tensors.update(queue_tensors)
            write_tensors(folder / "queues.safetensors", tensors)
        return {"queues": pointers, "dev_history": self.dev_history, "best_dev": self.best}

    def load_checkpoint(self) -> Path:
        """Restore everything from the latest checkpoint, refused if it is from an incompatible run."""
        folder, state = find_resume_checkpoint(self.config, self.world)
        self.model.load_state_dict(read_tensors(folder / "model.safetensors")[0])
        self.objective.load_state_dict(read_tensors(folder / "objective.safetensors")[0])
        if self.key_encoder is not None:
            self.key_encoder.load_state_dict(read_tensors(folder / "key_encoder.safetensors")[0])
            tensors, _ = read_tensors(folder / "queues.safetensors")
            for kind, queue in self.queues.items():
                queue.load_state(kind, tensors, state["queues"][kind])
        restore_run_state(self, folder, state)
        self.dev_history, self.best = list(state.get("dev_history", [])), state.get("best_dev")
        if (folder / "best_model.safetensors").is_file():
            self.best_weights = read_tensors(folder / "best_model.safetensors")[0]
        generators, meta = read_rng_state(folder, self.rank)
        restore_torch_rng_state(generators, {"mochi": self.mochi_generator})
        if self.augmenter is not None:
            self.augmenter.set_state(json.loads(meta["numpy"]))
        return folder
