"""Side networks, side initialisations, precisions and pretraining tasks are registered tables: a toy entry added
in one place is a valid config value, a CLI choice and is built or trained; an unknown name is a one-line
ConfigError with a did-you-mean hint."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from agents.pretraining.tasks import PretrainTask, pretrain_task_names, register_pretrain_task
from common.config import ConfigError
from policies import bases
from policies.base_taskonomy import TaskonomyEncoder
from policies.freeze import PRECISIONS, Frozen, PrecisionSpec, precision_names
from policies.methods import PolicyConfig, build_encoder
from policies.precision import resolve_train_precision
from policies.side import (
    SIDE_INITS,
    SIDES,
    SideInitSpec,
    SideSpec,
    build_side,
    register_side,
    register_side_init,
    side_init_names,
    side_names,
)


def test_the_registered_names():
    assert side_names() == ("fcn5", "fcn5_small", "copy", "compact", "taskonomy")
    assert side_init_names() == ("auto", "distill", "xavier", "copy", "zero", "default")
    assert precision_names() == ("auto", "float32", "bfloat16")
    assert pretrain_task_names() == ("curvature", "denoising") == bases.pretrained_base_names()


def test_a_base_architecture_alias_names_the_side_of_that_architecture():
    assert PolicyConfig(side="resnet50").side == "taskonomy"  # resolved once, as policy.base_arch is
    assert isinstance(build_side("resnet50", "compact"), TaskonomyEncoder)
    with pytest.raises(KeyError, match="side network 'vgg' is not registered"):
        build_side("vgg", "compact")


@pytest.mark.parametrize(
    ("field", "value", "hint"),
    [
        ("side", "fcn5_smal", "fcn5_small"),
        ("side_init", "xavir", "xavier"),
        ("base_precision", "bfloat", "bfloat16"),
        ("train_precision", "float", "float32"),
    ],
)
def test_an_unknown_name_is_a_one_line_config_error_with_a_hint(field, value, hint):
    with pytest.raises(ConfigError) as caught:
        PolicyConfig(**{field: value})
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"policy.{field}: {value!r} is unknown")
    assert f"did you mean `{hint}`?" in message


class Pool16(nn.Module):
    """A toy side network: a 16x16 average pool and a 1x1 conv to the 8-channel contract."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(nn.functional.avg_pool2d(x, 16))


def _ones_init(side: nn.Module, base: nn.Module | None, weights: str | Path | None) -> nn.Module:
    for parameter in side.parameters():
        nn.init.ones_(parameter)
    return side


@pytest.fixture()
def toy_side_and_init():
    """A side network and an initialisation, each registered for one test (one entry each)."""
    register_side(SideSpec("pool16", "pooled pixels", lambda base_arch: Pool16()))
    register_side_init(SideInitSpec("ones", "every weight 1", _ones_init))
    yield
    SIDES.unregister("pool16")
    SIDE_INITS.unregister("ones")


