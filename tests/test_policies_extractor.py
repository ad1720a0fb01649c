"""SB3 integration: MultiInputPolicy with ortho_init, shared encoder, frame stacks, save/load with α."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

from agents.trainers.alpha_callback import AlphaCallback
from policies.base_compact import CompactEncoder
from policies.checkpoints import save_encoder_weights
from policies.extractor import MaxFilter3x3, SideTuneExtractor, policy_kwargs
from policies.methods import PolicyConfig
from policies.sb3_policy import SideTunePolicy


class TinyDictEnv(gym.Env):
    """Random observations with the project's Dict layout (rgb, map, target), k stacked frames."""

    def __init__(self, rgb_size=32, map_size=40, frames=1, rgb_key="rgb"):
        self.observation_space = spaces.Dict(
            {
                rgb_key: spaces.Box(0, 255, (3 * frames, rgb_size, rgb_size), np.uint8),
                "map": spaces.Box(0, 255, (3 * frames, map_size, map_size), np.uint8),
                "target": spaces.Box(-np.inf, np.inf, (3 * frames,), np.float32),
            }
        )
        self.action_space = spaces.Discrete(3)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return (
            self.observation_space.sample(),
            float(self.np_random.normal()),
            False,
            self.np_random.random() < 0.05,
            {},
        )


@pytest.fixture(scope="module")
def base_checkpoint(tmp_path_factory):
    torch.manual_seed(123)
    return str(save_encoder_weights(CompactEncoder(), tmp_path_factory.mktemp("base") / "base.pth"))


def make_ppo(config: PolicyConfig, env=None, **kwargs) -> PPO:
    env = env or make_vec_env(TinyDictEnv, n_envs=2, seed=0)
    return PPO(
        "MultiInputPolicy",
        env,
        policy_kwargs=policy_kwargs(config),
        n_steps=16,
        batch_size=16,
        n_epochs=1,
        seed=0,
        device="cpu",
        **kwargs,
    )


@pytest.mark.parametrize("method", ["sidetune", "finetune"])
def test_ortho_init_keeps_pretrained_and_copied_weights(base_checkpoint, method):
    checkpoint = torch.load(base_checkpoint, weights_only=True)["state_dict"]
    config = PolicyConfig(method=method, base=base_checkpoint, side="copy", side_init="copy")
    model = make_ppo(config)
    assert model.policy.ortho_init
    encoder = model.policy.features_extractor.encoder
    base = encoder.base.module if method == "sidetune" else encoder.base
    assert all(torch.equal(base.state_dict()[k], v) for k, v in checkpoint.items())
    if method == "sidetune":
        assert all(torch.equal(encoder.side.state_dict()[k], v) for k, v in checkpoint.items())
    head = model.policy.features_extractor.fuse[0].weight  # heads still get SB3's orthogonal init
    gram = head @ head.T if head.shape[0] <= head.shape[1] else head.T @ head
    torch.testing.assert_close(gram, 2.0 * torch.eye(gram.shape[0]), atol=1e-4, rtol=0)


def test_one_shared_encoder_and_one_copy_of_the_base(base_checkpoint):
    model = make_ppo(PolicyConfig(base=base_checkpoint))
    policy = model.policy
    assert policy.pi_features_extractor is policy.vf_features_extractor is policy.features_extractor
    n_base_tensors = len(policy.features_extractor.encoder.base.state_dict())
    state = policy.state_dict(keep_vars=True)
    base_storages = {v.data_ptr() for k, v in state.items() if ".encoder.base." in k and v.numel() > 0}
    assert len([k for k in state if ".encoder.base." in k]) >= n_base_tensors  # reachable under several names
    assert len(base_storages) <= n_base_tensors  # but stored once


def test_training_keeps_the_frozen_base_and_moves_alpha_then_save_load_round_trips(base_checkpoint, tmp_path):
    model = make_ppo(PolicyConfig(base=base_checkpoint, alpha_init=0.5), learning_rate=1e-2)
    extractor = model.policy.features_extractor
    base_before = {k: v.clone() for k, v in extractor.encoder.base.state_dict().items()}
    model.learn(32)
    assert all(torch.equal(base_before[k], v) for k, v in extractor.encoder.base.state_dict().items())
    alpha = extractor.alphas()["alpha"]
    assert alpha != 0.5 and 0.0 <= alpha <= 1.0
    model.save(tmp_path / "model.zip")
    loaded = PPO.load(tmp_path / "model.zip", device="cpu")
    assert loaded.policy.features_extractor.alphas() == extractor.alphas()
    original, restored = model.policy.state_dict(), loaded.policy.state_dict()
    assert set(original) == set(restored)
    assert all(torch.equal(original[k], restored[k]) for k in original)
    obs = model.env.observation_space.sample()
    assert model.predict(obs, deterministic=True)[0] == loaded.predict(obs, deterministic=True)[0]


