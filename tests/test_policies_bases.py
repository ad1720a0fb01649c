"""Base encoders: Taskonomy ResNet-50 layout and visualpriors checkpoints, compact family, registry errors."""

import pytest
import torch
import torch.nn.functional as F

from policies import bases
from policies.base_compact import CompactEncoder
from policies.base_taskonomy import TaskonomyEncoder
from policies.bases import load_base
from policies.checkpoints import CheckpointMismatchError, save_encoder_weights


def _bn(prefix: str, c: int, g: torch.Generator) -> dict:
    return {
        f"{prefix}.weight": torch.rand(c, generator=g) + 0.5,
        f"{prefix}.bias": torch.randn(c, generator=g) * 0.1,
        f"{prefix}.running_mean": torch.randn(c, generator=g) * 0.1,
        f"{prefix}.running_var": torch.rand(c, generator=g) + 0.5,
        f"{prefix}.num_batches_tracked": torch.tensor(7),
    }


def _conv(name: str, cout: int, cin: int, k: int, g: torch.Generator) -> dict:
    return {name: torch.randn(cout, cin, k, k, generator=g) * (2.0 / (cin * k * k)) ** 0.5}


def visualpriors_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict with the exact names and shapes of visualpriors' TaskonomyEncoder, written independently."""
    g = torch.Generator().manual_seed(seed)
    sd = {**_conv("conv1.weight", 64, 3, 7, g), **_bn("bn1", 64, g)}
    inplanes = 64
    for layer, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 6, 3), strict=False), start=1):
        for b in range(blocks):
            p = f"layer{layer}.{b}"
            sd.update(_conv(f"{p}.conv1.weight", planes, inplanes, 1, g) | _bn(f"{p}.bn1", planes, g))
            sd.update(_conv(f"{p}.conv2.weight", planes, planes, 3, g) | _bn(f"{p}.bn2", planes, g))
            sd.update(_conv(f"{p}.conv3.weight", planes * 4, planes, 1, g) | _bn(f"{p}.bn3", planes * 4, g))
            if b == 0:
                sd.update(
                    _conv(f"{p}.downsample.0.weight", planes * 4, inplanes, 1, g)
                    | _bn(f"{p}.downsample.1", planes * 4, g)
                )
            inplanes = planes * 4
    sd.update(_conv("compress1.weight", 8, 2048, 3, g) | _bn("compress_bn", 8, g))
    return sd


def reference_forward(sd: dict, x: torch.Tensor) -> torch.Tensor:
    """The visualpriors forward pass written with functional ops over the state dict."""

    def bn(t, p):
        return F.batch_norm(
            t, sd[f"{p}.running_mean"], sd[f"{p}.running_var"], sd[f"{p}.weight"], sd[f"{p}.bias"], False, 0.0, 1e-5
        )

    x = F.conv2d(F.pad(x, (3, 3, 3, 3)), sd["conv1.weight"], stride=2)
    x = F.max_pool2d(F.relu(bn(x, "bn1")), 3, 2, ceil_mode=True)
    for layer, (blocks, stride) in enumerate(zip((3, 4, 6, 3), (2, 2, 1, 1), strict=False), start=1):
        for b in range(blocks):
            p, s = f"layer{layer}.{b}", stride if b == blocks - 1 else 1
            out = F.relu(bn(F.conv2d(x, sd[f"{p}.conv1.weight"]), f"{p}.bn1"))
            out = F.relu(bn(F.conv2d(out, sd[f"{p}.conv2.weight"], stride=s, padding=1), f"{p}.bn2"))
            out = bn(F.conv2d(out, sd[f"{p}.conv3.weight"]), f"{p}.bn3")
            if b == 0:
                shortcut = bn(F.conv2d(x, sd[f"{p}.downsample.0.weight"]), f"{p}.downsample.1")
            else:
                shortcut = x[..., ::s, ::s]
            x = F.relu(out + shortcut)
    x = F.relu(bn(F.conv2d(x, sd["compress1.weight"], padding=1), "compress_bn"))
    return F.group_norm(x, 8)


@pytest.fixture(scope="module")
def visualpriors_checkpoint(tmp_path_factory):
    sd = visualpriors_state_dict()
    path = tmp_path_factory.mktemp("vp") / "curvature_encoder.dat"
    torch.save({"state_dict": sd}, path)
    return path, sd


def test_taskonomy_loads_visualpriors_checkpoint_and_matches_reference(visualpriors_checkpoint):
    path, sd = visualpriors_checkpoint
    base = load_base(str(path), "taskonomy").eval()
    assert set(base.state_dict()) == set(sd)
    for key, value in base.state_dict().items():
        assert torch.equal(value, sd[key]), key
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(base(x), reference_forward(sd, x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("size", [128, 256])
def test_taskonomy_and_compact_give_8_channels_at_one_sixteenth(size):
    x = torch.zeros(1, 3, size, size)
    with torch.no_grad():
        assert TaskonomyEncoder().eval()(x).shape == (1, 8, size // 16, size // 16)
        assert CompactEncoder().eval()(x).shape == (1, 8, size // 16, size // 16)


@pytest.mark.parametrize("arch", ["taskonomy", "compact"])
def test_image_size_the_base_cannot_take_is_a_clear_error(arch):
    with pytest.raises(ValueError, match=r"image height: 100 is unsupported \(use a multiple of 16"):
        bases.build_base(arch).eval()(torch.zeros(1, 3, 100, 100))


def test_checkpoint_missing_unexpected_and_wrong_shape_are_named(visualpriors_checkpoint, tmp_path):
    _, sd = visualpriors_checkpoint
    broken = dict(sd)
    del broken["layer3.2.conv2.weight"]
    broken["layer9.0.conv1.weight"] = torch.zeros(1)
    broken["compress1.weight"] = torch.zeros(8, 1024, 3, 3)
    path = tmp_path / "broken.pth"
    torch.save({"state_dict": broken}, path)
    with pytest.raises(CheckpointMismatchError) as info:
        load_base(str(path), "taskonomy")
    message = str(info.value)
    assert "missing keys (1): layer3.2.conv2.weight" in message
    assert "unexpected keys (1): layer9.0.conv1.weight" in message
    assert "compress1.weight: checkpoint (8, 1024, 3, 3), expected (8, 2048, 3, 3)" in message


def test_taskonomy_checkpoint_into_compact_arch_is_rejected(visualpriors_checkpoint):
    with pytest.raises(CheckpointMismatchError, match="arch='compact'"):
        load_base(str(visualpriors_checkpoint[0]), "compact")


def test_compact_round_trips_through_visualpriors_layout(tmp_path):
    torch.manual_seed(0)
    base = CompactEncoder()
    path = save_encoder_weights(base, tmp_path / "c.pth")
    assert set(torch.load(path, weights_only=True)) == {"state_dict"}
    loaded = load_base(str(path), "compact")
    for key, value in base.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key])


def test_shipped_names_without_weights_explain_how_to_make_them(monkeypatch, tmp_path):
    monkeypatch.setattr(bases, "WEIGHTS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match="scripts/pretrain_base.py --task curvature --arch compact"):
        load_base("curvature", "compact")
    with pytest.raises(FileNotFoundError, match="neither a known name"):
        load_base("no/such/file.pth", "compact")
    with pytest.raises(ValueError, match="unknown base architecture"):
        load_base("random", "vgg")
