"""PPO reuses the frozen base's rollout features in every epoch: bit-identical to recomputing them; the
device-resident rollout (torch-cpu renderer, frames kept as tensors) gives the host path's observations and actions;
the model picks its rollout buffer when it is built or loaded, and the policy's rollout step returns the base's
features."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.buffers import DictRolloutBuffer
from stable_baselines3.common.save_util import load_from_zip_file

from agents.run.cli import base_parser, resolve_config
from agents.run.config_loader import load_run_config
from agents.run.env_builder import make_vec_env
from agents.run.model_builder import build_model, load_model, save_model
from agents.trainers.device_frame_stack import DeviceFrameStack
from agents.trainers.rollout_buffer import DeviceRolloutBuffer, FrozenBaseRolloutBuffer, rollout_nbytes
from agents.trainers.rollout_env import device_resident_env
from agents.trainers.sidetune_ppo import SideTunePPO
from envs.task import observation_space
from policies.extractor import BASE_FEATURES_KEY
from policies.sb3_policy import SideTunePolicy

ROOT = Path(__file__).resolve().parent.parent

TINY = [
    "env.resolution=32",
    "env.max_steps=12",
    "ppo.n_steps=16",
    "ppo.batch_size=16",
    "ppo.n_epochs=3",
    "policy.features_dim=32",
    "run.device=cpu",
    "policy.base=random",
]


def tiny_config(tmp_path: Path, method: str, *extra: str):
    args = base_parser("test").parse_args(
        [f"run.runs_root={tmp_path / 'runs'}", *TINY, f"policy.method={method}", *extra]
    )
    return resolve_config(args, "ppo.yaml")


def tiny_model(tmp_path: Path, method: str, reuse: bool, *extra: str, device_resident: bool = False) -> SideTunePPO:
    """A seeded PPO model on 2 batched envs (episodes of at most 12 steps, so rollouts cross resets); `reuse`
    stores a frozen base's rollout features for the update, `device_resident` keeps frames on the policy's device."""
    cfg = tiny_config(tmp_path, method, *extra)
    venv = make_vec_env(cfg, 2, "train", 0)
    if device_resident:
        venv = device_resident_env(venv, cfg.run.device)
    return build_model(cfg, venv, device=cfg.run.device, store_base_features=reuse)


def trained(model, updates: int = 2) -> tuple[dict[str, torch.Tensor], list[float], int]:
    """Parameters after `updates` rollout+update cycles, every minibatch's log-prob and value sums, and how
    many times the base ran inside the updates."""
    sums: list[float] = []
    base_calls_in_update = [0]
    in_update = [False]
    evaluate, train = model.policy.evaluate_actions, model.train

    def recording_evaluate(obs, actions):
        values, log_prob, entropy = evaluate(obs, actions)
        sums.append(float(values.detach().sum() + log_prob.detach().sum()))
        return values, log_prob, entropy

    def flagged_train():
        in_update[0] = True
        train()
        in_update[0] = False

    def count(module, args):
        base_calls_in_update[0] += in_update[0]

    model.policy.evaluate_actions, model.train = recording_evaluate, flagged_train
    model.policy.features_extractor.encoder.base.register_forward_pre_hook(count)
    model.learn(updates * model.n_steps * model.n_envs)
    return {k: v.detach().clone() for k, v in model.policy.state_dict().items()}, sums, base_calls_in_update[0]


@pytest.mark.parametrize("method", ["features", "sidetune"])
def test_update_with_stored_base_features_is_bit_identical(tmp_path, method):
    initial = {k: v.clone() for k, v in tiny_model(tmp_path, method, False).policy.state_dict().items()}
    plain_params, plain_sums, plain_calls = trained(tiny_model(tmp_path, method, False))
    reuse_params, reuse_sums, reuse_calls = trained(tiny_model(tmp_path, method, True))
    assert plain_calls == 2 * 3 * 2 and reuse_calls == 0  # 2 updates x 3 epochs x 2 minibatches vs never
    assert len(plain_sums) == 12 and plain_sums == reuse_sums
    for key, value in plain_params.items():
        assert torch.equal(value, reuse_params[key]), key
    assert any(not torch.equal(initial[k], v) for k, v in reuse_params.items())  # the update did train


def test_recomputing_the_base_collects_and_trains_as_stock_sb3_ppo(tmp_path):
    """SideTunePPO's rollout is SB3's: with the base recomputed it trains exactly as SB3's own PPO class does
    (the stored-features path is checked against this one above)."""
    ours = tiny_model(tmp_path, "sidetune", False)
    ours_params, ours_sums, _ = trained(ours)  # each model trains right after it is built (seeded)
    cfg = tiny_config(tmp_path, "sidetune")
    stock = PPO(
        SideTunePolicy,
        make_vec_env(cfg, 2, "train", 0),
        policy_kwargs=ours.policy_kwargs,
        device="cpu",
        seed=cfg.run.seed,
        **cfg.ppo.sb3_kwargs(),
    )
    stock_params, stock_sums, _ = trained(stock)
    assert ours_sums == stock_sums
    for key, value in stock_params.items():
        assert torch.equal(value, ours_params[key]), key
    assert [e["r"] for e in ours.ep_info_buffer] == [e["r"] for e in stock.ep_info_buffer]


def test_features_method_stores_no_frames_and_sidetune_keeps_uint8_frames(tmp_path):
    features = tiny_model(tmp_path, "features", True).rollout_buffer
    sidetune = tiny_model(tmp_path, "sidetune", True).rollout_buffer
    assert isinstance(features, FrozenBaseRolloutBuffer) and "rgb" not in features.observations
    assert sidetune.observations["rgb"].dtype.name == "uint8"
    assert features.base_features.shape == (16, 2, 8, 2, 2)


@pytest.mark.parametrize("method", ["finetune", "scratch", "side-only"])
def test_methods_without_a_frozen_base_keep_sb3s_buffer(tmp_path, method):
    model = tiny_model(tmp_path, method, True)
    assert type(model.rollout_buffer) is DictRolloutBuffer and model.device_observation_keys == ()


def test_the_model_is_built_with_its_env_and_the_toolkits_buffer(tmp_path):
    """SB3's own hooks pick the buffer when the model is built: nothing is swapped in afterwards."""
    cfg = tiny_config(tmp_path, "sidetune", "env.render_device=torch-cpu", "frame_stack=2")
    venv = device_resident_env(make_vec_env(cfg, 2, "train", 0), "cpu")
    model = build_model(cfg, venv, device="cpu")
    assert isinstance(model, SideTunePPO) and model.env is venv and isinstance(venv, DeviceFrameStack)
    assert (
        model.rollout_buffer_class is FrozenBaseRolloutBuffer and type(model.rollout_buffer) is FrozenBaseRolloutBuffer
    )
    assert model.rollout_buffer_kwargs == {"rgb_key": "rgb", "keep_rgb": True, "device_keys": ("rgb",)}
    assert model.device_observation_keys == ("rgb",) and model.rollout_buffer.n_envs == 2
    with pytest.raises(TypeError, match="rollout_buffer_class"):
        SideTunePPO(model.policy_class, venv, rollout_buffer_class=DictRolloutBuffer)


