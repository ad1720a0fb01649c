"""The one held-out evaluation path for every policy (PPO, BC, random and expert reference rows).

``evaluate_policy`` runs a fixed episode set -- the first ``episodes_per_building`` episodes of every
building of the split, in file order -- through the same observation pipeline the trainers use
(``agents.env_builder.make_vec_env`` with sequential hand-out), batched over ``num_envs`` envs, and counts
each episode exactly once: the vector env autoresets finished envs, and an env handed an episode beyond
the set keeps stepping but its results are ignored. Sampled actions come from one random stream per
episode (``EpisodeStreams``), so results do not depend on the batch size. Success gets a Wilson interval, the other metrics a
percentile bootstrap (agents/metrics.py). ``evaluate_run`` loads a run folder's config and checkpoint,
evaluates, and writes ``eval.json`` atomically beside them. Nothing here is backend-specific: the
Habitat backend is evaluated by the same code (see docs/evaluation.md).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from gymnasium import spaces
from omegaconf import DictConfig, OmegaConf

from agents.config_loader import CONFIG_DIR, ConfigFileError, _read_yaml, to_container
from agents.env_builder import env_config_from, make_vec_env, unwrap_task
from agents.metrics import run_summary, summarize_episodes
from agents.model_builder import CheckpointError, check_spaces, find_checkpoint, load_model
from agents.reference_policies import REFERENCE_POLICIES, reference_actor
from envs.atomic_io import atomic_write_text
from envs.config import EpisodeConfig
from envs.episodes import Episode

EVAL_FILE = "eval.json"
VIDEO_MIN_HEIGHT = 256  # camera images are enlarged to at least this many rows in videos (64-px runs stay watchable)


def eval_defaults() -> dict[str, Any]:
    """The `eval:` section of configs/eval.yaml (used for any key a run config lacks)."""
    return dict(to_container(_read_yaml(CONFIG_DIR / "eval.yaml"))["eval"])


def eval_settings(cfg: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """Resolved eval settings: configs/eval.yaml < the run config's `eval:` < non-None keyword overrides."""
    settings = eval_defaults()
    section = to_container(cfg).get("eval") or {}
    unknown = set(section) - set(settings)  # the keys of configs/eval.yaml are the valid ones
    if unknown:
        raise ConfigFileError(f"eval: unknown keys {sorted(unknown)}; valid keys are {sorted(settings)}")
    settings.update(section)
    settings.update({k: v for k, v in overrides.items() if v is not None})
    k = settings["episodes_per_building"]
    if k is not None and int(k) < 1:
        raise ValueError(f"episodes_per_building={k} must be >= 1 (or null for every episode)")
    if int(settings["num_envs"]) < 1:
        raise ValueError(f"num_envs={settings['num_envs']} must be >= 1")
    if int(settings["videos"]) < 0:
        raise ValueError(f"videos={settings['videos']} must be >= 0")
    return settings


def default_config(overrides: Sequence[str] = ()) -> DictConfig:
    """env.yaml + policy.yaml + eval.yaml with strict ``key=value`` overrides (for reference rows without a run)."""
    cfg = OmegaConf.merge(*(_read_yaml(CONFIG_DIR / name) for name in ("env.yaml", "policy.yaml", "eval.yaml")))
    if overrides:
        bad = [p for p in overrides if "=" not in p]
        if bad:
            raise ConfigFileError(f"overrides must look like key=value (e.g. env.resolution=64); got {bad}")
        OmegaConf.set_struct(cfg, True)
        try:
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(list(overrides)))
        except Exception as err:
            raise ConfigFileError(f"override {list(overrides)}: unknown or invalid config key ({err})") from None
        OmegaConf.set_struct(cfg, False)
    return cfg  # type: ignore[return-value]


def select_episodes(episodes: Sequence[Episode], per_building: int | None) -> list[Episode]:
    """The first ``per_building`` episodes of each building, buildings in order of first appearance."""
    if per_building is None:
        return list(episodes)
    taken: dict[str, int] = {}
    chosen: list[Episode] = []
    for episode in episodes:
        count = taken.get(episode.scene_id, 0)
        if count < per_building:
            chosen.append(episode)
            taken[episode.scene_id] = count + 1
    return chosen


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
        raise TypeError(f"policy must be an SB3 model (PPO/BaseAlgorithm) or one of {REFERENCE_POLICIES}, got {type(policy).__name__}")
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


