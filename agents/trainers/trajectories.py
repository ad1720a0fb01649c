"""Expert trajectories for behaviour cloning: one fixed, seeded pool, stored in shards, read as prefixes.

The pool is a deterministic sequence of successful shortest-path-expert episodes in the TRAINING buildings
(``env.split=train_fit``: only those outside train_val; any other split: all of ``train``):
trajectory ``i`` depends only on the pool seed and ``i``, so ``--trajectories N`` takes the first N and
49 ⊂ 490 ⊂ 4900 ⊂ 49k. The episode stream is the env's fixed training episode set shuffled by the seed
(round 0), followed by further generated rounds (same generator, seeds derived from the pool seed) when
more trajectories than training episodes are asked for.

Storage (``<pool>/manifest.json`` + ``shard_NNNNN.npz``): per step the pose *before* the action
(float64 ``positions``/``headings``, exactly what the env rendered from) and the backend action (0..3, the
expert's final STOP included). The embedded renderer is deterministic, so frames are re-rendered on demand;
with ``storage='frames'`` (forced for Habitat, where re-rendering needs the scene meshes) each shard also
has ``shard_NNNNN.rgb.npy`` (uint8 frames, memory-mapped when read, never loaded whole). The manifest holds
the backend, the render-relevant env settings, the buildings, per-shard counts and SHA-256 checksums, and a
hash of each trajectory's first frame, so a pool used with another resolution or renderer fails loudly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.atomic_io import atomic_path, atomic_write_text, check_writable, exclusive, file_sha256, not_writable
from common.errors import UserError
from envs.backend import Action
from envs.backends import FIT_SPLIT
from envs.config import EnvConfig
from envs.episodes import Episode

POOL_FORMAT = "sidetune-nav-trajectories"
POOL_VERSION = 1
MANIFEST = "manifest.json"
GENERATE_LOCK = ".generate.lock"  # held (flock) while a process extends the pool
STORAGES = ("poses", "frames")
# Env settings that change the stored poses/actions or the frames rendered from them.
FINGERPRINT_FIELDS = (
    "backend",
    "resolution",
    "hfov_deg",
    "camera_height",
    "catalogue_seed",
    "num_train_buildings",
    "num_heldout_buildings",
    "agent_radius",
    "forward_step",
    "turn_angle_deg",
    "success_distance",
    "max_steps",
    "episodes_dir",
    "habitat_data_path",
)  # not render_device: verify_frames checks that the renderer in use draws the pool's frames


class TrajectoryPoolError(UserError, ValueError):
    """A pool that is missing, too small, corrupt, or made for other env settings; the message says the fix."""


def make_command(pool_dir: str | Path, n: int, env_cfg: EnvConfig, seed: int) -> str:
    """The command that makes (or extends) the pool at ``pool_dir`` to ``n`` trajectories."""
    return (
        f"python scripts/make_trajectories.py --trajectories {n} --pool-dir {pool_dir} --seed {seed} "
        f"env.backend={env_cfg.backend} env.resolution={env_cfg.resolution}"
    )


def pool_split(env_cfg: EnvConfig) -> str:
    """The split a pool draws its episodes from: train_fit when ``env.split`` is train_fit (design choices keep
    the train_val buildings out of training), else train."""
    return FIT_SPLIT if env_cfg.split == FIT_SPLIT else "train"


def default_pool_dir(env_cfg: EnvConfig, seed: int, root: str | Path = "data/trajectories") -> Path:
    """``data/trajectories/<backend>-r<resolution>-seed<seed>[-train_fit-val<K>][-<buildings digest>]``."""
    name = f"{env_cfg.backend}-r{env_cfg.resolution}-seed{seed}"
    if pool_split(env_cfg) == FIT_SPLIT:
        name += f"-{FIT_SPLIT}-val{env_cfg.num_val_buildings}"
    if env_cfg.buildings:
        name += "-" + hashlib.sha1(",".join(sorted(env_cfg.buildings)).encode()).hexdigest()[:8]
    return Path(root) / name


def training_episode_settings(episodes: dict[str, Any]) -> dict[str, Any]:
    """The `env.episodes` settings that change training episodes (the held-out count does not)."""
    return {k: v for k, v in episodes.items() if k != "per_building_heldout"}


def env_fingerprint(env_cfg: EnvConfig) -> dict[str, Any]:
    """The env settings a pool depends on (compared field by field when a pool is opened); a train_fit pool also
    records its split and env.num_val_buildings (a train pool does not, so its fingerprint stays as it was made)."""
    values = env_cfg.to_dict()
    out = {key: values[key] for key in FINGERPRINT_FIELDS}
    out["episodes"] = training_episode_settings(values["episodes"])
    out["buildings"] = sorted(env_cfg.buildings) if env_cfg.buildings else None
    if pool_split(env_cfg) == FIT_SPLIT:
        out.update(split=FIT_SPLIT, num_val_buildings=int(env_cfg.num_val_buildings))
    return out


def frame_digest(frame: np.ndarray) -> str:
    """Short hash of one uint8 frame (to detect a renderer or setting that draws differently)."""
    return hashlib.sha256(np.ascontiguousarray(frame).tobytes()).hexdigest()[:16]


# ------------------------------------------------------------------------------------------- episode stream


class EpisodeStream:
    """The pool's fixed, endless order of training episodes: round 0 = the env's training set shuffled by
    the seed, round r >= 1 = a freshly generated set (seed derived from the pool seed and r), shuffled."""

    def __init__(self, env_cfg: EnvConfig, seed: int) -> None:
        self.env_cfg = dataclasses.replace(env_cfg, split=pool_split(env_cfg))
        self.seed = int(seed)
        self._rounds: dict[int, list[Episode]] = {}
        self.round_size = len(self._round(0))

    def _round(self, r: int) -> list[Episode]:
        if r not in self._rounds:
            from envs.factory import building_names, generate_episodes, load_episodes_for

            if r == 0:
                episodes = load_episodes_for(self.env_cfg, self.env_cfg.split)
            else:
                names = (
                    list(self.env_cfg.buildings)
                    if self.env_cfg.buildings
                    else building_names(self.env_cfg, self.env_cfg.split)
                )
                if not names:
                    raise TrajectoryPoolError(
                        f"bc.trajectories: the {self.env_cfg.backend} training split has only "
                        f"{self.round_size} episodes and "
                        "new ones cannot be generated here (ask for at most that many trajectories "
                        "or add episodes to the dataset)"
                    )
                per = max(1, math.ceil(self.round_size / len(names)))
                round_seed = int(np.random.SeedSequence([self.seed, r, 7919]).generate_state(1)[0])
                episodes = generate_episodes(self.env_cfg, names, per, round_seed)
            order = np.random.default_rng(np.random.SeedSequence([self.seed, r])).permutation(len(episodes))
            self._rounds = {r: [episodes[int(k)] for k in order]}  # keep one round in memory
        return self._rounds[r]

    def __getitem__(self, j: int) -> Episode:
        """Episode number ``j`` of the stream."""
        return self._round(j // self.round_size)[j % self.round_size]


# ------------------------------------------------------------------------------------------- expert roll-outs


@dataclass
class ExpertRun:
    """One expert episode: poses before each action, the backend actions (final STOP included)."""

    stream_index: int
    episode: Episode
    positions: np.ndarray  # float64[L, 2]
    headings: np.ndarray  # float64[L]
    actions: np.ndarray  # uint8[L], backend actions; the last is STOP on success
    distances: np.ndarray  # float64[L], geodesic distance to the goal before each action
    success: bool
    start_frame: str  # frame_digest of the first frame
    frames: np.ndarray | None = None  # uint8[L, 3, H, W] (storage='frames')


def run_expert(
    backend: Any, env_cfg: EnvConfig, episodes: list[tuple[int, Episode]], store_frames: bool
) -> list[ExpertRun]:
    """Roll the shortest-path expert through ``episodes`` (stream index, episode) on a batched backend."""
    n = backend.num_envs
    queue = list(episodes)
    runs: list[ExpertRun] = []
    slot: list[dict[str, Any] | None] = [None] * n

    def start(env_ids: list[int]) -> None:
        """Hand the next queued episodes to ``env_ids`` (envs left without one go idle)."""
        ids = list(env_ids[: len(queue)])
        chosen = [queue.pop(0) for _ in ids]
        for env in env_ids[len(ids) :]:
            slot[env] = None
        if not ids:
            return
        backend.reset(np.asarray(ids, np.int64), [ep for _, ep in chosen])
        first = backend.render(("rgb",), env_ids=np.asarray(ids, np.int64))["rgb"]
        for k, (env, (index, ep)) in enumerate(zip(ids, chosen, strict=False)):
            slot[env] = {
                "index": index,
                "episode": ep,
                "pos": [],
                "head": [],
                "act": [],
                "dist": [],
                "frames": [],
                "start_frame": frame_digest(first[k]),
            }

    start(list(range(n)))
    while any(s is not None for s in slot):
        active = [e for e in range(n) if slot[e] is not None]
        positions, headings = backend.poses()
        distances = backend.geodesic_distance()
        actions = np.asarray(backend.expert_action(env_cfg.success_distance), np.int64)
        frames = backend.render(("rgb",), env_ids=np.asarray(active, np.int64))["rgb"] if store_frames else None
        step = np.full(n, int(Action.STOP), np.int64)  # idle envs stand still
        finished = []
        for k, env in enumerate(active):
            s = slot[env]
            s["pos"].append(positions[env].copy())
            s["head"].append(float(headings[env]))
            s["act"].append(int(actions[env]))
            s["dist"].append(float(distances[env]))
            if store_frames:
                s["frames"].append(frames[k].copy())
            step[env] = actions[env]
            if actions[env] == Action.STOP or len(s["act"]) >= env_cfg.max_steps:
                finished.append(env)
        backend.step(step)
        for env in finished:
            s = slot[env]
            success = s["act"][-1] == Action.STOP and s["dist"][-1] < env_cfg.success_distance
            runs.append(
                ExpertRun(
                    stream_index=s["index"],
                    episode=s["episode"],
                    positions=np.asarray(s["pos"], np.float64).reshape(-1, 2),
                    headings=np.asarray(s["head"], np.float64),
                    actions=np.asarray(s["act"], np.uint8),
                    distances=np.asarray(s["dist"], np.float64),
                    success=bool(success),
                    start_frame=s["start_frame"],
                    frames=np.stack(s["frames"]) if store_frames else None,
                )
            )
        if finished:
            start(finished)
    return sorted(runs, key=lambda r: r.stream_index)


def autostop_length(run_distances: np.ndarray, success_distance: float) -> int:
    """Steps the 3-action (auto-stop) agent takes: the env stops it at the first pose within the radius,
    so the trajectory is every action before that pose (the expert's final STOP dropped)."""
    inside = np.flatnonzero(run_distances < success_distance)
    return int(inside[0]) if inside.size else len(run_distances)


# ------------------------------------------------------------------------------------------- writing


def _write_shard(
    root: Path, number: int, runs: list[ExpertRun], names: list[str], env_cfg: EnvConfig
) -> dict[str, Any]:
    """Write one shard (npz, plus rgb.npy for frame storage) atomically; its manifest entry."""
    from envs.factory import building_of

    lengths = np.array([len(r.actions) for r in runs], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    scene = [building_of(env_cfg, r.episode) for r in runs]
    names.extend(dict.fromkeys(s for s in scene if s not in names))  # Habitat: scenes are listed as met
    index = {name: k for k, name in enumerate(names)}
    arrays = {
        "offsets": offsets,
        "positions": np.concatenate([r.positions for r in runs]),
        "headings": np.concatenate([r.headings for r in runs]),
        "actions": np.concatenate([r.actions for r in runs]),
        "autostop_lengths": np.array([autostop_length(r.distances, env_cfg.success_distance) for r in runs], np.int64),
        "goals": np.array([r.episode.goal_xy for r in runs], np.float64).reshape(-1, 2),
        "buildings": np.array([index[s] for s in scene], np.int32),
        "start_distances": np.array([r.distances[0] for r in runs], np.float64),
        "stream_indices": np.array([r.stream_index for r in runs], np.int64),
        "episode_ids": np.array([r.episode.episode_id for r in runs]),
        "start_frames": np.array([r.start_frame for r in runs]),
    }
    shard = f"shard_{number:05d}.npz"
    with atomic_path(root / shard) as tmp:
        with open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)
    entry: dict[str, Any] = {
        "file": shard,
        "count": len(runs),
        "steps": int(offsets[-1]),
        "sha256": file_sha256(root / shard),
    }
    if runs and runs[0].frames is not None:
        frames_file = f"shard_{number:05d}.rgb.npy"
        with atomic_path(root / frames_file) as tmp:
            with open(tmp, "wb") as handle:
                np.save(handle, np.concatenate([r.frames for r in runs]))
        entry.update(frames_file=frames_file, frames_sha256=file_sha256(root / frames_file))
    return entry


def generate_pool(
    env_cfg: EnvConfig,
    pool_dir: str | Path,
    num_trajectories: int,
    seed: int = 0,
    shard_size: int = 500,
    num_envs: int = 32,
    storage: str = "poses",
    progress: Callable[[int, int], None] | None = None,
) -> TrajectoryPool:
    """Make the pool at ``pool_dir`` hold at least ``num_trajectories`` (extending an existing pool in place:
    earlier shards are kept, so every prefix stays the same). One process at a time: a second caller (two sweeps
    of one file started together) waits on the pool's lock, then finds the trajectories made and makes none."""
    if storage not in STORAGES:
        raise TrajectoryPoolError(f"bc.storage: {storage!r} is unknown (use one of {', '.join(STORAGES)})")
    root = Path(pool_dir)
    check_writable(root, "bc.pool_dir")  # before the lock file, which a read-only folder cannot hold
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise not_writable(root, err, "bc.pool_dir") from None
    with exclusive(root / GENERATE_LOCK):  # waits while another process extends this pool
        return _extend_pool(env_cfg, root, num_trajectories, seed, shard_size, num_envs, storage, progress)


def _extend_pool(
    env_cfg: EnvConfig,
    root: Path,
    num_trajectories: int,
    seed: int,
    shard_size: int,
    num_envs: int,
    storage: str,
    progress: Callable[[int, int], None] | None,
) -> TrajectoryPool:
    """generate_pool's work, under the pool's lock."""
    from envs.factory import make_backend, renders_offline

    if not renders_offline(env_cfg):
        storage = "frames"  # e.g. Habitat: frames cannot be re-rendered without the scene meshes
    env_cfg = dataclasses.replace(env_cfg, split=pool_split(env_cfg))
    if (root / MANIFEST).exists():
        pool = TrajectoryPool(root)
        pool.check_compatible(env_cfg)
        if (
            pool.manifest["seed"] != seed
            or pool.manifest["storage"] != storage
            or pool.manifest["shard_size"] != shard_size
        ):
            raise TrajectoryPoolError(
                f"pool {root} was made with seed={pool.manifest['seed']}, storage={pool.manifest['storage']}, "
                f"shard_size={pool.manifest['shard_size']}; extend it with the same settings or use another --pool-dir"
            )
        pool.verify_shards()
        manifest = pool.manifest
    else:
        from envs.factory import building_names

        in_split = building_names(env_cfg, env_cfg.split)  # None: known from the episodes only (Habitat)
        if env_cfg.buildings:  # those of env.buildings that the pool's split holds (the rest are evaluation's)
            names = sorted(n for n in env_cfg.buildings if in_split is None or n in in_split)
        else:
            names = in_split or []
        manifest = {
            "format": POOL_FORMAT,
            "version": POOL_VERSION,
            "backend": env_cfg.backend,
            "storage": storage,
            "seed": int(seed),
            "shard_size": int(shard_size),
            "env": env_fingerprint(env_cfg),
            "buildings": names,
            "num_trajectories": 0,
            "episodes_consumed": 0,
            "expert_failures": 0,
            "shards": [],
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
    stream = EpisodeStream(env_cfg, seed)
    backend = None
    # A partly filled last shard is regenerated from its first episode (the stream is fixed, so its
    # trajectories come out the same) and continued, so every shard but the last holds shard_size.
    if (
        manifest["shards"]
        and manifest["shards"][-1]["count"] < shard_size
        and manifest["num_trajectories"] < num_trajectories
    ):
        last = manifest["shards"].pop()
        manifest["num_trajectories"] -= last["count"]
        manifest["episodes_consumed"] = last["stream_start"]
    while manifest["num_trajectories"] < num_trajectories:
        want = min(shard_size, num_trajectories - manifest["num_trajectories"])
        if backend is None:
            backend = make_backend(env_cfg, num_envs)
        start_index = next_index = manifest["episodes_consumed"]
        successes: list[ExpertRun] = []
        while len(successes) < want:
            batch = [(j, stream[j]) for j in range(next_index, next_index + max(num_envs, want - len(successes) + 4))]
            next_index += len(batch)
            successes.extend(run for run in run_expert(backend, env_cfg, batch, storage == "frames") if run.success)
        # Trajectory i is the i-th success in stream order; successes past the cut are dropped and re-run later.
        shard_runs = successes[:want]
        entry = _write_shard(root, len(manifest["shards"]), shard_runs, manifest["buildings"], env_cfg)
        entry.update(first=manifest["num_trajectories"], stream_start=start_index)
        manifest["shards"].append(entry)
        manifest["num_trajectories"] += len(shard_runs)
        manifest["episodes_consumed"] = shard_runs[-1].stream_index + 1
        manifest["expert_failures"] = int(manifest["episodes_consumed"] - manifest["num_trajectories"])
        atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=1))
        if progress:
            progress(manifest["num_trajectories"], num_trajectories)
    if backend is not None:
        backend.close()
    return TrajectoryPool(root)