def test_a_loaded_model_picks_its_buffer_for_the_env_it_gets(tmp_path):
    """The checkpoint holds no rollout wiring: loaded alone it keeps frames on the host, on a device-resident env
    it keeps them on the device."""
    cfg = tiny_config(tmp_path, "features", "env.render_device=torch-cpu")
    path = save_model(build_model(cfg, make_vec_env(cfg, 2, "train", 0), device="cpu"), tmp_path / "model.zip")
    data, _, _ = load_from_zip_file(path)
    assert not {"rollout_buffer_class", "rollout_buffer_kwargs", "store_base_features"} & set(data)
    alone = load_model(path, device="cpu")
    assert type(alone.rollout_buffer) is FrozenBaseRolloutBuffer and alone.device_observation_keys == ()
    venv = device_resident_env(make_vec_env(cfg, 2, "train", 0), "cpu")
    resumed = load_model(path, device="cpu", env=venv)
    assert resumed.env is venv and type(resumed.rollout_buffer) is FrozenBaseRolloutBuffer
    assert resumed.device_observation_keys == ("rgb",) and "rgb" not in resumed.rollout_buffer.observations


@pytest.mark.parametrize("method", ["features", "sidetune", "finetune"])
def test_the_policys_rollout_step_returns_the_frozen_bases_features(tmp_path, method):
    """`forward_with_base_features` is SB3's forward plus the base's features of the observations (None without a
    frozen base, or when they came precomputed with the observations)."""
    model = tiny_model(tmp_path, method, True)
    policy = model.policy
    obs, _ = policy.obs_to_tensor(model.env.reset())
    with torch.no_grad():
        actions, values, log_prob, base = policy.forward_with_base_features(obs, deterministic=True)
        sb3_actions, sb3_values, sb3_log_prob = policy(obs, deterministic=True)
        assert torch.equal(actions, sb3_actions) and torch.equal(values, sb3_values)
        assert torch.equal(log_prob, sb3_log_prob)
        if method == "finetune":
            assert base is None
            return
        extractor = policy.features_extractor
        expected = extractor.rgb.base_features(extractor.rgb_scaler(obs["rgb"], extractor.memory_format))
        assert base.shape == (2, 8, 2, 2) and torch.equal(base, expected)
        again = policy.forward_with_base_features({**obs, BASE_FEATURES_KEY: base}, deterministic=True)
        assert again[3] is None and torch.equal(again[1], values)


