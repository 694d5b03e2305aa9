"""WiSE-FT interpolation of a tuned retriever with its base, on the real packaged model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from codehunt.cli import app
from codehunt.index.encoder import load_sentence_transformer
from codehunt.index.errors import BadInputError
from codehunt.retriever.interpolate import interpolate_retrievers

QUERY = ["parse an ISO 8601 date string"]
runner = CliRunner()


@pytest.fixture(scope="module")
def tuned_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The packaged model with every weight matrix of its first layer moved: a stand-in for a trained model."""
    model = load_sentence_transformer("default", "cpu")
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "layer.0." in name:
                parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.05)
    path = tmp_path_factory.mktemp("tuned") / "tuned"
    model.save(str(path), create_model_card=False)
    return path


def first_layer(path: Path | str) -> torch.Tensor:
    state = load_sentence_transformer(str(path), "cpu").state_dict()
    (name,) = [n for n in state if n.endswith("layer.0.attention.self.query.weight")]
    return state[name]


def test_the_ends_are_the_two_parents_and_the_middle_is_their_mean(tuned_dir: Path, tmp_path: Path) -> None:
    base_weights, tuned_weights = first_layer("default"), first_layer(tuned_dir)
    assert not torch.allclose(base_weights, tuned_weights)
    for alpha, expected in ((0.0, base_weights), (1.0, tuned_weights), (0.5, (base_weights + tuned_weights) / 2)):
        out = interpolate_retrievers("default", str(tuned_dir), alpha, tmp_path / f"mix-{alpha}")
        assert torch.allclose(first_layer(out), expected, atol=1e-6)
        info = json.loads((out / "codehunt_training.json").read_text(encoding="utf-8"))
        assert info["interpolation"]["alpha"] == alpha
    base_vector = load_sentence_transformer("default", "cpu").encode(QUERY)
    mixed_vector = load_sentence_transformer(str(tmp_path / "mix-0.0"), "cpu").encode(QUERY)
    np.testing.assert_allclose(mixed_vector, base_vector, atol=1e-5)


def test_different_architectures_are_refused(tmp_path: Path) -> None:
    model = load_sentence_transformer("default", "cpu")
    encoder = model[0].auto_model
    encoder.encoder.layer = encoder.encoder.layer[:5]
    encoder.config.num_hidden_layers = 5
    smaller = tmp_path / "smaller"
    model.save(str(smaller), create_model_card=False)
    with pytest.raises(BadInputError, match="different architectures"):
        interpolate_retrievers("default", str(smaller), 0.5, tmp_path / "out")
    assert not (tmp_path / "out").exists(), "nothing half-written"


def test_cli_checks_alpha_and_keeps_an_existing_output(tuned_dir: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "interpolate", str(tuned_dir), "-o", str(tmp_path / "m"), "--alpha", "1.5"])
    assert result.exit_code == 2 and "--alpha" in result.output
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine", encoding="utf-8")
    result = runner.invoke(app, ["train", "interpolate", str(tuned_dir), "-o", str(taken)])
    assert result.exit_code == 1 and "--overwrite" in result.output
    assert (taken / "keep.txt").read_text(encoding="utf-8") == "mine"
    result = runner.invoke(app, ["train", "interpolate", str(tuned_dir), "-o", str(taken), "--alpha", "0.25", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert not (taken / "keep.txt").exists()
    assert torch.allclose(first_layer(taken), 0.75 * first_layer("default") + 0.25 * first_layer(tuned_dir), atol=1e-6)