# ------------------------------------------------------------------------------------------- reading


@dataclass
class TrajectorySet:
    """The first N trajectories of a pool, flattened to steps (poses only; frames stay on disk)."""

    offsets: np.ndarray  # int64[T+1]: steps of trajectory t are offsets[t]:offsets[t+1]
    positions: np.ndarray  # float64[S, 2]
    headings: np.ndarray  # float64[S]
    actions: np.ndarray  # int64[S], policy actions (auto_stop: 0..2 = FORWARD, LEFT, RIGHT)
    goals: np.ndarray  # float64[T, 2]
    buildings: np.ndarray  # int32[T], index into building_names
    building_names: list[str]
    start_distances: np.ndarray  # float64[T]
    episode_ids: list[str]
    frame_files: list[np.ndarray] | None = None  # frame storage: per shard a read-only memmap uint8[rows, 3, H, W]
    frame_shard: np.ndarray | None = None  # int32[S]: which of frame_files holds step s
    frame_row: np.ndarray | None = None  # int64[S]: its row there

    @property
    def num_trajectories(self) -> int:
        return len(self.offsets) - 1

    @property
    def num_steps(self) -> int:
        return int(self.offsets[-1])

    @property
    def trajectory_of_step(self) -> np.ndarray:
        """int64[S]: which trajectory each step belongs to."""
        return np.repeat(np.arange(self.num_trajectories), np.diff(self.offsets))

    @property
    def step_in_trajectory(self) -> np.ndarray:
        """int64[S]: the step's index within its trajectory (0 = the episode's first observation)."""
        return np.arange(self.num_steps) - np.repeat(self.offsets[:-1], np.diff(self.offsets))

    def rgb_frames(self, steps: np.ndarray) -> np.ndarray:
        """Stored frames ``uint8[B, 3, H, W]`` of the given steps (frame storage only; reads only those rows)."""
        if self.frame_files is None or self.frame_shard is None or self.frame_row is None:
            raise TrajectoryPoolError("this pool stores poses, not frames; re-render them from the poses")
        steps = np.asarray(steps, np.int64)
        out = np.empty((len(steps),) + self.frame_files[0].shape[1:], np.uint8)
        shard_of = self.frame_shard[steps]
        for k in np.unique(shard_of):
            hit = shard_of == k
            out[hit] = self.frame_files[int(k)][self.frame_row[steps[hit]]]
        return out


