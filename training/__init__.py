"""The training base shared by the retriever and the reranker trainers.

What both runs do the same way lives here, below both, as sentence-transformers keeps its trainer,
sampler and evaluation in ``base/``: retriever/ and reranker/ import from here, never from each other.

* ``config``: the run-only fields, checkpoint folder rule and JSON round trip of a train config;
* ``sampler``: ``BatchOrder``, the seeded, resumable order of training rows;
* ``run_setup``: accelerator, AdamW + linear schedule, clipping, bf16 autocast, run-directory rules;
* ``checkpoint``: the checkpoint layout (safetensors + JSON, atomic publishing) and the resume checks;
* ``rng``: every generator's state, saved and restored for exact resumption;
* ``loop``: the step loop, the run's share of a checkpoint, and the training summary.
* ``length_groups``: length-sorted sub-batches of a batch's texts, and their outputs put back in order.

Nothing heavy is imported here; torch and accelerate are imported inside the functions that need them.
"""
