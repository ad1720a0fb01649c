"""habitat-lab's own PointNav task on the exported buildings: its expert, its measures, one JSON row per episode.

scripts/setup.sh installs habitat-lab 0.3.3 beside habitat-sim in the toolkit's venv; this script imports nothing
from the toolkit and changes no habitat-lab setting but the agent, the data paths, the EGL device (-1, no CUDA)
and the episode order (file order); the navmesh is habitat-lab's default:

    python scripts/habitat_lab_check.py EXPORT OUT.json [--episodes N]

For each held-out (val) episode of EXPORT (scripts/export_habitat_scenes.py) it runs habitat.Env with
benchmark/nav/pointnav/pointnav_gibson.yaml set to the toolkit's agent (radius, height, camera, 0.25 m steps,
10 degree turns, success within 0.2 m), drives habitat-lab's ShortestPathFollower until the episode ends and
records its actions and habitat-lab's measures distance_to_goal (at the start and the end), success and spl.
scripts/habitat_crosscheck.py --habitat-lab OUT.json replays the same actions on the toolkit's Habitat task.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

AGENT = {
    "radius": 0.15,
    "height": 1.5,
    "camera_height": 1.25,
    "forward_step": 0.25,
    "turn_angle": 10,
    "success_distance": 0.2,
    "max_steps": 500,
    "resolution": 64,
}  # the toolkit's EnvConfig defaults
EPISODES_SUBDIR = "datasets/pointnav/embedded/v1"
SCENES_SUBDIR = "scene_datasets"


def make_config(export: Path):
    """pointnav_gibson.yaml on the exported scenes with the toolkit's agent; a CPU (EGL, no CUDA) simulator."""
    from habitat.config import read_write
    from habitat.config.default import get_config

    config = get_config("benchmark/nav/pointnav/pointnav_gibson.yaml")
    with read_write(config):
        hab = config.habitat
        hab.dataset.data_path = str(export / EPISODES_SUBDIR / "{split}" / "{split}.json.gz")
        hab.dataset.scenes_dir = str(export / SCENES_SUBDIR)
        hab.dataset.split = "val"
        hab.simulator.habitat_sim_v0.gpu_device_id = -1
        hab.simulator.forward_step_size = AGENT["forward_step"]
        hab.simulator.turn_angle = AGENT["turn_angle"]
        agent = hab.simulator.agents.main_agent
        agent.radius, agent.height = AGENT["radius"], AGENT["height"]
        for sensor in agent.sim_sensors.values():
            sensor.width = sensor.height = AGENT["resolution"]
            sensor.position = [0.0, AGENT["camera_height"], 0.0]
        hab.task.measurements.success.success_distance = AGENT["success_distance"]
        hab.environment.max_episode_steps = AGENT["max_steps"]
        hab.environment.iterator_options.shuffle = False
        hab.environment.iterator_options.group_by_scene = False
    return config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--episodes", type=int, default=None, help="only the first N val episodes")
    args = parser.parse_args(argv)
    os.environ.setdefault("HABITAT_SIM_LOG", "quiet")
    os.environ.setdefault("MAGNUM_LOG", "quiet")
    import habitat
    import habitat_sim
    from habitat.tasks.nav.shortest_path_follower import ShortestPathFollower

    env = habitat.Env(make_config(args.export))
    count = len(env.episodes) if args.episodes is None else min(args.episodes, len(env.episodes))
    follower = ShortestPathFollower(env.sim, goal_radius=AGENT["success_distance"], return_one_hot=False)
    rows, started = [], time.perf_counter()
    for _ in range(count):
        env.reset()
        episode = env.current_episode
        start = env.get_metrics()["distance_to_goal"]
        actions = []
        while not env.episode_over:
            action = follower.get_next_action(episode.goals[0].position)
            action = 0 if action is None else int(action)
            actions.append(action)
            env.step(action)
        metrics = env.get_metrics()
        rows.append(
            {
                "episode_id": episode.episode_id,
                "scene_id": episode.scene_id,
                "actions": actions,
                "start_distance": float(start),
                "distance_to_goal": float(metrics["distance_to_goal"]),
                "success": float(metrics["success"]),
                "spl": float(metrics["spl"]),
            }
        )
    env.close()
    meta = {
        "habitat_lab": habitat.__version__,
        "habitat_sim": habitat_sim.__version__,
        "agent": AGENT,
        "seconds": time.perf_counter() - started,
    }
    args.out.write_text(json.dumps({"meta": meta, "episodes": rows}, indent=1))
    success = sum(r["success"] for r in rows) / max(len(rows), 1)
    print(f"habitat-lab {habitat.__version__}: {len(rows)} episodes, expert success {success:.3f} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
