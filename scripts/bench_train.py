"""Training throughput as ratios measured in one process (a timing script, not a test): docs/benchmarks.md.

This machine is shared, so every figure is compared with another taken in the same run, interleaved in
rounds (each round times every variant once; the median round counts):

1. PPO: trained frames/s (rollout + update, no evaluation) of each method with the project's trainer
   (agents.run.model_builder + the frozen-base rollout buffer) against plain SB3 PPO `MultiInputPolicy` (its
   default NatureCNN extractor) on the same env and PPO settings; `sidetune-recompute` is side-tuning with
   SB3's own buffer (the frozen base recomputed in every epoch) and `sidetune-nchw` with the default memory
   layout instead of channels_last: each is the trainer without one of its fast paths. So are `-maxpool` (torch's
   max-pool in the map tower instead of the separable max filter), `-unfolded` (the frozen base's own module in
   fp32, its BatchNorms not folded into the convs) and `-floatinput` (uint8 images cast to float before the
   extractor, then scaled and laid out in separate passes); `-unfused` is all three with fp32 training.
   `-fp32`/`-bf16` force policy.base_precision, `-16envs`/`-32envs` run that many envs with the same frames per
   rollout, `-bf16train` and `-fp32train` force policy.train_precision (bf16 autocast or fp32 in the update / the
   BC step). BC variants take the model levers and the train precisions.
   Tokens combine: `sidetune-bf16train-16envs` is both levers at once. Any registered method takes them:
   `side-only` (the side network without a base) is side-tuning with a base that costs nothing, the bound of
   any lever on the frozen base.
2. The update's achieved GMAC/s (multiply-accumulates counted by torch.utils.flop_counter over one whole
   update, over the update's median time) against a large fp32 matrix multiply in the same process.
3. Update variants of one minibatch step (forward + backward, batch = ppo.batch_size): NCHW or channels_last,
   fp32 or bf16 autocast, torch.compile (--compile); with each one's log-prob disagreement with NCHW fp32.
4. Env: a single env against its own batched path at N=1; the batched env at N=32 against its renderer
   alone (the same render call the step makes, same agents).
5. BC (`--sections bc`): training frames/s of behaviour-cloning epochs (configs/bc.yaml, N=490, feature cache on)
   against the same method's `-unfused` variant.

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/bench_train.py                      # about 6 minutes idle
    OMP_WAIT_POLICY=PASSIVE .venv/bin/python scripts/bench_train.py --sections ppo --rounds 5 ppo.n_epochs=4

Trailing key=value arguments override the CPU preset (configs/ppo.yaml) for every PPO variant.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from bench_env import steps_per_second  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from agents.run.cli import base_parser, resolve_config  # noqa: E402
from agents.run.env_builder import make_vec_env  # noqa: E402
from agents.run.model_builder import build_model, silence_logger  # noqa: E402
from agents.run.threads import set_threads  # noqa: E402
from agents.trainers.bc import attach_cache, build_context, train_epoch, wants_cache  # noqa: E402
from agents.trainers.rollout_env import device_resident_env  # noqa: E402
from envs.config import EnvConfig  # noqa: E402
from envs.factory import make_sb3_vec_env  # noqa: E402
from envs.gym_env import PointNavEnv  # noqa: E402
from policies.extractor import MaxFilter3x3  # noqa: E402
from policies.freeze import Frozen, cpu_has_amx  # noqa: E402
from policies.methods import method_names  # noqa: E402

TOKEN_OVERRIDES = {  # a variant's name is a method and `-`-joined tokens; each token adds config overrides
    "fp32": ["policy.base_precision=float32"],
    "bf16": ["policy.base_precision=bfloat16"],
    "bf16train": ["policy.train_precision=bfloat16"],
    "fp32train": ["policy.train_precision=float32"],
    "maxpool": [],  # model levers (MODEL_LEVERS, applied by build_variant)
    "floatinput": [],
    "unfolded": ["policy.base_precision=float32"],  # the unfolded module holds fp32 weights
    "unfused": ["policy.base_precision=float32", "policy.train_precision=float32"],
    "nchw": [],  # the default memory layout instead of channels_last (build_variant)
    "recompute": [],  # SB3's own rollout buffer: the frozen base recomputed in every epoch (build_variant)
}
DEFAULT_VARIANTS = (
    "sb3",
    "features",
    "sidetune",
    "features-unfused",
    "sidetune-unfused",
    "sidetune-fp32train",
    "sidetune-16envs",
)
SECTIONS = ("ppo", "variants", "env", "bc")
MODEL_LEVERS = {  # tokens that swap parts of a built model for plainer ones (use_model_levers)
    "maxpool": ("maxpool",),
    "floatinput": ("floatinput",),
    "unfolded": ("unfolded",),
    "unfused": ("maxpool", "floatinput", "unfolded"),
}
BC_TOKENS = (*MODEL_LEVERS, "bf16train", "fp32train")  # the levers a BC variant may name


def machine_info() -> dict[str, Any]:
    """CPU model, cores, AMX, load, versions: what the docs quote beside each figure."""
    model = platform.processor() or "unknown"
    amx = cpu_has_amx()
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return {
        "cpu": model,
        "nproc": os.cpu_count(),
        "amx_bf16": amx,
        "uptime": uptime,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="minutes"),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
    }


def matmul_gmacs(dtype: torch.dtype, size: int = 2048, seconds: float = 1.0, fit: bool = False) -> float:
    """GMAC/s of a size x size matrix multiply (best call over `seconds`). `fit`: halve the size until one call fits
    in `seconds`, so that a dtype the CPU only emulates (bf16 without avx512_bf16/amx_bf16: about 0.1 GMAC/s, a
    minute per 2048² call) is measured in seconds; the figure is then from a smaller, slower-per-MAC matrix."""
    if fit:
        probe = min(size, 256)
        a, b = torch.randn(probe, probe).to(dtype), torch.randn(probe, probe).to(dtype)
        a @ b  # the first call pays the kernel's set-up, which would understate the rate and shrink a native dtype
        start = time.perf_counter()
        a @ b
        rate = probe**3 / max(time.perf_counter() - start, 1e-9)
        while size > probe and size**3 / rate > seconds:
            size //= 2
    a, b = torch.randn(size, size).to(dtype), torch.randn(size, size).to(dtype)
    a @ b
    best, spent = float("inf"), 0.0
    while spent < seconds:
        start = time.perf_counter()
        a @ b
        took = time.perf_counter() - start
        best, spent = min(best, took), spent + took
    return size**3 / best / 1e9


# --- PPO --------------------------------------------------------------------------------------------------


def ppo_config(method: str, overrides: list[str]) -> Any:
    """The CPU preset for `method` (cpu device, no progress bar) with the user's overrides."""
    args = base_parser("bench").parse_args(
        [f"policy.method={method}", "run.device=cpu", "train.progress_bar=false", *overrides]
    )
    return resolve_config(args, "ppo")


