"""Thread counts set once hold through renders (numba) and torch ops: the two share libgomp."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import sys, numpy as np, torch
from agents.run.threads import set_threads
from envs.config import EnvConfig
from envs.factory import make_sb3_vec_env
torch.ones(4, 4) @ torch.ones(4, 4)         # torch's pool is up before the first render, as in a trainer
if sys.argv[1] == "set":
    set_threads(1)
else:
    torch.set_num_threads(1)                 # what the trainers did before agents/run/threads.py
    torch.get_num_threads()                  # e.g. a log line; with it, the first render resets the count
venv = make_sb3_vec_env(EnvConfig(resolution=32), 2, split="train", seed=0)
venv.reset(); venv.step(np.array([1, 2]))
torch.ones(4, 4) @ torch.ones(4, 4)
print(torch.get_num_threads())
"""


def threads_after_render(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1])


def test_set_threads_survives_the_first_render():
    assert threads_after_render("set") == 1


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: there is no other count to reset to")
def test_plain_torch_setting_is_reset_by_the_first_render():
    assert threads_after_render("plain") > 1  # the problem set_threads fixes (this documents it)
