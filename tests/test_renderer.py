"""The batched renderer: geometry (depth, normals) against analytic answers, images, and numba/torch agreement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from envs.embedded.render_torch import wall_segments
from envs.embedded.renderer import Renderer
from envs.embedded.world import Building

CELL = 0.1
RES = 64
FOCAL = RES / 2  # 90 degree field of view


def _textures(seed: int, count: int = 6, size: int = 16) -> np.ndarray:
    """Random-ish textured tiles, a different base colour per material."""
    rng = np.random.default_rng(seed)
    base = rng.integers(60, 200, size=(count, 1, 1, 3))
    grain = rng.integers(-40, 40, size=(count, size, size, 3))
    return np.clip(base + grain, 0, 255).astype(np.uint8)


def box_room(side_m: float = 10.0, pillars=(), boxes=(), seed: int = 0) -> Building:
    """A square room with 2-cell-thick walls (inner faces at 0.2 m and side - 0.2 m), optional boxes and pillars."""
    n = int(round(side_m / CELL))
    walls = np.zeros((n, n), np.uint8)
    walls[:2], walls[-2:], walls[:, :2], walls[:, -2:] = 2, 3, 4, 5
    for i0, i1, j0, j1 in boxes:
        walls[i0:i1, j0:j1] = 3
    return Building(
        name=f"room{seed}",
        seed=seed,
        cell_size=CELL,
        walls=walls,
        pillars=np.array([(x, y, r, 5.0) for x, y, r in pillars], np.float32).reshape(-1, 4),
        textures=_textures(seed),
        floor_material=0,
        ceiling_material=1,
        wall_height=2.5,
    )


def _render(building, pos, heading, device="cpu", res=RES, sensors=("rgb", "depth", "normals")):
    r = Renderer([building], res, device=device)
    return r.render(np.array([0]), np.array([pos], float), np.array([heading], float), sensors)


def test_flat_wall_straight_ahead_has_constant_z_depth_and_faces_the_camera():
    out = _render(box_room(), (5.0, 5.0), 0.0)  # looking along +x at the wall face x = 9.8
    mid = RES // 2
    np.testing.assert_allclose(out["depth"][0, 0, mid, :], 4.8, rtol=1e-4)  # z-depth of a fronto-parallel wall
    np.testing.assert_allclose(out["normals"][0, :, mid, mid], [0.0, 0.0, 1.0], atol=1e-5)
    for heading, expected in ((np.pi / 2, 4.8), (np.pi, 4.8), (-np.pi / 2, 4.8)):
        out = _render(box_room(), (5.0, 5.0), heading)
        np.testing.assert_allclose(out["depth"][0, 0, mid, mid], expected, rtol=1e-4)


def test_side_walls_normals_point_across_the_image():
    out = _render(box_room(), (3.0, 5.0), 0.0)
    mid = RES // 2
    left, right = out["normals"][0, :, mid, 0], out["normals"][0, :, mid, -1]
    # the left wall (y = 9.8) faces -y, i.e. towards image right; the right wall faces image left
    assert left[0] > 0.5 and right[0] < -0.5
    assert abs(left[1]) < 1e-6 and abs(right[1]) < 1e-6


def test_floor_and_ceiling_depth_and_normals():
    out = _render(box_room(), (5.0, 5.0), 0.3)
    depth, normals = out["depth"][0, 0], out["normals"][0]
    y_bottom = RES / 2 - 0.5  # pixel-centre height of the last row
    np.testing.assert_allclose(depth[-1], 1.25 * FOCAL / y_bottom, rtol=1e-5)
    np.testing.assert_allclose(depth[0], (2.5 - 1.25) * FOCAL / y_bottom, rtol=1e-5)
    np.testing.assert_allclose(normals[:, -1].T, np.tile([0, 1, 0], (RES, 1)), atol=1e-6)
    np.testing.assert_allclose(normals[:, 0].T, np.tile([0, -1, 0], (RES, 1)), atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=0), 1.0, atol=1e-5)


@pytest.mark.parametrize("device", ["cpu", "torch-cpu"])
def test_pillar_depth_matches_ray_circle_and_normals_are_radial(device):
    cx, cy, radius = 6.0, 5.2, 0.6
    cam = np.array([3.0, 5.0])
    out = _render(box_room(pillars=[(cx, cy, radius)]), cam, 0.0, device=device)
    mid = RES // 2
    hits = 0
    for c in range(RES):
        slope = (c + 0.5 - RES / 2) / FOCAL
        d = np.array([1.0, -slope])  # heading 0: forward +x, right -y; unit forward component
        o = cam - (cx, cy)
        a, hb, cc = d @ d, o @ d, o @ o - radius**2
        disc = hb * hb - a * cc
        if disc <= 0.05 * a * radius**2:
            continue  # skip grazing rays, where float32 (torch) loses digits
        t = (-hb - np.sqrt(disc)) / a
        hits += 1
        assert out["depth"][0, 0, mid, c] == pytest.approx(t, rel=1e-4)
        n_world = (cam + t * d - (cx, cy)) / radius
        expected = [n_world @ (0.0, -1.0), 0.0, -(n_world @ (1.0, 0.0))]  # (n.right, 0, -n.forward)
        np.testing.assert_allclose(out["normals"][0, :, mid, c], expected, atol=1e-4)
    assert hits >= 10  # the pillar covers a good part of the view


def test_rendering_is_deterministic_and_sensors_are_as_requested():
    r = Renderer([box_room(pillars=[(6, 6, 0.4)])], RES)
    args = (np.array([0, 0]), np.array([[5.0, 5.0], [3.0, 4.0]]), np.array([0.1, 2.0]))
    a, b = r.render(*args, ("rgb", "depth")), r.render(*args, ("rgb", "depth"))
    assert set(a) == {"rgb", "depth"}
    assert a["rgb"].dtype == np.uint8 and a["rgb"].shape == (2, 3, RES, RES)
    assert a["depth"].dtype == np.float32 and a["depth"].shape == (2, 1, RES, RES)
    np.testing.assert_array_equal(a["rgb"], b["rgb"])
    np.testing.assert_array_equal(a["depth"], b["depth"])
    assert a["rgb"][0].std() > 5  # textured, not a flat colour


def test_nearer_walls_are_brighter():
    room = box_room()
    room.textures[:] = 200  # uniform materials: only shading changes the colour
    near = _render(room, (8.8, 5.0), 0.0, sensors=("rgb",))["rgb"][0, :, RES // 2, RES // 2]
    far = _render(room, (2.0, 5.0), 0.0, sensors=("rgb",))["rgb"][0, :, RES // 2, RES // 2]
    assert (near > far + 20).all()


def _scene_batch(n: int, seed: int):
    rng = np.random.default_rng(seed)
    buildings = [
        box_room(10.0, pillars=[(6.0, 6.5, 0.4), (3.0, 7.0, 0.25)], boxes=[(20, 30, 20, 26)], seed=1),
        box_room(8.0, pillars=[(4.0, 2.5, 0.3)], boxes=[(50, 60, 40, 45), (10, 14, 60, 70)], seed=2),
        box_room(12.0, seed=3),
    ]
    idx = rng.integers(0, len(buildings), n)
    pos = np.empty((n, 2))
    for k, b in enumerate(idx):  # random free spots away from obstacles
        while True:
            p = rng.uniform(0.5, buildings[b].size_m[0] - 0.5, 2)
            j, i = (p / CELL).astype(int)
            if not buildings[b].walls[i - 3 : i + 4, j - 3 : j + 4].any() and all(
                np.hypot(*(p - q[:2])) > q[2] + 0.2 for q in buildings[b].pillars
            ):
                pos[k] = p
                break
    return buildings, idx, pos, rng.uniform(-np.pi, np.pi, n)


def _assert_agree(a: dict, b: dict) -> None:
    diff = np.abs(a["rgb"].astype(int) - b["rgb"].astype(int))
    assert (diff <= 3).mean() >= 0.99
    np.testing.assert_allclose(a["depth"], b["depth"], rtol=1e-3)
    close = np.abs(a["normals"] - b["normals"]).max(axis=1) < 1e-3
    assert close.mean() >= 0.999


def test_torch_cpu_agrees_with_numba():
    buildings, idx, pos, head = _scene_batch(12, seed=0)
    sensors = ("rgb", "depth", "normals")
    a = Renderer(buildings, RES).render(idx, pos, head, sensors)
    b = Renderer(buildings, RES, device="torch-cpu").render(idx, pos, head, sensors)
    _assert_agree(a, b)


@pytest.mark.parametrize("device", ["cpu", "torch-cpu"])
def test_mixed_batch_equals_rendering_each_alone(device):
    buildings, idx, pos, head = _scene_batch(6, seed=1)
    r = Renderer(buildings, RES, device=device)
    batch = r.render(idx, pos, head, ("rgb", "depth"))
    for k in range(len(idx)):
        alone = Renderer([buildings[idx[k]]], RES, device=device).render(
            [0], pos[k : k + 1], head[k : k + 1], ("rgb", "depth")
        )
        # torch's vectorised math may differ in the last ulp between batch sizes; numba is bit-exact
        assert (batch["rgb"][k] == alone["rgb"][0]).mean() >= (1.0 if device == "cpu" else 0.999)
        np.testing.assert_allclose(batch["depth"][k], alone["depth"][0], rtol=0 if device == "cpu" else 1e-6)


@pytest.mark.parametrize("device", ["cpu", "torch-cpu"])
@pytest.mark.parametrize("res", [64, 128, 256])
def test_resolutions(device, res):
    out = Renderer([box_room()], res, device=device).render(
        [0, 0], [[5, 5], [4, 6]], [0.0, 1.0], ("rgb", "depth", "normals")
    )
    assert out["rgb"].shape == (2, 3, res, res)
    assert out["depth"].shape == (2, 1, res, res)
    assert out["normals"].shape == (2, 3, res, res)


def test_render_torch_returns_tensors():
    out = Renderer([box_room()], RES, device="torch-cpu").render_torch([0], [[5, 5]], [0.0], ("rgb", "depth"))
    assert isinstance(out["rgb"], torch.Tensor) and out["rgb"].dtype == torch.uint8
    out_cpu = Renderer([box_room()], RES).render_torch([0], [[5, 5]], [0.0], ("depth",))
    torch.testing.assert_close(out_cpu["depth"], out["depth"], rtol=1e-4, atol=0)


def test_wall_segments_are_merged_faces_of_the_grid():
    walls = np.zeros((4, 5), np.uint8)
    walls[1:3, 2] = 7  # a 2-cell pillar of material 7 in the middle
    vertical, horizontal = wall_segments(walls, 0.5)
    assert sorted(map(tuple, vertical.tolist())) == [(1.0, 0.5, 1.5, 7.0, -1.0), (1.5, 0.5, 1.5, 7.0, 1.0)]
    assert sorted(map(tuple, horizontal.tolist())) == [(0.5, 1.0, 1.5, 7.0, -1.0), (1.5, 1.0, 1.5, 7.0, 1.0)]


def test_clear_errors():
    room = box_room()
    with pytest.raises(ValueError, match="resolution"):
        Renderer([room], 8)
    r = Renderer([room], RES)
    with pytest.raises(ValueError, match="unknown sensors"):
        r.render([0], [[5, 5]], [0.0], ("rgb", "semantic"))
    with pytest.raises(ValueError, match="out of range"):
        r.render([1], [[5, 5]], [0.0])
    with pytest.raises(ValueError, match="outside its building"):
        r.render([0], [[-1.0, 5.0]], [0.0])
    with pytest.raises(ValueError, match="positions"):
        r.render([0, 0], [[5, 5]], [0.0])
    with pytest.raises(ValueError, match="camera_height"):
        Renderer([room], RES, camera_height=3.0)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="env.render_device.*CUDA is not available"):
            Renderer([room], RES, device="cuda")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_agrees_with_numba():
    buildings, idx, pos, head = _scene_batch(16, seed=2)
    sensors = ("rgb", "depth", "normals")
    a = Renderer(buildings, 128).render(idx, pos, head, sensors)
    r = Renderer(buildings, 128, device="cuda")
    assert r.render_torch(idx, pos, head, ("rgb",))["rgb"].is_cuda
    _assert_agree(a, r.render(idx, pos, head, sensors))
