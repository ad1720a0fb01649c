"""CUDA numerics, checked on the CPU with torch.cuda's queries stubbed: 'auto' bf16 only on GPUs that run it natively
(compute capability 8.0 and newer), TF32 a stated choice (run.tf32, off by default) that results.json records, and
a run's device set up in the order multi-GPU runs need (this rank's GPU before any CUDA query)."""

from __future__ import annotations

import sys

import pytest
import torch

from agents.run.cli import base_parser, resolve_config
from agents.run.run_config import RunConfig, RunSettings
from agents.trainers import distributed
from agents.trainers.run_device import setup_run_device
from common.config import ConfigError
from policies.freeze import cuda_native_bf16, resolve_precision
from policies.precision import emulated_bf16_warning, resolve_train_precision, run_numerics, set_tf32


@pytest.fixture(autouse=True)
def keep_tf32_switches():
    """TF32 switches are process-wide: each test leaves them as it found them."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def fake_gpu(monkeypatch, capability: tuple[int, int], calls: list | None = None, count: int = 1) -> None:
    """torch.cuda as a machine with ``count`` GPUs of ``capability`` shows it; ``calls`` records the queries
    that open a CUDA context on the current GPU and the set_device calls, in order."""
    calls = [] if calls is None else calls
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.setattr(torch.cuda, "set_device", lambda index: calls.append(("set_device", index)))

    def capability_of(device=None):
        calls.append(("get_device_capability", device))
        return capability

    def bf16_supported(including_emulation: bool = True):
        calls.append(("is_bf16_supported", including_emulation))
        return True  # as torch says on every GPU that can emulate bf16

    monkeypatch.setattr(torch.cuda, "get_device_capability", capability_of)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", bf16_supported)


@pytest.mark.parametrize("capability,native", [((7, 0), False), ((7, 5), False), ((8, 0), True), ((9, 0), True)])
def test_auto_bf16_only_where_the_gpu_runs_it_natively(monkeypatch, capability, native):
    assert cuda_native_bf16(capability) is native
    fake_gpu(monkeypatch, capability)
    cuda = torch.device("cuda")
    assert resolve_precision("auto", cuda) == (torch.bfloat16 if native else torch.float32)
    assert resolve_train_precision("auto", cuda) == ("bfloat16" if native else "float32")
    assert resolve_precision("bfloat16", cuda) == torch.bfloat16  # a forced choice stays, with a warning
    warning = emulated_bf16_warning("bfloat16", "auto", cuda)
    assert (warning is None) is native
    if not native:
        assert warning.startswith("warning: policy.base_precision=bfloat16 on a cuda without native bf16")


def test_tf32_is_off_by_default_and_an_override_turns_it_on():
    assert RunSettings(experiment="x", name=None, runs_root="runs", seed=0, device="cpu").tf32 is False
    default = resolve_config(base_parser("test").parse_args([]), "ppo.yaml")
    assert default.run.tf32 is False and default.to_dict()["run"]["tf32"] is False  # config.yaml states it
    on = resolve_config(base_parser("test").parse_args(["run.tf32=true"]), "ppo.yaml")
    assert on.run.tf32 is True
    tree = default.to_dict()
    tree["run"]["tf32"] = True  # a run's config.yaml with TF32 on reads back with it on
    assert RunConfig.from_dict(tree).run.tf32 is True
    tree["run"]["tf32"] = "sometimes"
    with pytest.raises(ConfigError, match="run.tf32"):
        RunConfig.from_dict(tree)


@pytest.mark.parametrize("enabled", [True, False])
def test_set_tf32_sets_both_switches(enabled):
    set_tf32(not enabled)
    set_tf32(enabled)
    assert torch.backends.cuda.matmul.allow_tf32 is enabled
    assert torch.backends.cudnn.allow_tf32 is enabled  # torch's own default here is True: set either way


def test_numerics_record_tf32_where_it_applies(monkeypatch):
    assert run_numerics("float32", "float32", "cpu", tf32=True)["tf32"] is False  # CPUs have no TF32
    fake_gpu(monkeypatch, (9, 0))
    on = run_numerics("auto", "auto", "cuda", tf32=True)
    assert on["tf32"] is True and on["base_dtype"] == "bfloat16" and on["train_precision"] == "bfloat16"
    assert run_numerics("auto", "auto", "cuda")["tf32"] is False


def test_the_run_device_is_set_up_with_this_ranks_gpu_before_any_cuda_query(monkeypatch):
    """Under torchrun rank 1 sets GPU 1 current before the bf16 check asks CUDA anything (which would otherwise
    open a context on GPU 0 in every rank), then applies run.tf32."""
    calls: list = []
    fake_gpu(monkeypatch, (9, 0), calls, count=2)
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda backend, **_: calls.append(("init", backend)))
    monkeypatch.setattr(distributed, "_CONTEXT", None)
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # a rank > 0 silences its stdout: restored after the test
    cfg = resolve_config(base_parser("test").parse_args(["run.device=auto", "run.tf32=true"]), "ppo.yaml")
    set_tf32(False)
    assert setup_run_device(cfg) == "cuda"
    assert calls[:2] == [("set_device", 1), ("init", "nccl")]
    queries = [name for name, _ in calls[2:]]
    assert queries and set(queries) == {"get_device_capability"}  # never is_bf16_supported (counts emulation)
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert distributed.context().local_rank == 1 and distributed.context().backend == "nccl"