class TrajectoryPool:
    """A pool on disk: its manifest, compatibility checks, shard verification, and prefix loading."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        path = self.root / MANIFEST
        if not path.is_file():
            raise TrajectoryPoolError(
                f"bc.pool_dir: no trajectory pool at {self.root} "
                f"(missing {MANIFEST}; make one with scripts/make_trajectories.py)"
            )
        try:
            self.manifest = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise TrajectoryPoolError(f"{path} is corrupt ({err}); delete the pool folder and regenerate it") from None
        if self.manifest.get("format") != POOL_FORMAT or self.manifest.get("version") != POOL_VERSION:
            raise TrajectoryPoolError(f"{path} is not a version-{POOL_VERSION} trajectory pool manifest")

    @property
    def num_trajectories(self) -> int:
        return int(self.manifest["num_trajectories"])

    def check_compatible(self, env_cfg: EnvConfig) -> None:
        """Raise TrajectoryPoolError naming every env setting that differs from the pool's."""
        have, want = dict(self.manifest["env"]), env_fingerprint(env_cfg)
        have["episodes"] = training_episode_settings(have.get("episodes") or {})  # a stored held-out count is ignored
        keys = [*want, *(k for k in ("split", "num_val_buildings") if k not in want)]  # a train_fit pool's, too
        diffs = [f"{k}: pool {have.get(k)!r}, run {want.get(k)!r}" for k in keys if have.get(k) != want.get(k)]
        if diffs:
            raise TrajectoryPoolError(
                f"bc.pool_dir: trajectory pool {self.root} was made for other env settings ({'; '.join(diffs)}) "
                f"(generate a pool for these settings: scripts/make_trajectories.py with the same env.* overrides and "
                f"another --pool-dir; or run with the pool's settings)"
            )

    def _check_file(self, name: str, sha: str) -> Path:
        path = self.root / name
        if not path.is_file():
            raise TrajectoryPoolError(
                f"shard {path} is missing; the pool is incomplete: regenerate it (delete {self.root})"
            )
        if file_sha256(path) != sha:
            raise TrajectoryPoolError(
                f"shard {path} is corrupt or truncated (its SHA-256 does not match the manifest); "
                f"delete {self.root} and regenerate the pool"
            )
        return path

    def verify_shards(self, upto: int | None = None) -> None:
        """Check the checksum of every shard holding one of the first ``upto`` trajectories (all if None)."""
        for entry in self._shards_for(upto if upto is not None else self.num_trajectories):
            self._check_file(entry["file"], entry["sha256"])
            if "frames_file" in entry:
                self._check_file(entry["frames_file"], entry["frames_sha256"])

    def _shards_for(self, n: int) -> list[dict[str, Any]]:
        return [e for e in self.manifest["shards"] if e["first"] < n]

    def _read_npz(self, entry: dict[str, Any]) -> dict[str, np.ndarray]:
        path = self._check_file(entry["file"], entry["sha256"])
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except (zipfile.BadZipFile, ValueError, OSError, EOFError) as err:
            raise TrajectoryPoolError(
                f"shard {path} cannot be read ({err}); delete {self.root} and regenerate the pool"
            ) from None
        if len(arrays.get("offsets", [])) != entry["count"] + 1 or int(arrays["offsets"][-1]) != entry["steps"]:
            raise TrajectoryPoolError(
                f"shard {path} does not hold the {entry['count']} trajectories its manifest lists; regenerate the pool"
            )
        return arrays

    def load(self, n: int, auto_stop: bool, env_cfg: EnvConfig | None = None) -> TrajectorySet:
        """The first ``n`` trajectories (actions in the policy's action space: ``auto_stop`` drops the final STOP
        and shifts FORWARD/LEFT/RIGHT to 0..2)."""
        if env_cfg is not None:
            self.check_compatible(env_cfg)
        if n < 1:
            raise TrajectoryPoolError(f"--trajectories {n}: ask for at least one trajectory")
        if n > self.num_trajectories:
            raise TrajectoryPoolError(
                f"--trajectories {n} is more than the {self.num_trajectories} trajectories in pool "
                f"{self.root}; extend it "
                f"with `python scripts/make_trajectories.py --trajectories {n} --pool-dir {self.root} "
                f"--seed {self.manifest['seed']}` "
                f"plus the env.* overrides of this run (or run bc.py with bc.generate=true, its default)"
            )
        parts: dict[str, list[np.ndarray]] = {
            k: [] for k in ("lengths", "positions", "headings", "actions", "goals", "buildings", "start", "rows")
        }
        ids: list[str] = []
        with_frames = self.manifest["storage"] == "frames"
        frame_files: list[np.ndarray] = []
        frame_shard: list[np.ndarray] = []
        for entry in self._shards_for(n):
            a = self._read_npz(entry)
            take = min(entry["count"], n - entry["first"])
            if with_frames:
                frame_files.append(
                    np.load(self._check_file(entry["frames_file"], entry["frames_sha256"]), mmap_mode="r")
                )
            rows = []
            for t in range(take):
                s, e = int(a["offsets"][t]), int(a["offsets"][t + 1])
                if auto_stop:
                    e = s + int(a["autostop_lengths"][t])
                parts["lengths"].append(np.array([e - s]))
                parts["positions"].append(a["positions"][s:e])
                parts["headings"].append(a["headings"][s:e])
                acts = a["actions"][s:e].astype(np.int64)
                if auto_stop:
                    if np.any(acts == Action.STOP):
                        raise TrajectoryPoolError(
                            f"shard {self.root / entry['file']}: trajectory {entry['first'] + t} "
                            "has a STOP before the goal radius"
                        )
                    acts = acts - 1
                parts["actions"].append(acts)
                rows.append(np.arange(s, e))
            parts["goals"].append(a["goals"][:take])
            parts["buildings"].append(a["buildings"][:take])
            parts["start"].append(a["start_distances"][:take])
            ids.extend(str(x) for x in a["episode_ids"][:take])
            parts["rows"].append(np.concatenate(rows))
            frame_shard.append(np.full(sum(len(r) for r in rows), len(frame_shard), np.int32))
        lengths = np.concatenate(parts["lengths"])
        return TrajectorySet(
            offsets=np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64),
            positions=np.concatenate(parts["positions"]),
            headings=np.concatenate(parts["headings"]),
            actions=np.concatenate(parts["actions"]),
            goals=np.concatenate(parts["goals"]),
            buildings=np.concatenate(parts["buildings"]),
            building_names=list(self.manifest["buildings"]),
            start_distances=np.concatenate(parts["start"]),
            episode_ids=ids,
            frame_files=frame_files if with_frames else None,
            frame_shard=np.concatenate(frame_shard) if with_frames else None,
            frame_row=np.concatenate(parts["rows"]) if with_frames else None,
        )

    def verify_frames(self, env_cfg: EnvConfig, count: int = 4) -> None:
        """Re-render the first frame of the first ``count`` trajectories and compare with the stored hashes."""
        if self.manifest["storage"] != "poses":
            return
        from envs.factory import make_pose_renderer

        entry = self.manifest["shards"][0]
        a = self._read_npz(entry)
        count = min(count, entry["count"])
        names = self.manifest["buildings"]
        renderer = make_pose_renderer(env_cfg, names)
        starts = a["offsets"][:count]
        rgb = renderer.render(a["buildings"][:count], a["positions"][starts], a["headings"][starts], sensors=("rgb",))[
            "rgb"
        ]
        bad = [t for t in range(count) if frame_digest(rgb[t]) != str(a["start_frames"][t])]
        if bad:
            raise TrajectoryPoolError(
                f"re-rendered frames of trajectories {bad} in pool {self.root} differ from the frames the expert saw; "
                "the pool was made with another renderer or render settings: regenerate it"
            )
