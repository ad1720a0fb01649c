"""SB3 callbacks of the PPO trainer: episode metrics and frames/s to TensorBoard, a tqdm bar, periodic
held-out evaluation with best/last checkpoints, and ``eval_history.json``.

Checkpoints and evaluations happen at the start of a rollout: there the policy, the optimizer and
``num_timesteps`` agree exactly (every collected frame has been trained on), so a resumed run continues
from a consistent state and a SIGKILL loses at most one checkpoint interval (plus one rollout).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from agents.run.model_builder import checkpoint_disk_full, save_model, write_model
from common.atomic_io import atomic_paths, atomic_write_text

EPISODE_KEYS = ("success", "spl", "distance_to_goal", "episode_reward", "steps", "collisions")
EVAL_TAGS = ("success", "spl", "reward", "distance_to_goal")
EPISODE_OUTCOMES = ("success", "spl", "reward")  # kept per episode in eval_history.json (the curves' intervals)


class EpisodeStatsCallback(BaseCallback):
    """Log the task's per-episode metrics (success, SPL, distance to goal, reward, length, collisions),
    averaged over the last ``window`` finished training episodes, under ``episode/`` each rollout; and the
    end-to-end frames/s of the last iteration (rollout + update, evaluation time excluded) under ``time/``."""

    def __init__(self, window: int = 100, excluded_seconds: Callable[[], float] | None = None):
        super().__init__()
        self.window = window
        self.recent: dict[str, deque[float]] = {key: deque(maxlen=window) for key in EPISODE_KEYS}
        self.episodes = 0
        self.excluded_seconds = excluded_seconds or (lambda: 0.0)
        self._mark: tuple[int, float, float] | None = None
        self.last_fps = math.nan

    def _on_step(self) -> bool:
        dones, infos = self.locals["dones"], self.locals["infos"]
        for env_id in np.flatnonzero(dones):
            info = infos[env_id]
            if "success" not in info:
                continue
            self.episodes += 1
            for key in EPISODE_KEYS:
                if key in info:
                    self.recent[key].append(float(info[key]))
        return True

    def _on_rollout_start(self) -> None:
        now, excluded = time.perf_counter(), self.excluded_seconds()
        if self._mark is not None:
            frames, then, excluded_then = self._mark
            seconds = (now - then) - (excluded - excluded_then)
            if self.num_timesteps > frames and seconds > 0:
                self.last_fps = (self.num_timesteps - frames) / seconds
                self.logger.record("time/frames_per_second", self.last_fps)
        self._mark = (self.num_timesteps, now, excluded)

    def _on_rollout_end(self) -> None:
        self.logger.record("episode/count", self.episodes)
        for key, values in self.recent.items():
            if values:
                name = "reward" if key == "episode_reward" else "length" if key == "steps" else key
                self.logger.record(f"episode/{name}", float(np.mean(values)))

    def mean(self, key: str) -> float:
        """Mean of ``key`` over the recent window (nan before the first episode)."""
        values = self.recent.get(key)
        return float(np.mean(values)) if values else math.nan


class ProgressCallback(BaseCallback):
    """A tqdm bar over the run's frames (resumed runs start where they left off). Its rate and ETA leave out the
    time spent in held-out evaluations (``excluded_seconds``, as for the logged frames/s); its success and SPL are
    those of finished *training* episodes, labelled so and shown only once ``min_episodes`` have finished (the
    first episodes to end are the short ones, so fewer would overstate success)."""

    def __init__(
        self,
        total_frames: int,
        stats: EpisodeStatsCallback | None = None,
        enabled: bool = True,
        excluded_seconds: Callable[[], float] | None = None,
        min_episodes: int = 20,
    ):
        super().__init__()
        self.total_frames, self.stats, self.enabled = total_frames, stats, enabled
        self.excluded_seconds = excluded_seconds or (lambda: 0.0)
        self.min_episodes = min_episodes
        self.bar: Any = None
        self._shown = 0
        self._excluded = 0.0

    def _on_training_start(self) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        self._shown = self.num_timesteps
        self._excluded = self.excluded_seconds()
        self.bar = tqdm(
            total=self.total_frames,
            initial=self._shown,
            unit="frame",
            unit_scale=True,
            desc="ppo",
            dynamic_ncols=True,
            mininterval=0.5 if sys.stderr.isatty() else 30.0,
            smoothing=0.05,
        )

    def _on_step(self) -> bool:
        if self.bar is not None:
            self._skip_excluded_time()
            self.bar.update(self.num_timesteps - self._shown)
            self._shown = self.num_timesteps
        return True

    def _skip_excluded_time(self) -> None:
        """Move the bar's clocks forward by the evaluation time since the last step, so rate and ETA ignore it."""
        excluded = self.excluded_seconds()
        if excluded > self._excluded:
            self.bar.start_t += excluded - self._excluded
            self.bar.last_print_t += excluded - self._excluded
            self._excluded = excluded

    def postfix(self) -> dict[str, str]:
        """The bar's postfix: finished training episodes, and their recent success/SPL once there are enough."""
        if self.stats is None:
            return {}
        shown = {"train_episodes": str(self.stats.episodes)}
        if self.stats.episodes >= self.min_episodes:
            shown.update(train_success=f"{self.stats.mean('success'):.2f}", train_spl=f"{self.stats.mean('spl'):.2f}")
        return shown

    def _on_rollout_end(self) -> None:
        if self.bar is not None and self.stats is not None:
            self.bar.set_postfix(self.postfix(), refresh=False)

    def _on_training_end(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


MILESTONES = "milestones"  # <run>/milestones/frames-<N>.json: the full evaluations at train.milestones


def evaluation_row(result: dict[str, Any], frames: int, seconds: float) -> dict[str, Any]:
    """One periodic evaluation as eval_history.json stores it: means, the success interval and the per-episode
    outcomes (so that curves over seeds get a seeds-then-episodes interval)."""
    return {
        "frames": int(frames),
        "success": float(result["success"]["mean"]),
        "spl": float(result["spl"]["mean"]),
        "reward": float(result["reward"]["mean"]),
        "distance_to_goal": float(result["distance_to_goal"]["mean"]),
        "success_ci95": list(result["success"].get("ci95") or []),
        "episodes": int(result["episodes"]),
        "per_episode": [{key: ep[key] for key in ("episode_id", *EPISODE_OUTCOMES)} for ep in result["per_episode"]],
        "seconds": round(seconds, 2),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }


def milestone_path(run_root: Path, milestone: int) -> Path:
    """Where the full evaluation at ``milestone`` frames is kept."""
    return Path(run_root) / MILESTONES / f"frames-{int(milestone)}.json"


def milestones_reached(run_root: Path, up_to_frames: int) -> set[int]:
    """The milestones whose evaluation was taken at or before ``up_to_frames`` (a resumed run from an earlier
    checkpoint takes the later ones again)."""
    reached = set()
    for path in sorted((Path(run_root) / MILESTONES).glob("frames-*.json")):
        saved = json.loads(path.read_text())
        if saved["frames"] <= up_to_frames:
            reached.add(int(saved["milestone"]))
    return reached


class EvalCheckpointCallback(BaseCallback):
    """Every ``checkpoint_every`` frames write ``last.zip``; every ``eval_every`` frames evaluate on the fixed
    held-out subset (``evaluate(model) -> result dict`` from agents/evaluation/evaluate.py), append to
    ``eval_history.json``, log ``eval/*`` and keep ``best.zip`` (highest success, then SPL). At each of
    ``milestones`` (frames) keep ``frames-<N>.zip`` and evaluate it with ``evaluate_full`` into
    ``milestones/frames-<N>.json`` (the final evaluation's format), so that a long run also reports its shorter
    horizons on the full evaluation set.

    All checks run at rollout starts, so the real intervals are rounded up to whole rollouts."""

    def __init__(
        self,
        run_root: Path,
        checkpoint_every: int,
        eval_every: int,
        evaluate: Callable[[Any], dict[str, Any]] | None,
        eval_at_start: bool = True,
        start_frames: int = 0,
        history: list[dict[str, Any]] | None = None,
        best: dict[str, Any] | None = None,
        milestones: list[int] | tuple[int, ...] = (),
        evaluate_full: Callable[[Any], dict[str, Any]] | None = None,
    ):
        super().__init__()
        self.milestones = sorted(set(int(m) for m in milestones))
        self.evaluate_full = evaluate_full
        self.reached = milestones_reached(Path(run_root), start_frames) if self.milestones else set()
        self.root = Path(run_root)
        self.checkpoint_every, self.eval_every = int(checkpoint_every), int(eval_every)
        self.evaluate, self.eval_at_start = evaluate, eval_at_start
        self.history: list[dict[str, Any]] = list(history or [])
        self.best = best
        self.eval_seconds = 0.0
        self._updates_at_eval: int | None = None
        self._last_ckpt = start_frames
        self._last_eval = max((row["frames"] for row in self.history), default=None)

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def _on_step(self) -> bool:
        return True

    def _on_rollout_start(self) -> None:
        frames = self.num_timesteps
        if self.evaluate_full is not None:
            for milestone in self.milestones:
                if milestone not in self.reached and frames >= milestone:
                    self.evaluate_milestone(milestone)
        if self.evaluate is not None and self.eval_every > 0 and self._eval_due(frames):
            self.evaluate_now()
        if self.checkpoint_every > 0 and (
            frames - self._last_ckpt >= self.checkpoint_every or not self.checkpoint_path("last").exists()
        ):
            self.save("last")

    def _eval_due(self, frames: int) -> bool:
        if self._last_eval is None:
            return self.eval_at_start or frames >= self.eval_every
        return frames - self._last_eval >= self.eval_every

    def _on_training_end(self) -> None:
        frames = self.num_timesteps
        updated = (
            getattr(self.model, "_n_updates", None) != self._updates_at_eval
        )  # same weights: nothing new to evaluate
        if (
            self.evaluate is not None
            and self.eval_every > 0
            and frames >= self.eval_every  # a run shorter than one interval asked for no periodic evaluation
            and (self._last_eval is None or (frames > self._last_eval and updated))
        ):
            self.evaluate_now()
        self.save("last")

    def _write_scalars(self, values: dict[str, float], step: int) -> None:
        """Write these scalars at ``step`` straight to the logger's outputs. (``logger.dump`` here would also
        flush the trainer's pending train/ and time/ values at this step, and again after the next rollout.)"""
        for output in self.logger.output_formats:
            output.write(values, {key: None for key in values}, step)

    def checkpoint_path(self, name: str) -> Path:
        return self.checkpoints / f"{name}.zip"

    def save(self, name: str) -> Path:
        """Write ``checkpoints/<name>.zip`` atomically (the policy, optimizer state and frame counter)."""
        path = save_model(self.model, self.checkpoint_path(name))
        if name == "last":
            self._last_ckpt = self.num_timesteps
        return path

    def save_best(self, best: dict[str, Any]) -> None:
        """Write ``best.zip`` and the ``best.json`` that describes it as one set, so a full disk or an interrupt
        never leaves one of them describing the other's predecessor."""
        paths = (self.checkpoint_path("best"), self.checkpoints / "best.json")
        with checkpoint_disk_full(self.checkpoints), atomic_paths(*paths) as (zip_tmp, json_tmp):
            write_model(self.model, zip_tmp)
            json_tmp.write_text(json.dumps(best, indent=2))
        self.best = best

    def evaluate_now(self) -> dict[str, Any]:
        """Evaluate the current policy on the held-out subset; log, record and maybe save it as best."""
        started = time.perf_counter()
        result = self.evaluate(self.model)  # type: ignore[misc]
        seconds = time.perf_counter() - started
        self.eval_seconds += seconds
        row = evaluation_row(result, self.num_timesteps, seconds)
        self.history.append(row)
        self._last_eval = row["frames"]
        self._updates_at_eval = getattr(self.model, "_n_updates", None)
        atomic_write_text(self.root / "eval_history.json", json.dumps(self.history, indent=2))
        self._write_scalars({**{f"eval/{tag}": row[tag] for tag in EVAL_TAGS}, "eval/seconds": seconds}, row["frames"])
        if self.best is None or (row["success"], row["spl"]) > (self.best["success"], self.best["spl"]):
            self.save_best({key: row[key] for key in ("frames", "success", "spl", "reward")})
        return row

    def evaluate_milestone(self, milestone: int) -> dict[str, Any]:
        """Keep the policy as ``frames-<milestone>.zip`` (and ``last.zip``, so a resume never repeats it), evaluate
        it on the full set and write ``milestones/frames-<milestone>.json``."""
        self.save(f"frames-{milestone}")
        self.save("last")
        started = time.perf_counter()
        result = self.evaluate_full(self.model)  # type: ignore[misc]
        self.eval_seconds += time.perf_counter() - started
        result = {
            **result,
            "milestone": milestone,
            "frames": int(self.num_timesteps),
            "checkpoint": f"checkpoints/frames-{milestone}.zip",
        }
        path = milestone_path(self.root, milestone)
        path.parent.mkdir(exist_ok=True)
        atomic_write_text(path, json.dumps(result, indent=2, sort_keys=True))
        self.reached.add(milestone)
        scalars = {f"milestone/{tag}": float(result[tag]["mean"]) for tag in EVAL_TAGS}
        self._write_scalars(scalars, int(self.num_timesteps))
        return result


class WallClockLimit(BaseCallback):
    """Stop training after ``seconds`` of wall time (this session); the trainer then checkpoints and evaluates.

    The check is made on the first step of a rollout, so the stop comes right after a PPO update (the frame
    counter then includes only that one batched step, ``num_envs`` frames, beyond the trained ones). A run
    stopped this way is shorter than ``ppo.total_frames``; ``--resume`` continues it."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds, self.stopped = seconds, False
        self._start = time.perf_counter()
        self._first_step = False

    def _on_training_start(self) -> None:
        self._start = time.perf_counter()

    def _on_rollout_start(self) -> None:
        self._first_step = True

    def _on_step(self) -> bool:
        first, self._first_step = self._first_step, False
        if first and time.perf_counter() - self._start > self.seconds:
            self.stopped = True
            return False
        return True