def _jsonable(value: Any) -> Any:
    """Nested copy with non-finite floats as None and numpy scalars as Python ones (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(float(value)) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


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
                raise RuntimeError(f"evaluation did not finish {count} episodes in {limit} steps; the env never ended them")
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
    cfg: Mapping[str, Any],
    *,
    split: str = "heldout",
    episodes_per_building: int | None = None,
    num_envs: int | None = None,
    seed: int = 0,
    deterministic: bool | None = None,
    videos: int = 0,
    video_dir: str | Path | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Evaluate an SB3 model or 'random'/'expert' on the fixed held-out episode set; a JSON-able result.

    ``episodes_per_building``, ``num_envs`` and ``deterministic`` default to the config's `eval:` section
    (configs/eval.yaml: 10 per building, 14 envs, sampled actions); ``split``, ``seed`` and ``videos`` are
    taken as given (``evaluate_run`` and scripts/evaluate.py pass the config's values). The same policy,
    config and seed give the same numbers. With ``videos=K`` the first K episodes are replayed into MP4s
    under ``video_dir``.
    """
    s = eval_settings(
        cfg, split=split, episodes_per_building=episodes_per_building, num_envs=num_envs, seed=seed,
        deterministic=deterministic, videos=videos,
    )
    return _evaluate(policy, cfg, s, video_dir, progress, "the policy")


def _evaluate(
    policy: Any,
    cfg: Mapping[str, Any],
    s: Mapping[str, Any],
    video_dir: str | Path | None,
    progress: bool,
    source: str,
) -> dict[str, Any]:
    """evaluate_policy with resolved settings; ``source`` names the policy in space-mismatch errors."""
    split, seed_i, det = str(s["split"]), int(s["seed"]), bool(s["deterministic"])
    n_videos = int(s["videos"])
    if n_videos and video_dir is None:
        raise ValueError("videos > 0 needs video_dir (evaluate_run uses <run>/videos)")
    started = time.perf_counter()
    venv = _make_eval_env(cfg, s)
    task = unwrap_task(venv)
    try:
        act = _actor(policy, venv, task, det, seed_i, source)
        count = len(task.episodes)
        per_episode, actions_of, batched_steps = run_episode_set(venv, act, count, n_videos, progress)
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
        "deterministic": det,
        "seed": seed_i,
        "split": split,
        "episodes_per_building": s["episodes_per_building"],
        "buildings": sorted({ep["building"] for ep in per_episode}),
        "num_envs": int(venv.num_envs),
        "backend": str(task.config.backend),
        "auto_stop": bool(task.config.auto_stop),
        "seconds": seconds,
        "env_steps": int(env_steps),
    }
    if n_videos:
        result["videos"] = write_videos(cfg, split, episodes, per_episode, actions_of, n_videos, Path(video_dir), float(s["video_fps"]))
    return _jsonable(result)


def with_heldout_episodes(cfg: Mapping[str, Any], split: str, per_building: int | None) -> Mapping[str, Any]:
    """``cfg`` whose generated held-out set has at least ``per_building`` episodes per building.

    A run trained with fewer (e.g. the former default of 20) is evaluated on the same set as every other
    run: episodes are drawn per building from one stream, so a larger set only appends episodes, and every
    run evaluated with the same ``episodes_per_building`` gets the same episode ids (needed for pairing).
    """
    env = to_container(cfg).get("env") or {}
    generated = env.get("backend", "embedded") == "embedded" and not env.get("episodes_dir")  # not read from files
    have = int((env.get("episodes") or {}).get("per_building_heldout", EpisodeConfig.per_building_heldout))
    if split != "heldout" or per_building is None or not generated or int(per_building) <= have:
        return cfg
    return OmegaConf.merge(cfg, {"env": {"episodes": {"per_building_heldout": int(per_building)}}})