class Timed:
    """A PPO model whose rollout and update phases are timed (wrapping collect_rollouts and train)."""

    def __init__(self, name: str, model: PPO) -> None:
        self.name, self.model = name, model
        self.rollout, self.update = 0.0, 0.0
        collect, train = model.collect_rollouts, model.train

        def timed_collect(*args: Any, **kwargs: Any) -> bool:
            start = time.perf_counter()
            try:
                return collect(*args, **kwargs)
            finally:
                self.rollout += time.perf_counter() - start

        def timed_train() -> None:
            start = time.perf_counter()
            train()
            self.update += time.perf_counter() - start

        model.collect_rollouts, model.train = timed_collect, timed_train

    def run(self, iterations: int) -> dict[str, float]:
        """Time `iterations` rollout+update cycles."""
        self.rollout = self.update = 0.0
        frames = iterations * self.model.n_steps * self.model.n_envs
        start = time.perf_counter()
        self.model.learn(frames, reset_num_timesteps=False)
        wall = time.perf_counter() - start
        return {"fps": frames / wall, "rollout_s": self.rollout, "update_s": self.update, "wall_s": wall}


def split_variant(name: str) -> tuple[str, list[str]]:
    """A variant's method and lever tokens: `sidetune-bf16train-16envs` -> (sidetune, [bf16train, 16envs]); the
    method is the longest registered one the name starts with (`side-only-16envs` -> side-only), `sb3` is plain SB3.
    Raises ValueError naming the unknown part."""
    if name == "sb3":
        return "sb3", []
    methods = sorted((m for m in method_names() if name == m or name.startswith(m + "-")), key=len)
    if not methods:
        raise ValueError(f"{name!r} starts with no method: use sb3 or one of {', '.join(method_names())}")
    method = methods[-1]
    tokens = name[len(method) + 1 :].split("-") if name != method else []
    for token in tokens:
        if token not in TOKEN_OVERRIDES and not (token.endswith("envs") and token[: -len("envs")].isdigit()):
            raise ValueError(f"{name!r}: unknown lever {token!r}; use <N>envs or one of {', '.join(TOKEN_OVERRIDES)}")
    return method, tokens