def test_the_frozen_base_buffer_refuses_a_step_without_the_bases_features(tmp_path):
    buffer = tiny_model(tmp_path, "sidetune", True).rollout_buffer
    obs = {k: np.zeros((2, *s.shape), s.dtype) for k, s in buffer.observation_space.spaces.items()}
    step = (obs, np.zeros((2, 1)), np.zeros(2), np.zeros(2), torch.zeros(2), torch.zeros(2))
    with pytest.raises(RuntimeError, match="no frozen-base features"):
        buffer.add(*step)
    with pytest.raises(RuntimeError, match="expected"):
        buffer.add(*step, base_features=torch.zeros(1, 8, 2, 2))
    buffer.add(*step, base_features=torch.ones(2, 8, 2, 2))
    assert buffer.pos == 1 and torch.equal(buffer.base_features[0], torch.ones(2, 8, 2, 2))


def test_rollout_nbytes_is_what_sb3s_buffer_holds_and_the_gpu_preset_fits_in_host_memory(tmp_path):
    model = tiny_model(tmp_path, "sidetune", False)
    held = sum(a.nbytes for a in model.rollout_buffer.observations.values())
    assert rollout_nbytes(model.observation_space, model.n_steps, model.n_envs) == held
    assert model.rollout_buffer.observations["rgb"].dtype.name == "uint8"

    gpu = load_run_config("ppo_gpu")  # the preset as written (no machine checks: it asks for a CUDA renderer)
    k = gpu.frame_stack
    stacked = spaces.Dict(
        {  # what VecFrameStack makes of the preset's observation space
            key: spaces.Box(np.min(s.low), np.max(s.high), (s.shape[0] * k, *s.shape[1:]), s.dtype)
            for key, s in observation_space(gpu.env).spaces.items()
        }
    )
    assert stacked["rgb"].shape == (12, 256, 256) and stacked["rgb"].dtype == np.uint8
    n_envs = int(gpu.train.num_envs)
    assert n_envs >= 32 and rollout_nbytes(stacked, int(gpu.ppo.n_steps), n_envs) < 3e9  # 2.2 GB