def _make_eval_env(cfg: Mapping[str, Any], s: Mapping[str, Any]) -> Any:
    """The training pipeline's vec env over the selected episodes, handed out in order."""
    split, seed = str(s["split"]), int(s["seed"])
    per_building = s["episodes_per_building"]
    cfg = with_heldout_episodes(cfg, split, per_building)
    venv = make_vec_env(cfg, int(s["num_envs"]), split, seed, sampling="sequential")
    task = unwrap_task(venv)
    task.episodes = select_episodes(task.episodes, None if per_building is None else int(per_building))
    task.restart()
    if venv.num_envs > len(task.episodes):  # more envs than episodes: rebuild smaller (no idle batch rows)
        venv.close()
        venv = make_vec_env(cfg, len(task.episodes), split, seed, sampling="sequential")
        small = unwrap_task(venv)
        small.episodes = list(task.episodes)
        small.restart()
    return venv


def write_videos(
    cfg: Mapping[str, Any],
    split: str,
    episodes: Sequence[Episode],
    per_episode: Sequence[dict[str, Any]],
    actions_of: Mapping[int, list[int]],
    count: int,
    folder: Path,
    fps: float = 10.0,
) -> list[dict[str, Any]]:
    """Replay the first ``count`` evaluated episodes' actions in a one-env task and write MP4s.

    Each frame is first-person RGB | visited map | top-down map with path and goal (envs/visualize.py).
    Replaying the recorded actions shows exactly the evaluated episode; each video's entry says whether
    the replay reproduced the episode's success and step count.
    """
    from envs.factory import make_task
    from envs.visualize import record_episode

    task = make_task(env_config_from(cfg, split=split), 1, split, seed=0, sampling="sequential")
    written: list[dict[str, Any]] = []
    try:
        for row in per_episode[:count]:
            index = row["episode_index"]
            task.episodes = [episodes[index]]
            task.restart()
            replay = iter(actions_of.get(index, []))
            path = folder / f"episode_{index:04d}_{row['building'].replace('/', '_')}_{row['episode_id']}.mp4"
            info = record_episode(task, lambda obs: next(replay), path, fps=fps, min_height=VIDEO_MIN_HEIGHT)
            written.append({
                "path": str(path),
                "episode_index": index,
                "episode_id": row["episode_id"],
                "reproduced": bool(float(info.get("success", -1)) == row["success"] and info.get("steps") == row["steps"]),
            })
    finally:
        task.close()
    return written


def _run_folder_of(path: Path) -> Path:
    """The run folder of a run path or of a checkpoint file inside ``<run>/checkpoints/``."""
    if path.is_file():
        return path.parent.parent if path.parent.name == "checkpoints" else path.parent
    return path


def evaluate_run(
    run_dir_or_checkpoint: str | Path,
    *,
    split: str | None = None,
    episodes_per_building: int | None = None,
    num_envs: int | None = None,
    seed: int | None = None,
    deterministic: bool | None = None,
    videos: int | None = None,
    video_dir: str | Path | None = None,
    progress: bool = True,
    checkpoint: str | None = None,
    device: str | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Evaluate a run folder's checkpoint (or a checkpoint file) with its own config; writes ``<run>/eval.json``."""
    from agents.run_dir import RunDir

    path = Path(run_dir_or_checkpoint)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; pass a run folder or a checkpoint file")
    run = RunDir.open(_run_folder_of(path))
    cfg = run.read_config()
    s = eval_settings(cfg, checkpoint=checkpoint, device=device)
    ckpt = find_checkpoint(path, prefer=str(s["checkpoint"]))
    model = load_model(ckpt, device=str(s["device"]))
    s = eval_settings(
        cfg, split=split, episodes_per_building=episodes_per_building, num_envs=num_envs, seed=seed,
        deterministic=deterministic, videos=videos, checkpoint=checkpoint, device=device,
    )
    result = _evaluate(model, cfg, s, video_dir or run.videos, progress, f"checkpoint {ckpt}")
    result.update(run_summary(cfg))
    result["run_dir"] = str(run.root)
    result["checkpoint"] = str(ckpt)
    if write:
        atomic_write_text(run.root / EVAL_FILE, json.dumps(result, indent=2, sort_keys=True))
    return result


__all__ = [
    "CheckpointError",
    "EVAL_FILE",
    "REFERENCE_POLICIES",
    "default_config",
    "eval_settings",
    "evaluate_policy",
    "evaluate_run",
    "run_episode_set",
    "run_summary",
    "select_episodes",
    "write_videos",
]