def test_alpha_callback_drives_the_stage_curriculum(base_checkpoint):
    config = PolicyConfig(base=base_checkpoint, alpha_learned=False, alpha_schedule="stage", alpha_switch_step=16)
    model = make_ppo(config)
    assert model.policy.features_extractor.alphas() == {"alpha": 1.0}
    model.learn(32, callback=AlphaCallback())
    assert model.policy.features_extractor.alphas() == {"alpha": 0.0}


def test_base_stays_in_eval_mode_under_policy_train(base_checkpoint):
    model = make_ppo(PolicyConfig(base=base_checkpoint))
    model.policy.set_training_mode(True)
    encoder = model.policy.features_extractor.encoder
    assert not any(m.training for m in encoder.base.modules())
    assert encoder.side.training


def test_a_nan_observation_is_named_by_its_key_not_by_the_action_distribution():
    model = make_ppo(PolicyConfig(method="scratch"))
    obs = TinyDictEnv().observation_space.sample()
    obs["target"][1] = np.nan
    with pytest.raises(
        ValueError, match=r"^observation 'target': non-finite values \(NaN or inf\) in batch rows \[0\]"
    ):
        model.predict(obs)


def test_finite_check_catches_opposite_infinities_and_passes_finite_values_whose_sum_overflows():
    from policies.contract import check_finite_observations

    check_finite_observations({"x": torch.full((2, 4), 3e38)})  # finite, though their sum is inf
    with pytest.raises(ValueError, match=r"in batch rows \[1\]"):
        check_finite_observations({"x": torch.tensor([[1.0, 2.0], [float("inf"), -float("inf")]])})  # sum: nan


def test_frame_stack_other_keys_and_input_scaling():
    env = TinyDictEnv(rgb_size=32, map_size=40, frames=2, rgb_key="camera")
    extractor = SideTuneExtractor(env.observation_space, rgb_key="camera", method="features")
    obs = {
        k: torch.as_tensor(np.stack([env.observation_space.sample()[k] for _ in range(3)])).float()
        for k in env.observation_space.spaces
    }
    assert extractor(obs).shape == (3, 512)
    stacked = extractor.rgb.features(extractor.rgb_scaler(obs["camera"]))
    second_frame = extractor.encoder(obs["camera"][:, 3:6] / 127.5 - 1)
    assert stacked.shape == (3, 16, 2, 2) and torch.allclose(stacked[:, 8:], second_frame, atol=1e-5)
    normalized = SideTuneExtractor(env.observation_space, rgb_key="camera", method="features", images_normalized=True)
    torch.testing.assert_close(normalized.rgb_scaler(obs["camera"] / 255.0), extractor.rgb_scaler(obs["camera"]))
    assert extractor.rgb_scaler(torch.tensor([0.0, 255.0])).tolist() == [-1.0, 1.0]
    with pytest.raises(KeyError, match="rgb_key 'rgb' is not in the observation space"):
        SideTuneExtractor(env.observation_space)


def test_paper_sized_observations_forward():
    env = TinyDictEnv(rgb_size=128, map_size=84)
    extractor = SideTuneExtractor(env.observation_space, method="sidetune")
    obs = {k: torch.as_tensor(v).float()[None] for k, v in env.observation_space.sample().items()}
    assert extractor(obs).shape == (1, 512)
    assert extractor.encoder(torch.zeros(1, 3, 128, 128)).shape == (1, 8, 8, 8)


@pytest.mark.parametrize("memory_format", [torch.contiguous_format, torch.channels_last])
def test_map_max_filter_equals_max_pool(memory_format):
    """The map tower's separable max filter gives exactly nn.MaxPool2d(3, 1, 1)'s values (edges included)."""
    x = torch.randn(4, 3, 37, 41).contiguous(memory_format=memory_format)
    assert torch.equal(MaxFilter3x3()(x), torch.nn.MaxPool2d(3, stride=1, padding=1)(x))


def test_max_filter_on_uint8_then_scaling_equals_scaling_then_max_pool():
    """The map tower filters the raw uint8 map before scaling it: exactly the values of scaling, then max-pooling."""
    x = torch.randint(0, 256, (4, 3, 37, 41), dtype=torch.uint8)
    scaled_then_pooled = torch.nn.MaxPool2d(3, stride=1, padding=1)(x.float().div(127.5).sub(1.0))
    assert torch.equal(MaxFilter3x3()(x).float().div(127.5).sub(1.0), scaled_then_pooled)


