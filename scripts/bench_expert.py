"""Run the shortest-path expert on the held-out episode set through the embedded backend (no rendering).

Prints success rate (STOP within the goal radius), mean SPL (success * d_start / max(d_start, path length)),
resets/s and steps/s. Usage: python scripts/bench_expert.py [--batch 32] [--split heldout]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from envs.backend import Action
from envs.config import EnvConfig
from envs.embedded.backend import EmbeddedBackend
from envs.embedded.episode_gen import load_or_generate_episodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--split", default="heldout", choices=["train", "heldout"])
    parser.add_argument("--limit", type=int, default=None, help="use only the first N episodes")
    args = parser.parse_args()
    config = EnvConfig(split=args.split)
    t0 = time.perf_counter()
    episodes = load_or_generate_episodes(config, args.split)[: args.limit]
    print(f"{len(episodes)} {args.split} episodes ready in {time.perf_counter() - t0:.1f} s")
    backend = EmbeddedBackend(config, args.batch)
    radius, max_steps = config.success_distance, config.max_steps
    successes, spls, steps, slots, reset_time, step_time, expert_time, collisions = [], [], 0, 0, 0.0, 0.0, 0.0, 0
    for first in range(0, len(episodes), args.batch):
        chunk = episodes[first : first + args.batch]
        chunk = chunk + [chunk[-1]] * (args.batch - len(chunk))  # pad the last batch
        t = time.perf_counter()
        backend.reset(np.arange(args.batch), chunk)
        reset_time += time.perf_counter() - t
        done = np.zeros(args.batch, bool)
        success = np.zeros(args.batch, bool)
        path = np.zeros(args.batch)
        for _ in range(max_steps):
            t = time.perf_counter()
            actions = backend.expert_action(radius)
            expert_time += time.perf_counter() - t
            actions[done] = Action.STOP
            before = backend.positions.copy()
            t = time.perf_counter()
            result = backend.step(actions)
            geo = backend.geodesic_distance()
            step_time += time.perf_counter() - t
            slots += args.batch
            steps += int((~done).sum())
            collisions += int(result.collided[~done].sum())
            path += np.linalg.norm(backend.positions - before, axis=1)
            stopping = (actions == Action.STOP) & ~done
            success |= stopping & (geo <= radius)
            done |= stopping
            if done.all():
                break
        n = min(args.batch, len(episodes) - first)
        for k in range(n):
            d0 = chunk[k].geodesic_distance
            successes.append(success[k])
            spls.append(float(success[k]) * d0 / max(d0, path[k]))
    print(f"success {np.mean(successes):.4f}  mean SPL {np.mean(spls):.4f}  over {len(successes)} episodes")
    print(f"collisions per episode {collisions / len(successes):.2f}")
    print(f"reset: {reset_time / len(episodes) * 1e3:.2f} ms per episode (cold field cache)")
    print(
        f"step+geodesic: {step_time / slots * 1e6:.2f} us per agent-step "
        f"({slots / step_time:.0f} agent-steps/s at batch {args.batch})"
    )
    print(f"expert: {expert_time / slots * 1e6:.2f} us per agent-step; {steps} expert steps taken")


if __name__ == "__main__":
    main()