def test_a_registered_side_and_init_are_config_values_cli_choices_and_built(toy_side_and_init, capsys):
    from policies.distill import main as distill

    config = PolicyConfig(method="side-only", side="pool16", side_init="ones")
    encoder = build_encoder(config, (32, 32))
    assert isinstance(encoder.side, Pool16) and encoder.side_init == "ones"
    assert torch.equal(encoder.side.conv.weight, torch.ones_like(encoder.side.conv.weight))
    assert encoder(torch.zeros(1, 3, 32, 32)).shape == (1, 8, 2, 2)
    with pytest.raises(SystemExit):  # the distillation CLI's --side choices come from the table:
        distill(["--base", "random", "--side", "pool16"])  # accepted, then stopped by the missing --images
    err = capsys.readouterr().err
    assert "invalid choice" not in err and "--images" in err
    with pytest.raises(SystemExit):
        distill(["--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "pool16: pooled pixels" in help_text  # the help lists every side with its description
    SIDES.unregister("pool16")
    with pytest.raises(ConfigError, match="policy.side: 'pool16' is unknown"):
        PolicyConfig(side="pool16")


def test_a_registered_precision_is_valid_for_both_precision_fields():
    PRECISIONS.register(PrecisionSpec("float64", "float64 everywhere", lambda device: torch.float64))
    try:
        config = PolicyConfig(base_precision="float64", train_precision="float64")
        assert Frozen(nn.Identity(), precision=config.base_precision).dtype_for(torch.device("cpu")) == torch.float64
        assert resolve_train_precision(config.train_precision, "cpu") == "float64"
    finally:
        PRECISIONS.unregister("float64")
    with pytest.raises(ValueError, match="train precision 'float64' is unknown"):
        resolve_train_precision("float64", "cpu")


def _grey_batch(clean: torch.Tensor, labels: np.ndarray | None, generator: torch.Generator | None):
    return clean, clean.mean(dim=1, keepdim=True), None


GREY = PretrainTask(
    name="grey",
    description="the image's grey level",
    out_channels=1,
    sensors=(),
    labels=None,
    batch=_grey_batch,
    loss=lambda pred, target, mask: (pred - target).abs().mean(),
    loss_text=lambda resolution: "L1 on the grey level",
    trivial_name="zero",
    trivial=lambda target, mean_image: torch.zeros_like(target),
    input_baseline=None,
    distill_loss="l1",
    panels=lambda decoded, clean, labels, x: [("decoded grey", decoded[:, 0].numpy())],
)


@pytest.fixture()
def toy_task():
    """A pretraining task registered for one test (one entry)."""
    register_pretrain_task(GREY)
    yield GREY
    from agents.pretraining.tasks import PRETRAIN_TASKS

    PRETRAIN_TASKS.unregister("grey")


def test_a_registered_pretraining_task_trains_and_names_a_base(toy_task, tmp_path, monkeypatch, capsys):
    from agents.commands.pretrain_base import main, parse_args
    from agents.pretraining.train import pretrain_base
    from agents.run.cli import add_policy_flags, base_parser
    from policies.checkpoints import read_checkpoint_metadata

    assert parse_args(["--task", "grey"]).task == "grey"  # a CLI choice
    parser = base_parser("test")
    add_policy_flags(parser)
    assert "grey" in parser.format_help()  # --base's help lists the pretrained bases
    result = pretrain_base(
        "grey", "compact", 32, 8, 2, 4, 0, tmp_path / "grey_compact.pth", progress=False, heldout_images=4
    )
    assert result.decoder.out_channels == 1
    assert set(result.metrics) >= {"heldout_loss", "trivial_loss"} and "identity_loss" not in result.metrics
    assert read_checkpoint_metadata(result.paths["encoder"]) == {"task": "grey", "arch": "compact", "resolution": 32}
    monkeypatch.setattr(bases, "WEIGHTS_DIR", tmp_path)  # where a shipped base of the task would be
    encoder = build_encoder(PolicyConfig(method="features", base="grey"), (32, 32))
    loaded, trained = encoder.base.module.state_dict(), result.encoder.state_dict()
    assert loaded.keys() == trained.keys() and all(torch.equal(loaded[k], trained[k]) for k in loaded)
    with pytest.raises(ConfigError, match=r"^pretrain.task: 'gray' is unknown \(did you mean `grey`\?"):
        main(["pretrain.task=gray"])


def test_an_unknown_pretraining_task_is_a_config_error_and_not_a_cli_choice(capsys):
    from agents.commands.pretrain_base import main

    with pytest.raises(ConfigError, match=r"^pretrain.task: 'curvatur' is unknown \(did you mean `curvature`\?"):
        main(["pretrain.task=curvatur"])
    with pytest.raises(SystemExit):
        main(["--task", "grey"])
    assert "invalid choice: 'grey'" in capsys.readouterr().err
