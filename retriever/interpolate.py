"""Weight-space interpolation of a fine-tuned retriever with the model it started from (WiSE-FT).

Fine-tuning a bi-encoder on mined docstring pairs raises nDCG@10 on docstring-style queries (csn_ruby) while
lowering it on web queries (cosqa): the tuned weights forget part of what made the base robust. WiSE-FT
(Wortsman et al., "Robust fine-tuning of zero-shot models", CVPR 2022) keeps both: the published weights are
``(1 - alpha) * base + alpha * tuned``, one mix per tensor, no training. Both models must share one architecture
(the tuned one was trained from the base); ``alpha`` 0 is the base, 1 the tuned model. The mix is measured, not
assumed: ``benchmarks/retriever_eval.py`` scores it beside both ends.
"""
from __future__ import annotations

import json
from pathlib import Path

from codehunt.index.errors import BadInputError
from codehunt.retriever.model import TRAINING_INFO


def interpolate_retrievers(base: str, tuned: str, alpha: float, output_dir: Path) -> Path:
    """Write ``(1 - alpha) * base + alpha * tuned`` as a model directory that loads with ``SentenceTransformer``.

    The tuned model's configuration, tokenizer and prompts are kept; ``codehunt_training.json`` records both
    parents and ``alpha``. Written atomically: an interrupted run leaves any earlier ``output_dir`` intact.
    """
    import torch

    from codehunt.index.encoder import load_sentence_transformer
    from codehunt.index.storage import staging_directory

    if not 0.0 <= alpha <= 1.0:
        raise BadInputError(f"alpha must be between 0 (the base) and 1 (the tuned model), got {alpha}")
    base_model = load_sentence_transformer(base, "cpu")
    tuned_model = load_sentence_transformer(tuned, "cpu")
    base_state, tuned_state = base_model.state_dict(), tuned_model.state_dict()
    if base_state.keys() != tuned_state.keys():
        missing = sorted(base_state.keys() ^ tuned_state.keys())[:3]
        raise BadInputError(
            f"{tuned} and {base} have different architectures (e.g. {', '.join(missing)}); "
            "interpolate a model with the base it was trained from"
        )
    mixed = {}
    for name, tuned_tensor in tuned_state.items():
        base_tensor = base_state[name]
        if base_tensor.shape != tuned_tensor.shape:
            raise BadInputError(
                f"{name} is {tuple(base_tensor.shape)} in {base} but {tuple(tuned_tensor.shape)} in {tuned}; "
                "interpolate a model with the base it was trained from"
            )
        if torch.is_floating_point(tuned_tensor):
            mixed[name] = torch.lerp(base_tensor.to(tuned_tensor.dtype), tuned_tensor, alpha)
        else:  # integer buffers (position ids) are the same in both
            mixed[name] = tuned_tensor
    tuned_model.load_state_dict(mixed)
    info = {"interpolation": {"method": "WiSE-FT", "base": base, "tuned": tuned, "alpha": alpha}}
    tuned_info = Path(tuned) / TRAINING_INFO
    if tuned_info.is_file():
        info["tuned_training"] = json.loads(tuned_info.read_text(encoding="utf-8"))
    output_dir = Path(output_dir)
    with staging_directory(output_dir) as staging:
        tuned_model.save(str(staging), create_model_card=False)
        (staging / TRAINING_INFO).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return output_dir