def rollout_record(model, updates: int = 2) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, torch.Tensor]]:
    """Every rollout step's rgb observation and actions (as numpy), and the parameters after `updates` cycles."""
    frames: list[np.ndarray] = []
    actions: list[np.ndarray] = []
    add = model.rollout_buffer.add

    def recording_add(obs, action, *args, **kwargs):
        rgb = obs["rgb"]
        frames.append(rgb.cpu().numpy() if isinstance(rgb, torch.Tensor) else np.array(rgb))
        actions.append(np.array(action))
        return add(obs, action, *args, **kwargs)

    model.rollout_buffer.add = recording_add
    model.learn(updates * model.n_steps * model.n_envs)
    return frames, actions, {k: v.detach().clone() for k, v in model.policy.state_dict().items()}


CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")


@pytest.mark.parametrize(
    "method,render,frames",
    [
        ("sidetune", "torch-cpu", 1),
        ("finetune", "torch-cpu", 1),
        ("sidetune", "torch-cpu", 3),
        pytest.param("sidetune", "cuda", 1, marks=CUDA),
        pytest.param("sidetune", "cuda", 4, marks=CUDA),
    ],
)
def test_device_resident_rollout_matches_the_host_path_on_torch_cpu(tmp_path, method, render, frames):
    """env.render_device=torch-cpu (the CUDA code path on the CPU; cuda where there is one): the frames stay tensors
    (stacked on the device too) from the renderer to the buffer, and give the host path's observations, actions and
    trained parameters for the same seed (bit for bit on the CPU, to rounding on CUDA)."""
    policy_device = "cuda" if render == "cuda" else "cpu"
    overrides = (f"env.render_device={render}", f"run.device={policy_device}", f"frame_stack={frames}")
    host = tiny_model(tmp_path, method, True, *overrides)  # each model trains right after it is built (seeded)
    assert host.device_observation_keys == ()
    host_frames, host_actions, host_params = rollout_record(host)
    device = tiny_model(tmp_path, method, True, *overrides, device_resident=True)
    assert device.device_observation_keys == ("rgb",)
    assert isinstance(device.rollout_buffer, DeviceRolloutBuffer)
    device_frames, device_actions, device_params = rollout_record(device)
    assert len(device_frames) == 2 * 16
    assert device.rollout_buffer.device_observations["rgb"].dtype == torch.uint8
    for a, b in zip(host_frames, device_frames, strict=False):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(host_actions, device_actions, strict=False):
        np.testing.assert_array_equal(a, b)
    for key, value in host_params.items():
        if render == "cuda":
            # Same inputs, same kernels, yet not bit for bit on CUDA: cuDNN may choose a different (and for some
            # backward passes nondeterministic, atomic-add) algorithm per call, and TF32 rounds fp32 products
            # (cuDNN's default). The parameters agree to rounding; the frames and actions above stay equal.
            torch.testing.assert_close(value, device_params[key], rtol=1e-4, atol=1e-5, msg=key)
        else:
            assert torch.equal(value, device_params[key]), key
    assert device.rollout_buffer.device_observations["rgb"].device.type == device.device.type
    assert isinstance(device.env, DeviceFrameStack) == (frames > 1)
    assert device.rollout_buffer.device_observations["rgb"].shape[-3] == 3 * frames


def test_device_resident_rollout_needs_a_torch_renderer_on_the_policys_device(tmp_path):
    """The numba renderer (env.render_device=cpu) keeps the host path."""
    model = tiny_model(tmp_path, "sidetune", True, device_resident=True)
    assert model.device_observation_keys == ()
    assert isinstance(model.rollout_buffer, FrozenBaseRolloutBuffer) and model.rollout_buffer.device_observations == {}