def variant_tokens(name: str) -> list[str]:
    """The lever tokens of a variant's name (after its method): `sidetune-bf16train-16envs` -> [bf16train, 16envs]."""
    return split_variant(name)[1]


def variant_argument(name: str) -> str:
    """argparse type of a PPO variant name: any registered method (or sb3) with any levers."""
    try:
        split_variant(name)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return name


def bc_variant_argument(name: str) -> str:
    """argparse type of a BC variant name: a method with the levers BC has (no plain SB3, no env counts)."""
    method, tokens = split_variant(variant_argument(name))
    extra = [t for t in tokens if t not in BC_TOKENS]
    if method == "sb3" or extra:
        raise argparse.ArgumentTypeError(f"{name!r}: BC variants are a method with levers among {', '.join(BC_TOKENS)}")
    return name


def variant_overrides(name: str, overrides: list[str]) -> list[str]:
    """The user's overrides plus the variant's tokens' own; an `<N>envs` token runs N envs with the same frames per
    rollout (`ppo.n_steps` divided accordingly)."""
    extra: list[str] = []
    for token in variant_tokens(name):
        if token.endswith("envs"):
            cfg = ppo_config("sidetune", overrides)
            frames = int(cfg.train.num_envs) * int(cfg.ppo.n_steps)
            envs = int(token[: -len("envs")])
            extra += [f"train.num_envs={envs}", f"ppo.n_steps={max(1, frames // envs)}"]
        else:
            extra += TOKEN_OVERRIDES[token]
    return [*overrides, *extra]


class SeparatePassScaler(torch.nn.Module):
    """Image scaling in separate passes over float frames (cast by SB3 or BC): a layout copy (RGB only: the map
    stays NCHW), then divide and subtract; the extractor's ImageScaler does it all in one pass from uint8."""

    def __init__(self, change_layout: bool) -> None:
        super().__init__()
        self.change_layout = change_layout

    def forward(self, x: torch.Tensor, memory_format: torch.memory_format = torch.contiguous_format) -> torch.Tensor:
        if self.change_layout:
            x = x.contiguous(memory_format=memory_format)
        return x.float().div(127.5).sub_(1.0)


def use_model_levers(model: PPO, tokens: list[str]) -> None:
    """Apply the variant's model levers (MODEL_LEVERS) to a built model: `maxpool` puts torch's max-pool in the
    map tower, `floatinput` has SB3 (or BC) cast images to float and SeparatePassScaler scale them, `unfolded`
    runs the frozen base's own module (BatchNorms not folded, fp32 weights) instead of its inference copy."""
    levers = {lever for token in tokens for lever in MODEL_LEVERS.get(token, ())}
    if not levers:
        return
    extractor = model.policy.features_extractor
    if "floatinput" in levers:
        extractor.raw_image_keys = ()
        extractor.rgb_scaler = SeparatePassScaler(change_layout=True)
        for key in extractor.scalers:
            extractor.scalers[key] = SeparatePassScaler(change_layout=False)
    if "maxpool" in levers:
        for tower in extractor.towers.values():
            if isinstance(tower, torch.nn.Sequential) and isinstance(tower[0], MaxFilter3x3):
                tower[0] = torch.nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
    base = extractor.encoder.base if "unfolded" in levers else None
    if isinstance(base, Frozen):
        base.inference_module = lambda x: base.module  # type: ignore[method-assign]


