r"""Env-steps/s of the batched PointNav env (SB3 adapter: step + render + observations) vs gymnasium's
SyncVectorEnv over the single env, per batch size and resolution (a timing script, not a test).

Two figures per cell, measured in the same run: random actions from {MOVE_FORWARD, TURN_LEFT, TURN_RIGHT}
('move'), and with 25 % STOP ('stop25': an episode ends about every 4th step, so it is reset-heavy). The
ratio is batched / SyncVectorEnv at the same batch, resolution and action mix, both timed in this process,
because the machine is shared and absolute numbers drift. On a machine busy with other jobs run it with
OMP_WAIT_POLICY=PASSIVE: numba's OpenMP threads otherwise spin-wait and a batch-1 step can take 100x longer.
Extra render devices (torch-cpu, cuda) are timed batched only, at fewer cells. Example:

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/bench_env.py --batches 1 8 32 128 \
        --resolutions 64 128 256 --seconds 1
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import os
import platform
import pstats
import time
from collections.abc import Callable, Iterator

import numpy as np
from gymnasium.vector import AutoresetMode, SyncVectorEnv

from envs.config import EnvConfig
from envs.factory import make_sb3_vec_env
from envs.gym_env import PointNavEnv

MIXES = {"move": 0.0, "stop25": 0.25}  # probability of STOP per agent and step
WINDOWS = 5  # timing windows per cell; the best one counts
SYNC_POOL_LIMIT = 128  # single envs built per resolution for the SyncVectorEnv baseline


def machine() -> str:
    """CPU model, core count and date, for the results table."""
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            model = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{model}, nproc={os.cpu_count()} (usable {len(os.sched_getaffinity(0))}), {datetime.date.today()}"


def random_actions(rng: np.random.Generator, batch: int, stop_prob: float) -> np.ndarray:
    """Uniform MOVE_FORWARD / TURN_LEFT / TURN_RIGHT (ids 1..3), each replaced by STOP (0) with ``stop_prob``."""
    actions = rng.integers(1, 4, batch)
    actions[rng.random(batch) < stop_prob] = 0
    return actions


def steps_per_second(step: Callable[[np.ndarray], object], batch: int, stop_prob: float, seconds: float) -> float:
    """Env-steps/s of ``step(actions)``: the best of 5 windows of ``seconds / 5`` (>= 3 calls each), after 2
    warm-up calls. Best-of, because other jobs on this shared machine stall some windows."""
    rng = np.random.default_rng(0)
    for _ in range(2):
        step(random_actions(rng, batch, stop_prob))
    best = 0.0
    for _ in range(WINDOWS):
        calls, start = 0, time.perf_counter()
        while calls < 3 or time.perf_counter() - start < seconds / WINDOWS:
            step(random_actions(rng, batch, stop_prob))
            calls += 1
        best = max(best, calls * batch / (time.perf_counter() - start))
    return best


def batched_rate(config: EnvConfig, batch: int, stop_prob: float, seconds: float) -> float:
    """Env-steps/s through ``SB3VecEnv`` (the trainers' path)."""
    env = make_sb3_vec_env(config, batch, seed=0)
    env.reset()

    def step(actions: np.ndarray) -> object:
        env.step_async(actions)
        return env.step_wait()

    rate = steps_per_second(step, batch, stop_prob, seconds)
    env.close()
    return rate


def sync_rate(pool: list, batch: int, stop_prob: float, seconds: float) -> float:
    """Env-steps/s through ``gymnasium.vector.SyncVectorEnv`` over the first ``batch`` single envs of ``pool``."""
    env = SyncVectorEnv([(lambda e=e: e) for e in pool[:batch]], autoreset_mode=AutoresetMode.SAME_STEP)
    env.reset(seed=0)
    return steps_per_second(env.step, batch, stop_prob, seconds)  # not closed: the pool is reused


def profile(config: EnvConfig, batch: int, seconds: float) -> None:
    """Print where batched steps spend their time, per action mix (cProfile, top 12 by own time)."""
    for mix, stop_prob in MIXES.items():
        env = make_sb3_vec_env(config, batch, seed=0)
        env.reset()
        rng = np.random.default_rng(0)
        for _ in range(2):  # warm up (numba compile / cache load)
            env.step_async(random_actions(rng, batch, stop_prob))
            env.step_wait()
        profiler = cProfile.Profile()
        calls, start = 0, time.perf_counter()
        profiler.enable()
        while time.perf_counter() - start < seconds:
            env.step_async(random_actions(rng, batch, stop_prob))
            env.step_wait()
            calls += 1
        profiler.disable()
        took = time.perf_counter() - start
        print(
            f"--- {mix}: batch {batch} at {config.resolution} px, "
            f"{calls * batch / took:,.0f} env-steps/s under cProfile"
        )
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
        env.close()


def table_rows(device: str, res: int, batches: list[int], seconds: float, sync: dict) -> Iterator[str]:
    """Markdown rows for one device and resolution; on 'cpu' also time the SyncVectorEnv baseline into ``sync``."""
    config = EnvConfig(resolution=res, render_device=device)
    pool_size = 0 if device != "cpu" else min(max(batches), SYNC_POOL_LIMIT)
    pool = [PointNavEnv(config, seed=k) for k in range(pool_size)]  # built once, shared by every batch size
    for batch in batches:
        cells = []
        for mix, stop_prob in MIXES.items():
            fast = batched_rate(config, batch, stop_prob, seconds)
            if batch <= len(pool):
                sync[res, batch, mix] = sync_rate(pool, batch, stop_prob, seconds)
            slow = sync.get((res, batch, mix))
            cells += [f"{fast:,.0f}", f"{slow:,.0f}" if slow else "-", f"{fast / slow:.1f}x" if slow else "-"]
        yield f"| {device} | {res} | {batch} | " + " | ".join(cells) + " |"
    for env in pool:
        env.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", nargs="+", type=int, default=[1, 8, 32, 128])
    parser.add_argument("--resolutions", nargs="+", type=int, default=[64, 128, 256])
    parser.add_argument("--seconds", type=float, default=1.0, help="timing per cell and figure")
    parser.add_argument(
        "--devices",
        nargs="+",
        default=None,
        help="render devices; default cpu plus torch-cpu (and cuda when available) at 128 px",
    )
    parser.add_argument("--profile", action="store_true", help="only profile batch 32 at 128 px (cpu) and exit")
    args = parser.parse_args()

    if args.profile:
        profile(EnvConfig(resolution=128), 32, args.seconds)
        return
    devices = args.devices
    if devices is None:
        import torch

        devices = ["cpu", "torch-cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    command = "python scripts/bench_env.py " + " ".join(
        [
            f"--batches {' '.join(map(str, args.batches))}",
            f"--resolutions {' '.join(map(str, args.resolutions))}",
            f"--seconds {args.seconds}",
            f"--devices {' '.join(devices)}",
        ]
    )
    policy = os.environ.get("OMP_WAIT_POLICY", "unset")
    print(f"command: OMP_WAIT_POLICY={policy} {command}\nmachine: {machine()}\n")
    print("| device | res | batch | batched move | sync move | ratio | batched stop25 | sync stop25 | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    sync: dict[tuple[int, int, str], float] = {}  # (resolution, batch, mix) -> numba sync figure
    for device in devices:
        extra = device != "cpu"  # shorter: 128 px (or the smallest asked for), half the time, no sync baseline
        resolutions = ([128] if 128 in args.resolutions else args.resolutions[:1]) if extra else args.resolutions
        for res in resolutions:
            for row in table_rows(device, res, args.batches, args.seconds / 2 if extra else args.seconds, sync):
                print(row, flush=True)
    print("\nenv-steps/s; move = random FORWARD/LEFT/RIGHT, stop25 = 25 % STOP (reset-heavy); ratio = batched / sync")


if __name__ == "__main__":
    main()
