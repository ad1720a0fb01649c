"""The one held-out evaluation path for every policy (PPO, BC, and the reference rows of reference_policies.py).

``evaluate_policy`` runs a fixed episode set -- the first ``episodes_per_building`` episodes of every
building of the split, in file order -- through the same observation pipeline the trainers use
(``agents.run.env_builder.make_vec_env`` with sequential hand-out), batched over ``num_envs`` envs, and counts
each episode exactly once: the vector env autoresets finished envs, and an env handed an episode beyond
the set keeps stepping but its results are ignored. Sampled actions come from one random stream per
episode (``EpisodeStreams``), so results do not depend on the batch size. Success gets a Wilson interval,
the other metrics a percentile bootstrap (agents/evaluation/metrics.py). ``evaluate_run`` loads a run
folder's config and checkpoint, evaluates, and writes ``eval.json`` atomically beside them. Nothing here names
a backend: the Habitat backend is evaluated by the same code, with fewer envs where its registry entry says each
scene costs a simulator (``eval_num_envs``; see docs/evaluation.md).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from agents.evaluation.metrics import run_summary, summarize_episodes
from agents.evaluation.reference_policies import REFERENCE_POLICIES, reference_actor
from agents.evaluation.run_folder import EVAL_FILE
from agents.run.checkpoint_info import checkpoint_policy, checkpoint_record, policy_differences
from agents.run.config_loader import load_run_config
from agents.run.env_builder import make_vec_env, unwrap_task
from agents.run.model_builder import CheckpointError, check_spaces, find_checkpoint, load_model
from agents.run.run_config import EvalSettings, RunConfig
from agents.run.run_dir import finite_json
from common.atomic_io import atomic_write_text
from common.config import ConfigError
from common.errors import MissingFileError
from envs.backends import EVALUATION_SPLITS, backend_spec
from envs.episodes import Episode, select_episodes

VIDEO_MIN_HEIGHT = 256  # camera images are enlarged to at least this many rows in videos (64-px runs stay watchable)


def reference_config(overrides: Sequence[str] = ()) -> RunConfig:
    """configs/evaluate.yaml (env + policy + eval) with strict ``key=value`` overrides, for reference rows
    without a run."""
    return load_run_config("evaluate", overrides=overrides)


class EpisodeStreams:
    """One random stream per evaluated episode, seeded by (seed, episode index).

    Sampled actions are drawn from the stream of the episode an env is in, so an episode's outcome depends
    only on the policy, the seed and the episode -- not on how many envs were batched or which env ran it.
    """

    def __init__(self, seed: int, task: Any) -> None:
        self.seed = int(seed)
        self.task = task
        self._streams: dict[int, np.random.Generator] = {}

    def uniforms(self) -> np.ndarray:
        """One U[0, 1) draw per env, each from its current episode's stream."""
        out = np.empty(self.task.num_envs)
        for env_id, index in enumerate(self.task.episode_indices()):
            stream = self._streams.get(int(index))
            if stream is None:
                stream = self._streams[int(index)] = np.random.default_rng([self.seed, int(index)])
            out[env_id] = stream.random()
        return out

    def sample(self, probs: np.ndarray) -> np.ndarray:
        """Categorical samples ``int64[N]`` from per-env action probabilities ``[N, A]`` (inverse CDF)."""
        cdf = np.cumsum(np.asarray(probs, dtype=np.float64), axis=1)
        u = self.uniforms()[:, None] * cdf[:, -1:]
        return np.minimum((u >= cdf).sum(axis=1), probs.shape[1] - 1).astype(np.int64)


def _actor(
    policy: Any, venv: Any, task: Any, deterministic: bool, seed: int, source: str = "the policy"
) -> Callable[[dict[str, np.ndarray]], np.ndarray]:
    """A function obs -> actions for an SB3 model or a reference policy name (see EpisodeStreams)."""
    streams = EpisodeStreams(seed, task)
    if isinstance(policy, str):
        return reference_actor(policy, task, int(venv.action_space.n), streams.sample)
    net = getattr(policy, "policy", None)
    if net is None or not hasattr(net, "get_distribution"):
        raise TypeError(
            f"policy must be an SB3 model (PPO/BaseAlgorithm) or one of {REFERENCE_POLICIES}, "
            f"got {type(policy).__name__}"
        )
    check_spaces(policy, venv, source)
    if not isinstance(venv.action_space, spaces.Discrete):
        raise ValueError(f"the evaluator samples discrete actions; {source} has action space {venv.action_space}")

    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        net.set_training_mode(False)  # as SB3's predict does
        with torch.no_grad():
            tensor, _ = net.obs_to_tensor(obs)
            dist = net.get_distribution(tensor)
            if deterministic:
                return dist.mode().cpu().numpy().astype(np.int64)
            probs = dist.distribution.probs.cpu().numpy()
        return streams.sample(probs)

    return act