def build_variant(name: str, overrides: list[str]) -> Timed:
    """One PPO variant on its own copy of the preset's env (same seed for all)."""
    method = split_variant(name)[0]
    cfg = ppo_config("sidetune" if method == "sb3" else method, variant_overrides(name, overrides))
    venv = make_vec_env(cfg, int(cfg.train.num_envs), "train", int(cfg.run.seed))
    if name == "sb3":
        model = PPO(
            "MultiInputPolicy",
            venv,
            policy_kwargs={"optimizer_kwargs": {"eps": cfg.ppo.adam_eps}},
            device="cpu",
            seed=int(cfg.run.seed),
            verbose=0,
            **cfg.ppo.sb3_kwargs(),
        )
        silence_logger(model)
    else:
        tokens = variant_tokens(name)
        stored = "recompute" not in tokens  # the trainer's rollout, or SB3's own (the base recomputed, host frames)
        env = device_resident_env(venv, "cpu") if stored else venv
        model = build_model(cfg, env, device="cpu", store_base_features=stored)
        if "nchw" in tokens:
            model.policy.features_extractor.set_memory_format(torch.contiguous_format)
        use_model_levers(model, tokens)
    return Timed(name, model)


def update_macs(model: PPO) -> float:
    """Multiply-accumulates of one whole update (all epochs and minibatches) on the filled rollout buffer."""
    counter = FlopCounterMode(display=False)
    with counter:
        model.train()
    return counter.get_total_flops() / 2


def bench_ppo(variants: list[str], rounds: int, iterations: int, overrides: list[str]) -> dict[str, Any]:
    """Interleaved rounds of every PPO variant; medians, ratios to plain SB3, GMAC/s of the update."""
    timed = [build_variant(name, overrides) for name in variants]
    for t in timed:
        t.run(1)  # warm-up: numba caches, allocator, first episodes; also fills the rollout buffer
    macs = {t.name: update_macs(t.model) for t in timed}
    samples: dict[str, list[dict[str, float]]] = {t.name: [] for t in timed}
    matmul: list[float] = []
    for r in range(rounds):
        for t in timed if r % 2 == 0 else timed[::-1]:
            samples[t.name].append(t.run(iterations))
            matmul.append(matmul_gmacs(torch.float32, seconds=0.3))  # the reference, interleaved too
            print(
                f"  round {r + 1}/{rounds} {t.name:>18}: {samples[t.name][-1]['fps']:7.1f} frames/s, "
                f"fp32 matmul {matmul[-1]:.0f} GMAC/s",
                flush=True,
            )
    out: dict[str, Any] = {}
    for t in timed:
        fps = statistics.median(s["fps"] for s in samples[t.name])
        update_s = statistics.median(s["update_s"] for s in samples[t.name]) / iterations
        rollout_s = statistics.median(s["rollout_s"] for s in samples[t.name]) / iterations
        params = list(t.model.policy.parameters())
        out[t.name] = {
            "frames_per_s": fps,
            "frames_per_s_rounds": [s["fps"] for s in samples[t.name]],
            "update_s_per_iteration": update_s,
            "rollout_s_per_iteration": rollout_s,
            "update_gmac": macs[t.name] / 1e9,
            "update_gmac_per_s": macs[t.name] / 1e9 / update_s,
            "trainable_params": sum(p.numel() for p in params if p.requires_grad),
            "params": sum(p.numel() for p in params),
        }
    sb3 = out.get("sb3", {}).get("frames_per_s")
    reference = statistics.median(matmul)
    for row in out.values():
        row["vs_sb3"] = row["frames_per_s"] / sb3 if sb3 else None
        row["update_vs_matmul"] = row["update_gmac_per_s"] / reference
    out["_matmul_fp32_gmac_per_s_interleaved"] = reference
    for t in timed:
        t.model.env.close()
    return out


# --- behaviour cloning ------------------------------------------------------------------------------------


