"""Surface normals from a pinhole depth image, for backends whose simulator has no normals sensor.

habitat-sim renders colour, depth and semantics but not normals; the toolkit's optional ``normals`` sensor
(camera frame: x right, y up, z towards the camera, unit length) is derived here from depth by back-projecting
pixels and crossing the image-space derivatives of the 3-D points.
"""

from __future__ import annotations

import math

import numpy as np


def backproject(depth: np.ndarray, hfov_deg: float) -> np.ndarray:
    """Camera-frame points ``float32[3, H, W]`` of a depth image ``[H, W]`` (distance along the optical axis)."""
    h, w = depth.shape
    f = (w / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
    u = (np.arange(w, dtype=np.float32) + 0.5 - w / 2.0) / f
    v = (np.arange(h, dtype=np.float32) + 0.5 - h / 2.0) / f
    x = u[None, :] * depth
    y = -v[:, None] * depth  # image rows go down, camera y goes up
    z = -depth  # the camera looks along -z
    return np.stack([x, y, z]).astype(np.float32)


def normals_from_depth(depth: np.ndarray, hfov_deg: float) -> np.ndarray:
    """Unit normals ``float32[3, H, W]`` facing the camera; pixels without depth (0 or inf) get (0, 0, 1)."""
    with np.errstate(invalid="ignore", over="ignore"):  # missing depth spreads NaN to its neighbours: masked below
        points = backproject(depth, hfov_deg)
        du = np.gradient(points, axis=2)
        dv = np.gradient(points, axis=1)
        n = np.cross(du, dv, axis=0)
        n *= np.where(np.sum(n * points, axis=0) > 0, -1.0, 1.0)[None]  # face the camera at the origin
        norm = np.linalg.norm(n, axis=0)
    bad = ~np.isfinite(norm) | (norm < 1e-12) | ~np.isfinite(depth) | (depth <= 0)
    n = n / np.where(bad, 1.0, norm)[None]
    n[:, bad] = np.array([0.0, 0.0, 1.0], dtype=np.float32)[:, None]
    return n.astype(np.float32)
