"""Pretraining of the base encoders: curvature labels on analytic scenes, the noise model, an end-to-end run,
checkpoint metadata errors, and the shipped weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from agents.pretraining import noise
from agents.pretraining.curvature import (
    CURVATURE_SCALE,
    INVALID,
    backproject,
    curvature_targets,
    decode_curvature,
    encode_curvature,
    principal_curvatures,
    smoothing_window,
)
from agents.pretraining.dataset import render_set
from agents.pretraining.decoder import Decoder
from agents.pretraining.tasks import pretrain_task
from agents.pretraining.train import evaluate, load_run, pretrain_base
from envs.config import EnvConfig
from envs.embedded.catalogue import building_names
from envs.embedded.renderer import Renderer
from envs.embedded.world import Building
from policies import bases
from policies.bases import build_base, load_base, shipped_weights_path
from policies.checkpoints import CheckpointMismatchError, ResolutionMismatchError, read_checkpoint_metadata
from policies.contract import uint8_to_unit_range

RES = 64
CELL = 0.1


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """The tiny models gain nothing from more threads on a shared machine; restore the count afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _room(pillars=()) -> Building:
    """A 10 m square room (inner wall faces at 0.2 m and 9.8 m) with full-height round pillars (x, y, r)."""
    n = 100
    walls = np.zeros((n, n), np.uint8)
    walls[:2], walls[-2:], walls[:, :2], walls[:, -2:] = 2, 2, 3, 3
    rng = np.random.default_rng(0)
    textures = rng.integers(40, 220, size=(5, 16, 16, 3)).astype(np.uint8)
    return Building(
        "analytic",
        0,
        CELL,
        walls,
        np.array([(x, y, r, 4.0) for x, y, r in pillars], np.float32).reshape(-1, 4),
        textures,
        floor_material=0,
        ceiling_material=1,
    )


def _render(building: Building, pos, heading: float):
    renderer = Renderer([building], RES)
    out = renderer.render(np.array([0]), np.array([pos], float), np.array([heading]), ("rgb", "depth", "normals"))
    return out, renderer.camera.focal


def test_flat_wall_has_zero_curvature_away_from_creases():
    out, focal = _render(_room(), (5.0, 5.0), 0.0)  # facing the wall x = 9.8, 4.8 m ahead
    k, valid = principal_curvatures(out["depth"], out["normals"], focal)
    wall = np.abs(out["depth"][0, 0] - 4.8) < 1e-3
    interior = wall.copy()
    interior[1:-1, 1:-1] = wall[1:-1, 1:-1] & wall[:-2, 1:-1] & wall[2:, 1:-1] & wall[1:-1, :-2] & wall[1:-1, 2:]
    interior[[0, -1]], interior[:, [0, -1]] = False, False
    assert interior.sum() > 500 and valid[0][interior].all()
    assert np.abs(k[0][:, interior]).max() < 1e-3
    floor = np.abs(out["normals"][0, 1] - 1.0) < 1e-5  # the floor, a plane seen at a slant, is flat too
    floor[:-1] &= floor[1:].copy()
    floor[1:] &= floor[:-1].copy()
    assert floor.sum() > 300 and np.median(np.abs(k[0][:, floor])) < 1e-3