def bench_bc(variants: list[str], rounds: int, batches: int, overrides: list[str]) -> dict[str, Any]:
    """Training frames/s of BC epochs (the CPU preset, N from the overrides, the feature cache where a BC run uses
    it), each variant a model of its own on the same pool, `batches` batches per variant and round, interleaved;
    each row's ratio is to the same method's `-unfused` variant."""
    contexts = {}
    for name in variants:
        method, tokens = split_variant(name)
        # BC's model levers change the model alone: the feature cache is built by the preset's folded base
        extra = [o for t in tokens if t not in MODEL_LEVERS for o in TOKEN_OVERRIDES[t]]
        args = base_parser("bench").parse_args([f"policy.method={method}", "run.device=cpu", *overrides, *extra])
        ctx = build_context(resolve_config(args, "bc"), progress=False)
        if wants_cache(ctx):  # as a BC run would: methods without a frozen base train on the frames
            attach_cache(ctx, progress=False)
        use_model_levers(ctx.model, tokens)
        train_epoch(ctx, 0, False, 2)  # warm-up
        contexts[name] = ctx
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds):
        for name in variants if r % 2 == 0 else variants[::-1]:
            epoch = train_epoch(contexts[name], r + 1, False, batches)
            samples[name].append(epoch["frames"] / epoch["seconds"])
            print(f"  round {r + 1}/{rounds} bc {name:>16}: {samples[name][-1]:7.1f} frames/s", flush=True)
    out: dict[str, Any] = {
        name: {"frames_per_s": statistics.median(v), "frames_per_s_rounds": v} for name, v in samples.items()
    }
    for name, row in out.items():
        unfused = out.get(split_variant(name)[0] + "-unfused")
        row["vs_unfused"] = row["frames_per_s"] / unfused["frames_per_s"] if unfused else None
    any_ctx = next(iter(contexts.values()))
    settings = any_ctx.settings
    out["_settings"] = {
        "trajectories": int(settings.trajectories),
        "batch_size": int(settings.batch_size),
        "batches_per_round": batches,
    }
    return out


# --- update variants (memory format, precision, compile) --------------------------------------------------


def minibatch_step(policy: Any, obs: dict[str, torch.Tensor], actions: torch.Tensor, autocast: bool) -> torch.Tensor:
    """One PPO-like minibatch: forward (values, log-probs, entropy) and backward; returns the log-probs."""
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        values, log_prob, entropy = policy.evaluate_actions(obs, actions)
    loss = -(log_prob.float().mean()) + 0.5 * values.float().pow(2).mean() - 0.01 * entropy.float().mean()
    policy.zero_grad(set_to_none=True)
    loss.backward()
    return log_prob.detach().float()


def bench_variants(method: str, overrides: list[str], rounds: int, compile_too: bool) -> dict[str, Any]:
    """Seconds per minibatch step of `method` under each variant (interleaved), and their disagreement."""
    timed = build_variant(method, overrides)
    timed.run(1)
    model = timed.model
    batch = next(model.rollout_buffer.get(model.batch_size))
    obs, actions = batch.observations, batch.actions.long().flatten()
    default = model.policy  # the trainer's: channels_last (SideTunePolicy)

    def clone(memory_format: torch.memory_format) -> Any:
        twin = build_variant(method, overrides).model
        twin.env.close()
        twin.policy.load_state_dict(default.state_dict())
        twin.policy.features_extractor.set_memory_format(memory_format)
        return twin.policy

    nchw = clone(torch.contiguous_format)
    policies = {
        "nchw_fp32": (nchw, False),
        "channels_last_fp32": (default, False),
        "nchw_bf16_autocast": (nchw, True),
        "channels_last_bf16_autocast": (default, True),
    }
    out: dict[str, Any] = {}
    if compile_too:
        compiled = clone(torch.channels_last)
        compiled.features_extractor = torch.compile(compiled.features_extractor)
        start = time.perf_counter()
        minibatch_step(compiled, obs, actions, False)
        out["compile_seconds"] = time.perf_counter() - start
        policies["channels_last_compile"] = (compiled, False)
    reference = minibatch_step(nchw, obs, actions, False)
    for name, (policy, autocast) in policies.items():
        got = minibatch_step(policy, obs, actions, autocast)
        out.setdefault(name, {})["max_abs_logprob_diff_vs_fp32"] = float((got - reference).abs().max())
    times: dict[str, list[float]] = {name: [] for name in policies}
    for _ in range(rounds * 3):
        for name, (policy, autocast) in policies.items():
            start = time.perf_counter()
            minibatch_step(policy, obs, actions, autocast)
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["nchw_fp32"])
    for name in policies:
        s = statistics.median(times[name])
        out[name].update({"seconds_per_minibatch": s, "speedup_vs_fp32": base / s, "batch": int(model.batch_size)})
    model.env.close()
    return out


# --- env --------------------------------------------------------------------------------------------------