def _episode_record(info: dict[str, Any]) -> dict[str, Any]:
    """The per-episode row of a finished episode's info."""
    return {
        "episode_index": int(info["episode_index"]),
        "episode_id": str(info["episode_id"]),
        "building": str(info["building"]),
        "success": float(info["success"]),
        "spl": float(info["spl"]),
        "distance_to_goal": float(info["distance_to_goal"]),
        "reward": float(info["episode_reward"]),
        "steps": int(info["steps"]),
        "collisions": int(info["collisions"]),
        "path_length": float(info["path_length"]),
        "start_distance": float(info["start_distance"]),
    }


def run_episode_set(
    venv: Any,
    act: Callable[[dict[str, np.ndarray]], np.ndarray],
    count: int,
    record_actions_below: int = 0,
    progress: bool = False,
) -> tuple[list[dict[str, Any]], dict[int, list[int]], int]:
    """Step ``venv`` until episodes 0..count-1 (hand-out order) have each finished once.

    Returns the per-episode rows sorted by episode index, the actions taken in episodes with index below
    ``record_actions_below`` (for replaying them as videos), and the number of batched steps taken.
    """
    task = unwrap_task(venv)
    limit = (count // venv.num_envs + 2) * task.config.max_steps  # every episode ends within max_steps
    results: dict[int, dict[str, Any]] = {}
    actions_of: dict[int, list[int]] = {}
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=count, desc="episodes", unit="ep", leave=False)
    obs = venv.reset()
    steps = 0
    try:
        while len(results) < count:
            if steps >= limit:
                raise RuntimeError(
                    f"evaluation did not finish {count} episodes in {limit} steps; the env never ended them"
                )
            indices = task.episode_indices()
            actions = np.asarray(act(obs)).reshape(venv.num_envs)
            for env_id in np.flatnonzero(indices < record_actions_below):
                actions_of.setdefault(int(indices[env_id]), []).append(int(actions[env_id]))
            obs, _, dones, infos = venv.step(actions)
            steps += 1
            for env_id in np.flatnonzero(dones):
                info = infos[env_id]
                index = int(info["episode_index"])
                if index < count and index not in results:  # episodes past the set (autoreset) are ignored
                    results[index] = _episode_record(info)
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return [results[i] for i in sorted(results)], actions_of, steps