@pytest.mark.parametrize("radius", [0.2, 0.45])
def test_round_pillar_has_curvature_one_over_radius_along_its_circumference(radius):
    out, focal = _render(_room([(7.0, 5.0, radius)]), (5.0, 5.0), 0.0)  # pillar axis 2 m straight ahead
    k, valid = principal_curvatures(out["depth"], out["normals"], focal)
    points = backproject(out["depth"], focal)[0]
    on_pillar = np.abs(np.hypot(points[0], points[2] + 2.0) - radius) < 1e-3
    rows = slice(RES // 2 - 8, RES // 2 + 8)  # away from the floor and ceiling creases
    band = on_pillar[rows] & valid[0][rows]
    assert band.sum() > 40
    k1, k2 = k[0, 0][rows][band], k[0, 1][rows][band]
    np.testing.assert_allclose(np.median(k1), 1 / radius, rtol=0.01)
    assert np.mean(np.abs(k1 - 1 / radius) < 0.1 / radius) > 0.9  # along the whole visible circumference
    assert np.abs(k2).max() < 0.05 / radius  # straight along the axis
    targets, _ = curvature_targets(out["depth"], out["normals"], focal, window=5)
    inner = on_pillar.copy()
    for _ in range(2):  # the 5x5 target window lies on the pillar
        inner[1:-1, 1:-1] &= inner[:-2, 1:-1] & inner[2:, 1:-1] & inner[1:-1, :-2] & inner[1:-1, 2:]
    assert inner[rows].sum() > 10
    np.testing.assert_allclose(targets[0, 0][rows][inner[rows]], np.tanh(CURVATURE_SCALE / radius), rtol=0.02)
    assert np.abs(targets[0, 1][rows][inner[rows]]).max() < 0.02


def _sphere(radius: float, distance: float, size: int = 48, focal: float = 24.0, inside: bool = False):
    """Synthetic depth/normals of a sphere centred `distance` ahead (outward normals; `inside`: seen from within)."""
    c = np.arange(size) + 0.5 - size / 2
    ray = np.stack(np.broadcast_arrays(c[None, :] / focal, -c[:, None] / focal, -np.ones((size, size))))
    centre = np.array([0.0, 0.0, -distance])[:, None, None]
    a, b = (ray * ray).sum(0), -2 * (ray * centre).sum(0)
    disc = b * b - 4 * a * ((centre * centre).sum() - radius**2)
    t = (-b + (1 if inside else -1) * np.sqrt(np.maximum(disc, 0))) / (2 * a)  # z-depth: ray has z = -1
    normal = (ray * t - centre) / radius * (-1 if inside else 1)  # towards the camera
    return t[None, None].astype(np.float32), normal[None].astype(np.float32), disc > 0, focal


@pytest.mark.parametrize("inside", [False, True])
def test_sphere_gives_both_principal_curvatures_with_the_convexity_sign(inside):
    radius = 1.0 if not inside else 3.0
    depth, normals, hit, focal = _sphere(radius, 2.0, inside=inside)
    k, valid = principal_curvatures(depth, normals, focal)
    core = hit.copy()
    for _ in range(2):  # two pixels inside the silhouette
        core[1:-1, 1:-1] &= core[:-2, 1:-1] & core[2:, 1:-1] & core[1:-1, :-2] & core[1:-1, 2:]
    assert core.sum() > 300
    sign = -1 if inside else 1  # convex (seen from outside) positive, concave negative
    assert valid[0][core].all()
    np.testing.assert_allclose(k[0, 0][core], sign / radius, rtol=0.03)
    np.testing.assert_allclose(k[0, 1][core], sign / radius, rtol=0.03)
    assert np.isfinite(k).all()


def test_occlusion_edge_is_not_a_curvature_spike():
    out, focal = _render(_room([(7.0, 5.0, 0.3)]), (5.0, 5.0), 0.0)  # pillar silhouette against the wall behind it
    k, valid = principal_curvatures(out["depth"], out["normals"], focal)
    row = RES // 2
    depth = out["depth"][0, 0, row]
    jumps = np.flatnonzero(np.abs(np.diff(depth)) > 0.5)
    assert len(jumps) == 2
    for j in jumps:  # both pixels at each silhouette: pillar ~1/r, wall ~0, never the depth jump's huge value
        pil, wall = (j, j + 1) if depth[j] < depth[j + 1] else (j + 1, j)
        assert valid[0, row, pil] and valid[0, row, wall]
        assert abs(k[0, 0, row, pil] - 1 / 0.3) < 0.5 / 0.3
        assert np.abs(k[0, :, row, wall]).max() < 1e-3


def test_targets_are_window_means_of_the_encoded_curvature_over_valid_pixels():
    out, focal = _render(_room(), (5.0, 5.0), 0.3)  # a corner of the room: a concave vertical crease
    k, valid = principal_curvatures(out["depth"], out["normals"], focal)
    targets, mask = curvature_targets(out["depth"], out["normals"], focal)
    assert smoothing_window(RES) == 3 and smoothing_window(128) == 5 and smoothing_window(256) == 9
    encoded = np.tanh(CURVATURE_SCALE * k[0])
    i, j = 40, 30
    window = valid[0, i - 1 : i + 2, j - 1 : j + 2]
    expected = (encoded[:, i - 1 : i + 2, j - 1 : j + 2] * window).sum((1, 2)) / window.sum()
    np.testing.assert_allclose(targets[0, :, i, j], expected, rtol=1e-5, atol=1e-6)
    crease = np.argmin(encoded[1, RES // 2])  # the wall-wall corner: strongly concave, two pixels wide
    assert encoded[1, RES // 2, crease] < -0.5  # about (pi/2) / pixel footprint, 6.8 m away
    spread = targets[0, 1, RES // 2, crease - 2 : crease + 2]  # the window spreads and weakens the crease (2 px)
    assert (spread < -0.1).all() and (spread > 0.9 * encoded[1, RES // 2, crease]).all()
    assert np.array_equal(mask, valid)
    assert np.abs(targets).max() <= 1


def test_curvature_rejects_bad_shapes():
    with pytest.raises(ValueError, match="depth"):
        principal_curvatures(np.ones((1, 8, 8), np.float32), np.ones((1, 3, 8, 8), np.float32), 4.0)


def test_curvature_codes_round_trip_with_mask():
    codes = np.array([[[[0, 127]], [[-64, INVALID]]]], np.int8)  # [1, 2, 1, 2]
    target, mask = decode_curvature(codes)
    np.testing.assert_allclose(target[0, :, 0, 0], [0.0, -64 / 127])
    assert mask.shape == (1, 1, 1, 2) and mask[0, 0, 0].tolist() == [1.0, 0.0]
    assert (target[0, :, 0, 1] == 0).all()
    recoded = encode_curvature(target, mask[:, 0] > 0)  # a pixel with any channel masked is masked in both
    assert np.array_equal(recoded, np.array([[[[0, INVALID]], [[-64, INVALID]]]], np.int8))


# ------------------------------------------------------------------ noise model
def test_noise_is_seeded_clipped_and_within_its_documented_ranges():
    clean = torch.zeros(64, 3, 32, 32)
    a = noise.corrupt(clean, torch.Generator().manual_seed(1))
    b = noise.corrupt(clean, torch.Generator().manual_seed(1))
    c = noise.corrupt(clean, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.shape == clean.shape and a.min() >= -1 and a.max() <= 1
    salt = (a.abs() == 1).all(1).float().mean((1, 2))  # salt-and-pepper sets all channels to -1 or +1
    assert salt.max() <= noise.SALT_PEPPER_MAX * 1.6 and salt.mean() > noise.SALT_PEPPER_MAX * 0.25
    rest = [a[i][:, (a[i].abs() < 1).all(0)].std() for i in range(64)]
    assert max(rest) <= noise.GAUSS_MAX_STD * 1.1  # per-image Gaussian std is uniform in [0, GAUSS_MAX_STD]
    assert min(rest) < noise.GAUSS_MAX_STD * 0.2 and np.mean(rest) == pytest.approx(noise.GAUSS_MAX_STD / 2, rel=0.3)


def test_blur_is_the_binomial_kernel(monkeypatch):
    monkeypatch.setattr(noise, "BLUR_PROB", 1.0)
    monkeypatch.setattr(noise, "GAUSS_MAX_STD", 0.0)
    monkeypatch.setattr(noise, "SALT_PEPPER_MAX", 0.0)
    impulse = torch.zeros(1, 3, 7, 7)
    impulse[0, :, 3, 3] = 1.0
    out = noise.corrupt(impulse, torch.Generator().manual_seed(0))
    kernel = torch.tensor([1.0, 2.0, 1.0]) / 4
    np.testing.assert_allclose(out[0, 0, 2:5, 2:5].numpy(), torch.outer(kernel, kernel).numpy(), atol=1e-7)
    assert float(out.sum()) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="float images"):
        noise.corrupt(torch.zeros(1, 3, 4, 4, dtype=torch.uint8))


# ------------------------------------------------------------------ data, decoder, end to end
def test_pretraining_images_come_from_training_buildings_only_and_are_seeded():
    config = EnvConfig()
    train = render_set("curvature", "train", 12, 32, seed=3, config=config)
    again = render_set("curvature", "train", 12, 32, seed=3, config=config)
    held = render_set("denoising", "heldout", 6, 32, seed=3, config=config)
    assert set(train.buildings) <= set(building_names("train", config))
    assert set(held.buildings) <= set(building_names("heldout", config))
    assert not set(train.buildings) & set(building_names("heldout", config))
    assert np.array_equal(train.rgb, again.rgb) and np.array_equal(train.labels, again.labels)
    assert train.labels.shape == (12, 2, 32, 32) and train.labels.dtype == np.int8  # curvature codes
    assert train.rgb.shape == (12, 3, 32, 32) and held.labels is None  # denoising's targets are the images
    assert train.rgb.std() > 10  # real pictures, not blank frames
    with pytest.raises(ValueError, match="unknown pretraining task 'depth'"):
        pretrain_task("depth")


def test_decoder_maps_features_back_to_full_resolution():
    out = Decoder(2)(torch.zeros(2, 8, 3, 5))
    assert out.shape == (2, 2, 48, 80)
    with pytest.raises(ValueError, match="features"):
        Decoder(2)(torch.zeros(2, 4, 3, 5))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A few steps of curvature pretraining on tiny images, through the command line and configs/pretrain.yaml."""
    from agents.commands.pretrain_base import main

    out = tmp_path_factory.mktemp("pretrain") / "curv.pth"
    return main(
        [
            "--task",
            "curvature",
            "--arch",
            "compact",
            "--out",
            str(out),
            "--no-progress",
            "pretrain.resolution=32",
            "pretrain.train_images=16",
            "pretrain.heldout_images=8",
            "pretrain.steps=4",
            "pretrain.batch_size=4",
            "pretrain.log_every=2",
            "pretrain.threads=1",
        ]
    )


def test_tiny_run_writes_a_checkpoint_load_base_reads_bit_for_bit(tiny_run):
    path = tiny_run.paths["encoder"]
    loaded = load_base(str(path), "compact", task="curvature")
    for key, value in tiny_run.encoder.state_dict().items():
        assert torch.equal(value, loaded.state_dict()[key]), key
    assert read_checkpoint_metadata(path) == {"task": "curvature", "arch": "compact", "resolution": 32}
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.equal(loaded.eval()(x), tiny_run.encoder(x))
    prov = json.loads(tiny_run.paths["provenance"].read_text())
    assert prov["steps"] == 4 and prov["data_seed"] == 0 and [s for s, _ in prov["loss_curve"]] == [2, 4]
    assert prov["train_images"] == 16 and prov["config"]["resolution"] == 32 and "--task curvature" in prov["command"]
    assert np.isfinite([prov["heldout_loss"], prov["trivial_loss"], prov["train_loss"]]).all()
    assert set(prov["heldout_buildings"]) <= set(building_names("heldout", EnvConfig()))
    assert tiny_run.paths["decoder"].is_file()


def test_same_seed_gives_the_same_encoder(tiny_run, tmp_path):
    again = pretrain_base(
        "curvature",
        "compact",
        32,
        num_images=16,
        steps=4,
        batch_size=4,
        seed=0,
        out_path=tmp_path / "c.pth",
        progress=False,
        heldout_images=8,
        log_every=2,
    )
    for key, value in tiny_run.encoder.state_dict().items():
        assert torch.equal(value, again.encoder.state_dict()[key]), key
    assert again.metrics["heldout_loss"] == tiny_run.metrics["heldout_loss"]


def test_a_run_continues_from_a_previous_one(tiny_run, tmp_path):
    first = json.loads(tiny_run.paths["provenance"].read_text())
    more = pretrain_base(
        "curvature",
        "compact",
        32,
        num_images=8,
        steps=2,
        batch_size=4,
        seed=1,
        out_path=tmp_path / "c.pth",
        progress=False,
        heldout_images=4,
        log_every=1,
        init_from=tiny_run.paths["encoder"],
    )
    prov = json.loads(more.paths["provenance"].read_text())
    assert prov["total_steps"] == 6 and prov["init_from"]["steps"] == 4 and prov["data_seed"] == 1
    assert prov["loss_curve"][:2] == first["loss_curve"] and [s for s, _ in prov["loss_curve"][2:]] == [5, 6]
    with pytest.raises(CheckpointMismatchError, match="task 'curvature' encoder but task 'denoising'"):
        pretrain_base(
            "denoising",
            "compact",
            32,
            8,
            1,
            4,
            0,
            tmp_path / "d.pth",
            progress=False,
            heldout_images=4,
            init_from=tiny_run.paths["encoder"],
        )


def test_wrong_task_arch_or_resolution_is_named_with_the_fix(tiny_run, tmp_path, monkeypatch):
    path = str(tiny_run.paths["encoder"])
    with pytest.raises(CheckpointMismatchError, match="task 'curvature' encoder but task 'denoising' was requested"):
        load_base(path, "compact", task="denoising")
    with pytest.raises(CheckpointMismatchError, match="arch 'compact' encoder but arch 'taskonomy'.*--arch taskonomy"):
        load_base(path, "resnet50")
    with pytest.raises(ValueError, match="40 is unsupported \\(use a multiple of 16"):
        load_base(path, "compact", resolution=40)
    with pytest.raises(
        ResolutionMismatchError,
        match=r"pretrained at 32x32 but the rgb observation is 128x128 "
        r"\(set env.resolution=32.*allow_resolution_mismatch=true\)",
    ):
        load_base(path, "compact", resolution=128)
    with pytest.warns(UserWarning, match="pretrained at 32x32 but the rgb observation is 128x128"):
        load_base(path, "compact", resolution=128, allow_resolution_mismatch=True)
    monkeypatch.setattr(bases, "WEIGHTS_DIR", tmp_path)  # a curvature file put where the denoising weights belong
    (tmp_path / "denoising_compact.pth").write_bytes(tiny_run.paths["encoder"].read_bytes())
    with pytest.raises(CheckpointMismatchError, match="task 'curvature' encoder but task 'denoising'"):
        load_base("denoising", "compact")


def test_pretrain_rejects_unknown_task_arch_and_sizes(tmp_path):
    with pytest.raises(ValueError, match="unknown pretraining task"):
        pretrain_base("depth", "compact", 32, 4, 1, 2, 0, tmp_path / "x.pth")
    with pytest.raises(ValueError, match="unknown base architecture 'vgg'"):
        pretrain_base("curvature", "vgg", 32, 4, 1, 2, 0, tmp_path / "x.pth")
    with pytest.raises(ValueError, match="40 is unsupported \\(use a multiple of 16"):
        pretrain_base("denoising", "compact", 40, 4, 1, 2, 0, tmp_path / "x.pth")
    assert not list(tmp_path.iterdir())


def test_cli_rejects_unknown_task_and_arch(capsys):
    from agents.commands.pretrain_base import main

    with pytest.raises(SystemExit):
        main(["--task", "depth"])
    assert "invalid choice: 'depth'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="pretrain.task: 'depth' is unknown"):
        main(["pretrain.task=depth"])
    with pytest.raises(ValueError, match="pretrain.arch: 'vgg' is unknown"):
        main(["--task", "curvature", "pretrain.arch=vgg"])
    with pytest.raises(ValueError, match="pretrain.resolution: 40 is unsupported"):
        main(["--task", "curvature", "pretrain.resolution=40"])
    with pytest.raises(ValueError, match="pretrain.stepz: unknown key"):
        main(["--task", "curvature", "pretrain.stepz=3"])


def test_checkpoint_metadata_is_read_again_when_the_file_changes(tmp_path):
    """The metadata is cached per file (every config check reads the base's); a rewritten file is read again."""
    import os

    path = tmp_path / "base.pth"
    torch.save({"state_dict": {}, "task": "curvature", "arch": "compact", "resolution": 64}, path)
    assert read_checkpoint_metadata(path)["resolution"] == 64
    read_checkpoint_metadata(path)["resolution"] = 1  # a copy: the cache is not the caller's
    assert read_checkpoint_metadata(path)["resolution"] == 64
    mtime = path.stat().st_mtime_ns
    torch.save({"state_dict": {}, "task": "curvature", "arch": "compact", "resolution": 128}, path)
    os.utime(path, ns=(mtime + 1_000_000, mtime + 1_000_000))
    assert read_checkpoint_metadata(path)["resolution"] == 128


# ------------------------------------------------------------------ shipped weights
@pytest.mark.parametrize("task", ["curvature", "denoising"])
def test_shipped_weights_load_and_keep_the_contract(task):
    path = shipped_weights_path(task, "compact")
    meta = read_checkpoint_metadata(path)
    assert meta == {"task": task, "arch": "compact", "resolution": 128}
    encoder = load_base(task, "compact", resolution=128).eval()
    decoder = Decoder(pretrain_task(task).out_channels)
    load_run(task, "compact", path, build_base("compact"), decoder)
    held = render_set(task, "heldout", 16, 128, seed=123)  # measured here, not read from the run's own .json
    mean_image = uint8_to_unit_range(held.rgb.mean(axis=0, dtype=np.float64).round())[None]
    measured = evaluate(task, encoder, decoder.eval(), held, mean_image, seed=5)
    assert measured["heldout_loss"] < 0.8 * measured["trivial_loss"], (
        measured
    )  # clearly better than zero curvature / the mean image
    encoder.eval()  # evaluate() leaves the modules in training mode
    x = uint8_to_unit_range(held.rgb[:4])
    with torch.no_grad():
        features = encoder(x)
        assert features.shape == (4, 8, 8, 8)
        assert encoder(torch.zeros(1, 3, 256, 192)).shape == (1, 8, 16, 12)
    assert torch.isfinite(features).all() and features.std(0).mean() > 0.05  # features differ between images