def bench_env(rounds: int, seconds: float) -> dict[str, Any]:
    """Single env vs its batched path at N=1 (64² and 128²); batched N=32 at 128² vs its renderer alone."""
    out: dict[str, Any] = {}
    for res in (64, 128):
        config = EnvConfig(resolution=res)
        single, batched = PointNavEnv(config, seed=0), make_sb3_vec_env(config, 1, seed=0)
        single.reset(seed=0)
        batched.reset()

        def single_step(actions: np.ndarray, single: Any = single) -> Any:
            obs, reward, terminated, truncated, info = single.step(int(actions[0]))
            if terminated or truncated:
                single.reset()
            return obs

        def batched_step(actions: np.ndarray, batched: Any = batched) -> Any:
            batched.step_async(actions)
            return batched.step_wait()

        pairs = [
            (steps_per_second(single_step, 1, 0.0, seconds), steps_per_second(batched_step, 1, 0.0, seconds))
            for _ in range(rounds)
        ]
        ratio = statistics.median(s / b for s, b in pairs)
        out[f"single_vs_batched_n1_{res}"] = {
            "single_steps_per_s": statistics.median(p[0] for p in pairs),
            "batched_n1_steps_per_s": statistics.median(p[1] for p in pairs),
            "ratio": ratio,
        }
        single.close()
        batched.close()
    config = EnvConfig(resolution=128)
    venv = make_sb3_vec_env(config, 32, seed=0)
    venv.reset()
    backend = venv.task.backend

    def step(actions: np.ndarray) -> Any:
        venv.step_async(actions)
        return venv.step_wait()

    def render(actions: np.ndarray) -> Any:
        return backend.render(("rgb",))

    pairs = [
        (steps_per_second(step, 32, 0.0, seconds), steps_per_second(render, 32, 0.0, seconds)) for _ in range(rounds)
    ]
    out["batched_n32_128_vs_render_only"] = {
        "batched_steps_per_s": statistics.median(p[0] for p in pairs),
        "render_only_frames_per_s": statistics.median(p[1] for p in pairs),
        "render_over_batched": statistics.median(r / s for s, r in pairs),
    }
    venv.close()
    return out


def _ratio(value: float | None) -> str:
    """A speed ratio as the tables print it; "n/a" when its baseline (the `sb3` variant) was not benchmarked."""
    return "n/a" if value is None else f"{value:.2f}x"