def evaluate_policy(
    policy: Any,
    cfg: RunConfig,
    settings: EvalSettings | None = None,
    *,
    video_dir: str | Path | None = None,
    progress: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """Evaluate an SB3 model or a reference policy name (agents/evaluation/reference_policies.py) on the fixed held-out
    episode set; a JSON-able result.

    ``settings`` defaults to the config's `eval:` section (EvalSettings' defaults: 30 episodes per building,
    14 envs, sampled actions); keyword ``overrides`` (split, episodes_per_building, num_envs, seed,
    deterministic, videos) replace its fields. The same policy, config and seed give the same numbers.
    With ``videos=K`` the first K episodes are replayed into MP4s under ``video_dir``.
    """
    cfg.require("eval")
    s = (settings or cfg.eval).replace(**overrides)
    return _evaluate(policy, cfg, s, video_dir, progress, "the policy")


def _evaluate(
    policy: Any,
    cfg: RunConfig,
    s: EvalSettings,
    video_dir: str | Path | None,
    progress: bool,
    source: str,
) -> dict[str, Any]:
    """evaluate_policy with resolved settings; ``source`` names the policy in space-mismatch errors."""
    if s.videos and video_dir is None:
        raise ValueError("video_dir: missing while eval.videos > 0 (pass video_dir; evaluate_run uses <run>/videos)")
    started = time.perf_counter()
    venv = _make_eval_env(cfg, s)
    task = unwrap_task(venv)
    try:
        act = _actor(policy, venv, task, s.deterministic, s.seed, source)
        count = len(task.episodes)
        per_episode, actions_of, batched_steps = run_episode_set(venv, act, count, s.videos, progress)
        episodes = list(task.episodes)
        env_steps = batched_steps * venv.num_envs
    finally:
        venv.close()
    seconds = time.perf_counter() - started
    result: dict[str, Any] = {
        "policy": policy if isinstance(policy, str) else type(policy).__name__,
        "episodes": len(per_episode),
        **summarize_episodes(per_episode),
        "per_episode": per_episode,
        "deterministic": s.deterministic,
        "seed": s.seed,
        "split": s.split,
        "episodes_per_building": s.episodes_per_building,
        "buildings": sorted({ep["building"] for ep in per_episode}),
        "num_envs": int(venv.num_envs),
        "backend": str(task.config.backend),
        "auto_stop": bool(task.config.auto_stop),
        "seconds": seconds,
        "env_steps": int(env_steps),
    }
    if s.videos:
        result["videos"] = write_videos(
            cfg, s.split, episodes, per_episode, actions_of, s.videos, Path(video_dir), s.video_fps
        )
    return finite_json(result)


def with_heldout_episodes(cfg: RunConfig, split: str, per_building: int | None) -> RunConfig:
    """``cfg`` whose generated evaluation set (heldout or train_val) has at least ``per_building`` episodes per
    building.

    A run trained with fewer (e.g. 20) is evaluated on the same set as every other
    run: episodes are drawn per building from one stream, so a larger set only appends episodes, and every
    run evaluated with the same ``episodes_per_building`` gets the same episode ids (needed for pairing).
    """
    env = cfg.env  # (episodes read from files, e.g. Habitat's, ignore the generator's count)
    if split not in EVALUATION_SPLITS or per_building is None or per_building <= env.episodes.per_building_heldout:
        return cfg
    episodes = dataclasses.replace(env.episodes, per_building_heldout=int(per_building))
    return dataclasses.replace(cfg, env=dataclasses.replace(env, episodes=episodes))


def eval_num_envs(cfg: RunConfig, s: EvalSettings, count: int) -> int:
    """How many envs evaluate ``count`` episodes: ``s.num_envs``, never more than the episodes (no batch row
    idles) and, on a backend with a simulator per scene (Habitat), never more than one building's episodes.
    Episodes are handed out building by building, so those envs share one or two simulators, where one env per
    building would create a simulator for each (14 at ~20 s each for one episode per held-out building).
    Results do not depend on the number (one random stream per episode)."""
    n = min(s.num_envs, count)
    if backend_spec(cfg.env.backend).simulator_per_scene and s.episodes_per_building:
        n = min(n, s.episodes_per_building)
    return n


def _make_eval_env(cfg: RunConfig, s: EvalSettings) -> Any:
    """The training pipeline's vec env over the selected episodes, handed out in order (`eval_num_envs` envs)."""
    from envs.factory import load_episodes_for

    cfg = with_heldout_episodes(cfg, s.split, s.episodes_per_building)
    count = len(load_episodes_for(cfg.env, s.split, s.episodes_per_building))
    return make_vec_env(
        cfg, eval_num_envs(cfg, s, count), s.split, s.seed, sampling="sequential", per_building=s.episodes_per_building
    )


def write_videos(
    cfg: RunConfig,
    split: str,
    episodes: Sequence[Episode],
    per_episode: Sequence[dict[str, Any]],
    actions_of: Mapping[int, list[int]],
    count: int,
    folder: Path,
    fps: float = 10.0,
) -> list[dict[str, Any]]:
    """Replay the first ``count`` evaluated episodes' actions in a one-env task and write MP4s.

    Each frame is first-person RGB | visited map | top-down map with path and goal (envs/visualize.py); the last
    frame is also written as a PNG beside the video.
    Replaying the recorded actions shows exactly the evaluated episode; each video's entry says whether
    the replay reproduced the episode's success and step count.
    """
    from envs.factory import make_task
    from envs.visualize import record_episode

    task = make_task(cfg.env, 1, split, seed=0, sampling="sequential")
    written: list[dict[str, Any]] = []
    try:
        for row in per_episode[:count]:
            index = row["episode_index"]
            task.use_episodes([episodes[index]])
            replay = iter(actions_of.get(index, []))
            path = folder / f"episode_{index:04d}_{row['building'].replace('/', '_')}_{row['episode_id']}.mp4"
            info = record_episode(
                task, lambda obs, replay=replay: next(replay), path, fps=fps, min_height=VIDEO_MIN_HEIGHT
            )
            written.append(
                {
                    "path": str(path),
                    "still": str(path.with_suffix(".png")),  # the last frame: the whole path on the top-down map
                    "episode_index": index,
                    "episode_id": row["episode_id"],
                    "reproduced": bool(
                        float(info.get("success", -1)) == row["success"] and info.get("steps") == row["steps"]
                    ),
                }
            )
    finally:
        task.close()
    return written


def _run_folder_of(path: Path) -> Path:
    """The run folder of a run path or of a checkpoint file inside ``<run>/checkpoints/``."""
    if path.is_file():
        return path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return path


def check_checkpoint_policy(ckpt: Path, cfg: RunConfig) -> None:
    """A ConfigError when the checkpoint's network (method, base and side architectures, merge, width) is not
    the one the run's config builds, e.g. a features checkpoint copied into a sidetune run: its scores would be
    labelled with the wrong method."""
    saved = checkpoint_policy(ckpt)
    if saved is None:
        return  # not an SB3 checkpoint of this toolkit: load_model explains
    differences = policy_differences(saved, cfg.policy)
    if differences:
        name, have, want = differences[0]
        raise ConfigError(
            f"policy.{name}",
            f"checkpoint {ckpt} holds a policy with {name}={have!r} but the run's config.yaml says {want!r}",
            "evaluate a checkpoint from the run folder that trained it",
        )


def run_checkpoint(run_dir_or_checkpoint: str | Path, prefer: str | None = None) -> tuple[Path, RunConfig]:
    """The checkpoint ``evaluate_run`` would score and the run config it would score it with."""
    from agents.run.cli import read_run_config
    from agents.run.run_dir import RunDir

    path = Path(run_dir_or_checkpoint)
    if not path.exists():
        raise MissingFileError(f"run folder: {path} does not exist (pass a run folder or a checkpoint file)")
    cfg = read_run_config(RunDir.open(_run_folder_of(path)))
    cfg.require("eval", "policy")
    return find_checkpoint(path, prefer=prefer or cfg.eval.checkpoint), cfg


def evaluate_run(
    run_dir_or_checkpoint: str | Path,
    *,
    video_dir: str | Path | None = None,
    progress: bool = True,
    write: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """Evaluate a run folder's checkpoint (or a checkpoint file) with its own config; writes ``<run>/eval.json``
    (holding the folder's writer lock, so a run still training is refused with the trainer's pid).

    Keyword ``overrides`` replace fields of the run's `eval:` section (split, episodes_per_building,
    num_envs, seed, deterministic, videos, checkpoint, device); None keeps the run's value."""
    from agents.run.cli import read_run_config
    from agents.run.run_dir import RunDir

    path = Path(run_dir_or_checkpoint)
    if not path.exists():
        raise MissingFileError(f"run folder: {path} does not exist (pass a run folder or a checkpoint file)")
    run = RunDir.open(_run_folder_of(path))
    if write or (video_dir is None and overrides.get("videos")):
        run.lock()  # eval.json / videos go into the folder: refused while a trainer (or another evaluation) writes it
    cfg = read_run_config(run)
    cfg.require("eval", "policy")
    s = cfg.eval.replace(**overrides)
    ckpt = find_checkpoint(path, prefer=s.checkpoint)
    check_checkpoint_policy(ckpt, cfg)
    record = checkpoint_record(ckpt)  # before loading: the bytes scored are the bytes hashed
    if cfg.run is not None:
        from policies.precision import set_tf32

        set_tf32(cfg.run.tf32)  # the numerics the run trained with (run.tf32)
    model = load_model(ckpt, device=s.device)
    result = _evaluate(model, cfg, s, video_dir or run.videos, progress, f"checkpoint {ckpt}")
    result.update(run_summary(cfg.to_dict()))
    result["run_dir"] = str(run.root)
    result["checkpoint"] = str(ckpt)
    result.update(record)
    if write:
        atomic_write_text(run.root / EVAL_FILE, json.dumps(result, indent=2, sort_keys=True))
    return result


__all__ = [
    "CheckpointError",
    "EVAL_FILE",
    "REFERENCE_POLICIES",
    "evaluate_policy",
    "evaluate_run",
    "reference_config",
    "run_episode_set",
    "run_summary",
    "select_episodes",
    "write_videos",
]