def test_uint8_images_skip_sb3s_cast_and_give_exactly_the_float_paths_outputs(base_checkpoint):
    """SideTunePolicy hands uint8 image keys to the extractor uncast (one fused cast + scale + layout pass);
    features and log-probs are bit-identical to SB3's float path, and so are the gradients."""
    env = make_vec_env(TinyDictEnv, n_envs=2, seed=0)
    kwargs = policy_kwargs(PolicyConfig(method="sidetune", base=base_checkpoint, side="fcn5_small"))
    model = PPO(SideTunePolicy, env, policy_kwargs=kwargs, n_steps=16, batch_size=16, seed=0, device="cpu")
    policy = model.policy
    assert set(policy.features_extractor.raw_image_keys) == {"rgb", "map"}
    seen = []
    policy.features_extractor.register_forward_pre_hook(lambda _, args: seen.append(args[0]["rgb"].dtype))
    space = model.observation_space
    obs = {k: torch.as_tensor(np.stack([space[k].sample() for _ in range(5)])) for k in space.spaces}
    assert obs["rgb"].dtype == torch.uint8 and obs["map"].dtype == torch.uint8
    floats = {k: v.float() for k, v in obs.items()}  # what SB3's preprocess_obs gives an extractor (the float path)
    actions = torch.tensor([0, 1, 2, 1, 0])
    grads = []
    for inputs, extract in ((obs, policy.extract_features), (floats, policy.features_extractor)):
        policy.zero_grad(set_to_none=True)
        features = extract(inputs) if extract is policy.extract_features else extract(dict(inputs))
        _, log_prob, _ = policy.evaluate_actions(inputs, actions)
        log_prob.sum().backward()
        grads.append(
            (features.detach(), log_prob.detach(), [p.grad.clone() for p in policy.parameters() if p.grad is not None])
        )
    assert seen[:2] == [torch.uint8, torch.uint8]  # the extractor got the uint8 frames, uncast
    (f_raw, lp_raw, g_raw), (f_float, lp_float, g_float) = grads
    assert torch.equal(f_raw, f_float) and torch.equal(lp_raw, lp_float)
    assert len(g_raw) == len(g_float) and all(torch.equal(a, b) for a, b in zip(g_raw, g_float, strict=True))


def test_bf16_train_precision_stays_close_to_fp32_and_keeps_fp32_outputs_and_gradients(base_checkpoint):
    """policy.train_precision=bfloat16 (autocast in the PPO update) bounds: log-probs within 0.05 of fp32, values
    within 0.05, the gradient's direction within cos 0.98; outputs and gradients stay fp32; float32 is SB3's path."""
    env = make_vec_env(TinyDictEnv, n_envs=2, seed=0)
    policies = {}
    for precision in ("float32", "bfloat16"):
        config = PolicyConfig(method="sidetune", base=base_checkpoint, side="fcn5_small", train_precision=precision)
        model = PPO(
            SideTunePolicy, env, policy_kwargs=policy_kwargs(config), n_steps=16, batch_size=16, seed=0, device="cpu"
        )
        policies[precision] = model.policy
    policies["bfloat16"].load_state_dict(policies["float32"].state_dict())
    space = env.observation_space
    torch.manual_seed(0)
    obs = {k: torch.as_tensor(np.stack([space[k].sample() for _ in range(32)])) for k in space.spaces}
    actions = torch.randint(0, 3, (32,))
    out, grads = {}, {}
    for precision, policy in policies.items():
        policy.zero_grad(set_to_none=True)
        values, log_prob, entropy = policy.evaluate_actions(obs, actions)
        (values.pow(2).mean() - log_prob.mean() - 0.01 * entropy.mean()).backward()
        out[precision] = (values.detach(), log_prob.detach(), entropy.detach())
        grads[precision] = torch.cat([p.grad.flatten() for p in policy.parameters() if p.grad is not None])
        assert all(t.dtype == torch.float32 for t in out[precision])
        assert all(p.grad.dtype == torch.float32 for p in policy.parameters() if p.grad is not None)
    (v32, lp32, _), (v16, lp16, _) = out["float32"], out["bfloat16"]
    assert 0 < float((lp16 - lp32).abs().max()) < 0.05  # bf16 really ran, and stays close
    assert float((v16 - v32).abs().max()) < 0.05
    assert float(torch.nn.functional.cosine_similarity(grads["float32"], grads["bfloat16"], dim=0)) > 0.98
    reference = super(SideTunePolicy, policies["float32"]).evaluate_actions(obs, actions)
    assert all(torch.equal(a.detach(), b) for a, b in zip(reference, out["float32"], strict=True))
