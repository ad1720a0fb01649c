"""The side-tuning set-up the experiments rely on: the side smaller than the base, initialised from it, α in its
own optimizer group, a base used only at its pretraining resolution, and the RGB head's options."""

import pytest
import torch

from agents.pretraining.dataset import render_set
from policies.bases import build_base, load_base
from policies.checkpoints import ResolutionMismatchError, save_encoder_weights
from policies.contract import uint8_to_unit_range
from policies.extractor import policy_kwargs
from policies.methods import PolicyConfig, build_encoder
from policies.optim import SideTuneAdam, is_alpha
from policies.side import build_side, side_weights_path
from tests.test_policies_extractor import TinyDictEnv, make_ppo


def count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_the_presets_side_is_smaller_than_the_compact_base():
    assert count(build_side("fcn5_small", "compact")) < count(build_base("compact")) / 4
    assert count(build_side("fcn5", "taskonomy")) < count(build_base("taskonomy")) / 20  # the paper's pair


@pytest.mark.parametrize("base", ["curvature", "denoising"])
def test_shipped_distilled_side_starts_close_to_its_base(base):
    """At step 0 side-tuning is (nearly) features: the shipped side reproduces its base's features on images."""
    assert side_weights_path("fcn5_small", base, "compact", 128).is_file()
    enc = build_encoder(
        PolicyConfig(method="sidetune", base=base, side="fcn5_small", side_init="distill"), (128, 128)
    ).eval()
    fresh = build_encoder(
        PolicyConfig(method="sidetune", base=base, side="fcn5_small", side_init="xavier"), (128, 128)
    ).eval()
    x = uint8_to_unit_range(render_set("denoising", "heldout", 16, 128, seed=7).rgb)  # held-out buildings
    with torch.no_grad():
        b = enc.base(x)
        error = float(((enc.side(x) - b) ** 2).mean() / b.var(dim=0).mean())
        error_at_init = float(((fresh.side(x) - b) ** 2).mean() / b.var(dim=0).mean())
    assert error < 0.5 and error < 0.25 * error_at_init  # far closer to the base than a fresh side or the mean


def test_auto_side_init_distils_from_shipped_bases_and_says_what_it_did():
    auto = dict(method="sidetune", side="fcn5_small", side_init="auto")
    assert build_encoder(PolicyConfig(base="random", **auto), (32, 32)).side_init == "xavier"
    assert build_encoder(PolicyConfig(base="curvature", **auto), (128, 128)).side_init.startswith("distill (")
    with pytest.raises(ValueError, match="only the shipped bases"):
        build_encoder(PolicyConfig(method="sidetune", base="random", side_init="distill"), (32, 32))


def test_a_base_runs_only_at_its_pretraining_resolution(tmp_path):
    path = save_encoder_weights(build_base("compact"), tmp_path / "b.pth")
    payload = torch.load(path, weights_only=True)
    payload["resolution"] = 128
    torch.save(payload, path)
    config = PolicyConfig(method="features", base=str(path))
    with pytest.raises(
        ResolutionMismatchError, match="pretrained at 128x128 but the rgb observation is 64x64.*env.resolution=128"
    ):
        build_encoder(config, (64, 64))
    build_encoder(config, (128, 128))
    with pytest.warns(UserWarning, match="allowed by policy.allow_resolution_mismatch"):
        build_encoder(PolicyConfig(method="features", base=str(path), allow_resolution_mismatch=True), (64, 64))
    with pytest.raises(ResolutionMismatchError):
        load_base("curvature", "compact", resolution=64)  # the shipped bases are 128x128


def test_alpha_has_its_own_learning_rate_and_no_weight_decay_even_under_a_schedule():
    torch.manual_seed(0)
    config = PolicyConfig(method="sidetune", base="random", side="fcn5_small", alpha_lr=0.05)
    model = make_ppo(config, learning_rate=lambda progress: 1e-4 * progress)
    optimizer = model.policy.optimizer
    assert isinstance(optimizer, SideTuneAdam)
    group = optimizer.alpha_group()
    assert group is not None and [is_alpha(p) for p in group["params"]] == [True] and group["weight_decay"] == 0.0
    logit = group["params"][0]
    before = logit.detach().item()
    model.learn(32)  # SB3 resets every group's lr to the schedule's value before each update
    assert group["lr"] == 0.05
    # Adam's first step moves each parameter by about lr: α's logit by ~0.05, not by ~1e-4
    assert abs(logit.detach().item() - before) > 0.01
    net = optimizer.param_groups[0]
    assert net["lr"] < 1e-4 and not any(is_alpha(p) for p in net["params"])


def test_head_options_tile_the_goal_narrow_the_map_and_drop_out():
    env = TinyDictEnv(rgb_size=64, map_size=84)
    wide = PolicyConfig(
        method="features",
        base="random",
        head_channels=32,
        head_kernel=3,
        head_stride=1,
        tile_goal=True,
        map_channels=8,
        fuse_dropout=0.5,
    )
    kwargs = policy_kwargs(wide)
    extractor = kwargs["features_extractor_class"](env.observation_space, **kwargs["features_extractor_kwargs"])
    assert extractor.rgb.out_dim == 32 * 4 * 4  # 3x3 'same' conv over the 4x4 features of a 64x64 image
    assert extractor.tiled_keys == ["target"] and "target" not in extractor.towers
    assert extractor.rgb.head.conv.in_channels == 8 + 3  # features + the tiled goal
    obs = {k: torch.as_tensor(v[None]).float() for k, v in env.observation_space.sample().items()}
    extractor.train()
    a, b = extractor(obs), extractor(obs)
    assert not torch.equal(a, b)  # dropout active in training
    extractor.eval()
    assert torch.equal(extractor(obs), extractor(obs))
    narrow = PolicyConfig(method="features", base="random")
    kwargs = policy_kwargs(narrow)
    default = kwargs["features_extractor_class"](env.observation_space, **kwargs["features_extractor_kwargs"])

    def map_dim(e):
        return (
            e.fuse[0].in_features
            - e.rgb.out_dim
            - sum(t[-2].out_features for k, t in e.towers.items() if k == "target")
        )

    assert map_dim(default) == 32 * 7 * 7 and map_dim(extractor) == 8 * 7 * 7