def report(results: dict[str, Any]) -> None:
    """Print the ratios against their goals."""
    print(
        f"\nmachine: {results['machine']['cpu']}, nproc {results['machine']['nproc']}, "
        f"AMX {results['machine']['amx_bf16']}"
    )
    print(f"load at start: {results['machine']['uptime']}\nload at end:   {results['load_end']}")
    if "ppo" in results:
        print(
            "\n| variant | trainable / total params | frames/s (median) | vs SB3 | update GMAC | update GMAC/s "
            "| vs fp32 matmul |"
        )
        print("|---|---|---:|---:|---:|---:|---:|")
        mm = results["ppo"]["_matmul_fp32_gmac_per_s_interleaved"]
        for name, r in results["ppo"].items():
            if name.startswith("_"):
                continue
            print(
                f"| {name} | {r['trainable_params'] / 1e6:.2f} M / {r['params'] / 1e6:.2f} M | "
                f"{r['frames_per_s']:.1f} | "
                f"{_ratio(r['vs_sb3'])} | {r['update_gmac']:.1f} | {r['update_gmac_per_s']:.1f} | "
                f"{r['update_gmac_per_s'] / mm:.0%} |"
            )
        side, features = results["ppo"].get("sidetune"), results["ppo"].get("features")
        if side:  # the training-speed goals, at load average 2 or less
            print(
                f"goals: side-tuning >= 1.5x SB3: {_ratio(side['vs_sb3'])}"
                + (f"; features >= 2x SB3: {_ratio(features['vs_sb3'])}" if features else "")
                + f"; side-tuning's update at {side['update_gmac_per_s'] / mm:.0%} of the fp32 matmul rate"
            )
    print(
        f"matmul GMAC/s at start (2048^2; bf16 at the largest size a 1-s call allows): {results['matmul_gmac_per_s']}"
        + (f"; fp32 interleaved with the PPO rounds (median): {mm:.1f}" if "ppo" in results else "")
    )
    if "variants" in results:
        print("\n| method | update variant (one minibatch) | s/minibatch | vs fp32 | max abs log-prob diff vs fp32 |")
        print("|---|---|---:|---:|---:|")
        for method, rows in results["variants"].items():
            for name, r in rows.items():
                if isinstance(r, dict):
                    print(
                        f"| {method} | {name} | {r['seconds_per_minibatch']:.3f} | {r['speedup_vs_fp32']:.2f}x | "
                        f"{r['max_abs_logprob_diff_vs_fp32']:.2e} |"
                    )
            if "compile_seconds" in rows:
                print(f"{method}: torch.compile first call {rows['compile_seconds']:.1f} s")
    if "bc" in results:
        bc = results["bc"]
        print(f"\nBC, N={bc['_settings']['trajectories']}, batch {bc['_settings']['batch_size']}:")
        for name, r in bc.items():
            if not name.startswith("_"):
                unfused = f"{split_variant(name)[0]}-unfused"
                ratio = f", {r['vs_unfused']:.2f}x {unfused}" if r["vs_unfused"] and name != unfused else ""
                print(f"  {name}: {r['frames_per_s']:.1f} frames/s{ratio}")
    if "env" in results:
        for key, r in results["env"].items():
            print(f"{key}: " + ", ".join(f"{k} {v:,.2f}" for k, v in r.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument(
        "--variants",
        nargs="+",
        default=list(DEFAULT_VARIANTS),
        type=variant_argument,
        metavar="VARIANT",
        help=f"sb3, or a method ({', '.join(method_names())}) with -joined levers: "
        + ", ".join(f"-{token}" for token in TOKEN_OVERRIDES)
        + ", -<N>envs (default: %(default)s)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (the median counts)")
    parser.add_argument("--iterations", type=int, default=1, help="rollout+update cycles per variant and round")
    parser.add_argument("--threads", type=int, default=None, help="torch and numba threads (default: torch's)")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile in the update variants")
    parser.add_argument("--variant-methods", nargs="+", default=["sidetune"], choices=list(method_names()))
    parser.add_argument("--env-seconds", type=float, default=1.0)
    parser.add_argument(
        "--bc-variants",
        nargs="+",
        default=["sidetune", "sidetune-unfused"],
        type=bc_variant_argument,
        metavar="VARIANT",
        help="a method with levers among " + ", ".join(f"-{t}" for t in BC_TOKENS) + " (default: %(default)s)",
    )
    parser.add_argument("--bc-batches", type=int, default=20, help="BC batches per variant and round")
    parser.add_argument("--bc-overrides", nargs="*", default=[], help="key=value overrides of configs/bc.yaml")
    parser.add_argument(
        "--json", default=None, help="where to write the results (default runs/bench/train-<time>.json)"
    )
    parser.add_argument("overrides", nargs="*", help="config key=value overrides for the PPO variants")
    args = parser.parse_args()
    set_threads(args.threads)
    results: dict[str, Any] = {"machine": machine_info(), "command": " ".join(sys.argv), "overrides": args.overrides}
    results["matmul_gmac_per_s"] = {"fp32": matmul_gmacs(torch.float32), "bf16": matmul_gmacs(torch.bfloat16, fit=True)}
    if "ppo" in args.sections:
        print("PPO variants (interleaved rounds):", flush=True)
        results["ppo"] = bench_ppo(args.variants, args.rounds, args.iterations, args.overrides)
    if "variants" in args.sections:
        print("update variants:", flush=True)
        results["variants"] = {
            m: bench_variants(m, args.overrides, args.rounds, args.compile) for m in args.variant_methods
        }
    if "bc" in args.sections:
        print("behaviour cloning (interleaved rounds):", flush=True)
        results["bc"] = bench_bc(args.bc_variants, args.rounds, args.bc_batches, args.bc_overrides)
    if "env" in args.sections:
        print("env:", flush=True)
        results["env"] = bench_env(args.rounds, args.env_seconds)
    results["load_end"] = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    report(results)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = Path(args.json or ROOT / "runs" / "bench" / f"train-{stamp}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    print(f"results: {path}")


if __name__ == "__main__":
    main()
