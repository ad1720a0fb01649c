"""Settings of the tiny PPO runs several test files train (32 px, 2 envs, one 32-frame update, no evaluation)."""

TINY_PPO = [
    "env.resolution=32",
    "env.max_steps=20",
    "train.num_envs=2",
    "ppo.n_steps=16",
    "ppo.batch_size=16",
    "ppo.n_epochs=1",
    "train.checkpoint_every=32",
    "train.eval_every=0",
    "train.final_eval=false",
    "policy.features_dim=64",
    "run.device=cpu",
]
