"""What a retriever training run needs to know: one frozen dataclass, one field per CLI flag.

``codehunt train retriever DATA -o MODEL_DIR [--base M] [--queue-size K] ...`` maps each
option onto the field of the same name (dashes for underscores). The config is saved as
JSON inside every checkpoint and inside the final model directory.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from codehunt.index.errors import ConfigError
from codehunt.index.precision import PRECISIONS
from codehunt.training.config import SavedTrainConfig

AUGMENT_OPERATORS = ("mask", "type", "delete")
"""Soft data augmentation operators (CoCoSoDa): dynamic masking, identifier/literal -> type, statement deletion."""

LOSSES = ("infonce", "dcl")


class RetrieverConfigError(ConfigError):
    """A training option is out of range or contradicts another one."""


@dataclass(frozen=True)
class MochiParams:
    """MoCHi (Kalantidis et al., 2020): mix the ``hardest`` queue negatives into ``mixes`` + ``query_mixes`` new ones."""

    hardest: int
    mixes: int
    query_mixes: int


@dataclass(frozen=True)
class RetrieverTrainConfig(SavedTrainConfig):
    """Momentum-queue contrastive training of a bi-encoder (MoCo, CoCoSoDa) with masking, DCL and MoCHi options."""

    data: str = field(metadata={"help": "triples.jsonl (anchor, positive, negative_1..n), pairs.jsonl (query, code) or a BEIR folder"})
    output_dir: str = field(metadata={"help": "model directory to write (loads with SentenceTransformer(path))"})
    base: str = field(default="default", metadata={"help": "starting model: dir, hub name, or 'default' (all-MiniLM-L6-v2)"})
    queue_size: int = field(default=4096, metadata={"help": "K entries per queue (code, query); 0: plain in-batch InfoNCE baseline"})
    momentum: float = field(default=0.999, metadata={"help": "EMA momentum m of the key encoder"})
    temperature: float = field(default=0.05, metadata={"help": "InfoNCE temperature tau (initial value when learnable)"})
    learn_temperature: bool = field(default=False, metadata={"help": "learn tau (as log 1/tau) instead of fixing it"})
    loss: str = field(default="infonce", metadata={"help": "infonce | dcl (decoupled: positive left out of the denominator)"})
    mochi: str = field(default="", metadata={"help": "MoCHi 'N,s,s2': mix the N hardest queue negatives into s pairs and s2 query mixes; '' off"})
    augment: str = field(default="", metadata={"help": "code augmentation operators for the key encoder: comma list of mask,type,delete, 'all' or ''"})
    augment_rate: float = field(default=0.15, metadata={"help": "fraction of tokens / statements an augmentation operator changes"})
    intra_modal: bool = field(default=False, metadata={"help": "add the code->augmented-code term (CoCoSoDa intra-modal loss)"})
    hard_negatives: int = field(default=7, metadata={"help": "at most this many mined negatives per triple (0: none)"})
    negative_grad: bool = field(default=True, metadata={"help": "backpropagate through the mined negatives' code too (off: they are embedded by the same model without gradients, 1.4-1.5x faster with 3 negatives but it learned worse: csn_ruby dev -0.029 nDCG@10, benchmarks/retriever_recipe.py)"})
    query_prompt: str | None = field(default=None, metadata={"help": "prompt prepended to queries (None: the base model's)"})
    document_prompt: str | None = field(default=None, metadata={"help": "prompt prepended to code (None: the base model's)"})
    epochs: int = field(default=1, metadata={"help": "passes over the data (ignored when steps is set)"})
    steps: int | None = field(default=None, metadata={"help": "optimizer steps to run (overrides epochs)"})
    batch_size: int = field(default=32, metadata={"help": "pairs per micro-batch per process (the in-batch negatives)"})
    grad_accum: int = field(default=1, metadata={"help": "micro-batches per optimizer step"})
    lr: float = field(default=2e-5, metadata={"help": "peak AdamW learning rate"})
    weight_decay: float = field(default=0.01, metadata={"help": "AdamW weight decay (not on biases and norms)"})
    warmup_ratio: float = field(default=0.1, metadata={"help": "fraction of steps of linear warm-up before linear decay to 0"})
    max_grad_norm: float = field(default=1.0, metadata={"help": "gradient clipping norm (0: off)"})
    max_seq_length: int = field(default=256, metadata={"help": "token window of the encoder"})
    sub_batch: int = field(default=8, metadata={"help": "texts per forward pass, grouped by length so short texts are not padded to long ones (0: the whole batch in one pass); changes speed, not the loss"})
    precision: str = field(default="auto", metadata={"help": "fp32 | bf16 | auto (bf16 autocast where the device has fast bf16)"})
    device: str | None = field(default=None, metadata={"help": "cpu | cuda | None (cuda when present)"})
    seed: int = field(default=42, metadata={"help": "seed for data order, dropout, augmentation and MoCHi"})
    queue_warmup: bool = field(default=True, metadata={"help": "fill the queues with real keys before the first step"})
    checkpoint_every: int = field(default=500, metadata={"help": "write a checkpoint every this many steps (and at the end)"})
    keep_checkpoints: int = field(default=2, metadata={"help": "how many most recent checkpoints to keep"})
    checkpoint_dir: str | None = field(default=None, metadata={"help": "where checkpoints go (None: OUTPUT_DIR.checkpoints)"})
    resume: bool = field(default=False, metadata={"help": "continue from the latest checkpoint"})
    overwrite: bool = field(default=False, metadata={"help": "replace an existing non-empty output directory"})
    beir_split: str = field(default="train", metadata={"help": "qrels split to train on when data is a BEIR folder"})
    cache_dir: str | None = field(default=None, metadata={"help": "Hugging Face datasets cache (None: its default)"})
    log_every: int = field(default=10, metadata={"help": "record the loss every this many steps"})
    dev: tuple[str, ...] = field(default=(), metadata={"help": "BEIR folder to score dense nDCG@10 on while training, e.g. ../shared/data/cosqa (repeatable); the published model is the step with the best mean"})
    eval_every: int = field(default=0, metadata={"help": "score --dev every this many steps (0: after the last step only)"})
    dev_split: str = field(default="dev", metadata={"help": "qrels split of the --dev folders"})
    dev_corpus_size: int = field(default=2000, metadata={"help": "documents per --dev set: every judged one plus seeded random others (keeps an evaluation to seconds)"})

    def __post_init__(self) -> None:
        def bad(message: str) -> RetrieverConfigError:
            return RetrieverConfigError(f"invalid retriever training option: {message}")

        object.__setattr__(self, "dev", tuple(self.dev))  # a JSON list (checkpoint, summary) compares equal to the tuple
        if self.eval_every < 0 or self.dev_corpus_size < 1:
            raise bad(f"--eval-every must be >= 0 and --dev-corpus-size >= 1, got {self.eval_every} and {self.dev_corpus_size}")
        if self.eval_every and not self.dev:
            raise bad("--eval-every needs at least one --dev folder to score")
        if self.sub_batch < 0:
            raise bad(f"--sub-batch must be >= 0, got {self.sub_batch}")
        if self.queue_size < 0:
            raise bad(f"--queue-size must be >= 0, got {self.queue_size}")
        if not 0.0 <= self.momentum < 1.0:
            raise bad(f"--momentum must be in [0, 1), got {self.momentum}")
        if self.temperature <= 0:
            raise bad(f"--temperature must be > 0, got {self.temperature}")
        if self.loss not in LOSSES:
            raise bad(f"--loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if not 0.0 < self.augment_rate <= 1.0:
            raise bad(f"--augment-rate must be in (0, 1], got {self.augment_rate}")
        for name in ("batch_size", "grad_accum", "epochs", "max_seq_length", "checkpoint_every", "keep_checkpoints", "log_every"):
            if getattr(self, name) < 1:
                raise bad(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        if self.steps is not None and self.steps < 1:
            raise bad(f"--steps must be >= 1, got {self.steps}")
        if self.hard_negatives < 0 or not 0.0 <= self.warmup_ratio < 1.0 or self.lr <= 0 or self.max_grad_norm < 0:
            raise bad("--hard-negatives and --max-grad-norm must be >= 0, --lr > 0 and --warmup-ratio in [0, 1)")
        if self.precision not in PRECISIONS:
            raise bad(f"--precision must be fp32, bf16 or auto, got {self.precision!r}")
        self.mochi_params  # noqa: B018 - parse now so errors surface before the model loads
        self.augment_operators  # noqa: B018
        needs_queue = [flag for flag, on in (("--mochi", bool(self.mochi)), ("--augment", bool(self.augment_operators)),
                                             ("--intra-modal", self.intra_modal)) if on]
        if self.queue_size == 0 and needs_queue:
            raise bad(f"{', '.join(needs_queue)} need the momentum encoder: pass --queue-size > 0")

    @property
    def mochi_params(self) -> MochiParams | None:
        if not self.mochi.strip():
            return None
        try:
            hardest, mixes, query_mixes = (int(part) for part in self.mochi.split(","))
        except ValueError:
            raise RetrieverConfigError(f"--mochi takes 'N,s,s2' (three integers, e.g. 64,32,16), got {self.mochi!r}") from None
        if hardest < 2 or mixes < 0 or query_mixes < 0 or mixes + query_mixes == 0:
            raise RetrieverConfigError(f"--mochi needs N >= 2 and s + s2 >= 1, got {self.mochi!r}")
        return MochiParams(hardest, mixes, query_mixes)

    @property
    def augment_operators(self) -> tuple[str, ...]:
        names = [part.strip() for part in self.augment.split(",") if part.strip()]
        if names == ["all"]:
            return AUGMENT_OPERATORS
        unknown = [name for name in names if name not in AUGMENT_OPERATORS]
        if unknown:
            raise RetrieverConfigError(f"--augment: unknown operator(s) {unknown}; choose from {', '.join(AUGMENT_OPERATORS)} or 'all'")
        return tuple(dict.fromkeys(names))
