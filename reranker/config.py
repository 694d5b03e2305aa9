"""What the reranker needs to know: one frozen dataclass for query time, one for training.

``codehunt train reranker TRIPLES -o RERANKER_DIR [--base M] [--group-size n]
[--loss listwise|pointwise] [--max-length L] [--resume]`` maps each option onto the field of
the same name (dashes for underscores). The training config is saved as JSON inside every
checkpoint and inside the final model directory (``codehunt_training.json``).
Names shared with ``retriever.config.RetrieverTrainConfig`` (``steps``, ``grad_accum``,
``lr``, ``checkpoint_dir``...) mean the same thing there.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from codehunt.index.errors import ConfigError
from codehunt.index.precision import PRECISIONS
from codehunt.training.config import SavedTrainConfig

LOSSES = ("listwise", "pointwise")
DISTILLATION_LOSSES = ("kl", "margin-mse")
COMBINATIONS = ("rrf", "interpolate")


class RerankerConfigError(ConfigError):
    """A reranker option is out of range or contradicts another one."""


def _bad(message: str) -> RerankerConfigError:
    return RerankerConfigError(f"invalid reranker option: {message}")


@dataclass(frozen=True)
class RerankConfig:
    """How a cross-encoder rescores candidates at query time.

    Each speed choice is a field so ``benchmarks/rerank_latency.py`` can measure it alone:
    ``sort_by_length`` (batches of similar length carry little padding), ``max_length``
    (the code is cut from the end, so its signature and first lines stay), ``precision``
    (bf16 autocast on CPUs with AMX / AVX512-BF16).
    """

    batch_size: int = field(default=32, metadata={"help": "query-code pairs per forward pass"})
    max_length: int | None = field(
        default=None, metadata={"help": "tokens per pair, query + code (None: the model's own; never above its position embeddings)"}
    )
    max_query_length: int | None = field(
        default=None, metadata={"help": "tokens kept from the query (None: what the model was trained with, else 64)"}
    )
    precision: str = field(default="auto", metadata={"help": "fp32 | bf16 | auto (bf16 on CPUs with fast bf16)"})
    sort_by_length: bool = field(default=True, metadata={"help": "batch pairs of similar token length together"})
    device: str | None = field(default=None, metadata={"help": "cpu | cuda | None (cuda when present)"})
    first_stage_weight: float = field(
        default=0.0,
        metadata={"help": "weight of the first stage in the combination with the reranker; 0: the reranker's order alone"},
    )
    combination: str = field(
        default="rrf",
        metadata={"help": "rrf (ranks, first stage weighted) | interpolate ((1-w) minmax(logit) + w minmax(first-stage score))"},
    )

    def __post_init__(self) -> None:
        if self.first_stage_weight < 0:
            raise _bad(f"first_stage_weight must be >= 0, got {self.first_stage_weight}")
        if self.combination not in COMBINATIONS:
            raise _bad(f"combination must be rrf or interpolate, got {self.combination!r}")
        if self.combination == "interpolate" and self.first_stage_weight > 1:
            raise _bad(f"an interpolation weight must be in [0, 1], got {self.first_stage_weight}")
        if self.batch_size < 1:
            raise _bad(f"batch_size must be >= 1, got {self.batch_size}")
        if self.max_length is not None and self.max_length < 8:
            raise _bad(f"max_length must be >= 8 tokens, got {self.max_length}")
        if self.max_query_length is not None and self.max_query_length < 1:
            raise _bad(f"max_query_length must be >= 1, got {self.max_query_length}")
        if self.precision not in PRECISIONS:
            raise _bad(f"precision must be fp32, bf16 or auto, got {self.precision!r}")


@dataclass(frozen=True)
class RerankerTrainConfig(SavedTrainConfig):
    """Cross-encoder training on mined triples: groups of 1 positive + n negatives (listwise or pointwise)."""

    data: str = field(metadata={"help": "triples.jsonl: anchor, positive, negative_1..n (+ optional negative_i_score)"})
    output_dir: str = field(metadata={"help": "model directory to write (loads with CrossEncoder(path))"})
    base: str = field(
        default="default", metadata={"help": "starting model: dir, hub name, or 'default' (all-MiniLM-L6-v2, new head)"}
    )
    group_size: int = field(default=8, metadata={"help": "texts per group: 1 positive + (group_size - 1) negatives"})
    random_negative_ratio: float = field(
        default=0.25,
        metadata={"help": "share of a group's negatives drawn at random from other rows' positives (rest: the mined ones)"},
    )
    loss: str = field(default="listwise", metadata={"help": "listwise (softmax CE over the group) | pointwise (BCE)"})
    distill_weight: float = field(
        default=0.0, metadata={"help": "weight of the KL term towards the triples' bi-encoder scores (0: off)"}
    )
    distill_temperature: float = field(
        default=0.05, metadata={"help": "temperature turning the teacher's cosine scores into a distribution (kl) or dividing their margins (margin-mse)"}
    )
    distill_loss: str = field(
        default="kl", metadata={"help": "kl (listwise KL to the teacher's softmax) | margin-mse (match positive-negative score margins)"}
    )
    max_length: int = field(default=256, metadata={"help": "tokens per pair, query + code (code cut from the end)"})
    max_query_length: int = field(default=64, metadata={"help": "tokens kept from the query"})
    sub_batch: int = field(default=16, metadata={"help": "pairs per forward pass, grouped by token length so short pairs are not padded to long ones (0: the whole micro-batch in one pass); changes speed, not the loss"})
    epochs: int = field(default=1, metadata={"help": "passes over the data (ignored when steps is set)"})
    steps: int | None = field(default=None, metadata={"help": "optimizer steps to run (overrides epochs)"})
    batch_size: int = field(default=8, metadata={"help": "groups per micro-batch per process"})
    grad_accum: int = field(default=1, metadata={"help": "micro-batches per optimizer step"})
    lr: float = field(default=2e-5, metadata={"help": "peak AdamW learning rate"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (not on biases and norms)"})
    warmup_ratio: float = field(default=0.1, metadata={"help": "fraction of steps of linear warm-up before linear decay to 0"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm (0: off)"})
    precision: str = field(default="auto", metadata={"help": "fp32 | bf16 | auto (bf16 autocast where the device has fast bf16)"})
    device: str | None = field(default=None, metadata={"help": "cpu | cuda | None (accelerate's choice)"})
    seed: int = field(default=42, metadata={"help": "seed for the head's init, data order, negative sampling and dropout"})
    checkpoint_every: int = field(default=500, metadata={"help": "write a checkpoint every this many steps (and at the end)"})
    keep_checkpoints: int = field(default=2, metadata={"help": "how many most recent checkpoints to keep"})
    checkpoint_dir: str | None = field(default=None, metadata={"help": "where checkpoints go (None: OUTPUT_DIR.checkpoints)"})
    resume: bool = field(default=False, metadata={"help": "continue from the latest checkpoint"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing non-empty output directory"})
    cache_dir: str | None = field(default=None, metadata={"help": "Hugging Face datasets cache (None: its default)"})
    log_every: int = field(default=10, metadata={"help": "record the loss every this many steps"})
    dev: tuple[str, ...] = field(default=(), metadata={"help": "BEIR folder whose BM25 top candidates the reranker reorders while training, scored by nDCG@10, e.g. ../shared/data/cosqa (repeatable); the published model is the step with the best mean"})
    eval_every: int = field(default=0, metadata={"help": "score --dev every this many steps (0: at the start and after the last step only)"})
    dev_split: str = field(default="dev", metadata={"help": "qrels split of the --dev folders"})
    dev_queries: int = field(default=200, metadata={"help": "judged queries sampled per --dev set (seeded)"})
    dev_depth: int = field(default=20, metadata={"help": "BM25 candidates per --dev query the reranker reorders"})
    dev_corpus_size: int = field(default=2000, metadata={"help": "documents per --dev set BM25 searches: every judged one plus seeded random others"})

    def __post_init__(self) -> None:
        object.__setattr__(self, "dev", tuple(self.dev))  # a JSON list (checkpoint, summary) compares equal to the tuple
        if self.eval_every < 0 or self.dev_queries < 1 or self.dev_depth < 1 or self.dev_corpus_size < 1:
            raise _bad("--eval-every must be >= 0 and --dev-queries, --dev-depth, --dev-corpus-size >= 1")
        if self.eval_every and not self.dev:
            raise _bad("--eval-every needs at least one --dev folder to score")
        if self.sub_batch < 0:
            raise _bad(f"--sub-batch must be >= 0, got {self.sub_batch}")
        if self.group_size < 2:
            raise _bad(f"--group-size must be >= 2 (a positive and at least one negative), got {self.group_size}")
        if not 0.0 <= self.random_negative_ratio <= 1.0:
            raise _bad(f"--random-negative-ratio must be in [0, 1], got {self.random_negative_ratio}")
        if self.loss not in LOSSES:
            raise _bad(f"--loss must be listwise or pointwise, got {self.loss!r}")
        if self.distill_weight < 0 or self.distill_temperature <= 0:
            raise _bad("--distill-weight must be >= 0 and --distill-temperature > 0")
        if self.distill_loss not in DISTILLATION_LOSSES:
            raise _bad(f"--distill-loss must be kl or margin-mse, got {self.distill_loss!r}")
        for name in ("batch_size", "grad_accum", "epochs", "checkpoint_every", "keep_checkpoints", "log_every"):
            if getattr(self, name) < 1:
                raise _bad(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise _bad(f"--steps must be >= 1, got {self.steps}")
        if self.max_length < 8 or not 1 <= self.max_query_length <= self.max_length - 4:
            raise _bad(
                f"--max-length must be >= 8 and --max-query-length in [1, max_length - 4] "
                f"(room for the code and 3 special tokens), got {self.max_length} and {self.max_query_length}"
            )
        if not 0.0 <= self.warmup_ratio < 1.0 or self.lr <= 0 or self.max_grad_norm < 0 or self.weight_decay < 0:
            raise _bad("--lr must be > 0, --warmup-ratio in [0, 1), --max-grad-norm and --weight-decay >= 0")
        if self.precision not in PRECISIONS:
            raise _bad(f"--precision must be fp32, bf16 or auto, got {self.precision!r}")
