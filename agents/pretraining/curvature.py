"""Principal-curvature labels from the simulator's z-depth and camera-frame surface normals.

Definition (in the spirit of Taskonomy's "3D curvature" task, which stores two principal curvatures):

1. Back-project every pixel to its camera-frame 3-D point ``P = (x_c * z / f, y_c * z / f, -z)`` (x right,
   y up, the camera looks along -z; ``z`` is the z-depth, ``x_c, y_c`` the pixel-centre offsets from the
   image centre, ``f`` the focal length in pixels).
2. With finite differences along image columns (u) and rows (v), take the tangents ``P_u, P_v`` and the
   normal derivatives ``n_u, n_v``. The shape operator ``S`` is defined by ``dn = S dP`` on the tangent
   plane; its matrix in the (P_u, P_v) basis is ``I^-1 II`` with the first fundamental form
   ``I = [[P_u.P_u, P_u.P_v], [P_v.P_u, P_v.P_v]]`` and ``II = [[P_u.n_u, m], [m, P_v.n_v]]``,
   ``m = (P_u.n_v + P_v.n_u) / 2``. Its eigenvalues are the principal curvatures ``k1 >= k2`` in 1/m.
3. Sign: normals point out of the surface (towards the camera), so a convex surface (the outside of a round
   pillar of radius r) has ``k1 = +1/r, k2 = 0``; a concave one (the inside corner of a room) is negative;
   planes give 0. A crease (two walls meeting, the wall meeting the floor) is where depth is continuous but
   the normal jumps: it gets a large curvature of its sign, about angle / (2 pixel footprints), two pixels wide.
4. Occlusion boundaries are masked: neighbours p, q are "connected" when the ray through q meets p's tangent
   plane within ``DISCONTINUITY_TOL`` (relative) of q's depth and vice versa. Differences use connected
   neighbours only (central where both sides connect, one-sided otherwise); a pixel with no connected
   neighbour along u or along v is invalid.

Targets (two channels, like Taskonomy): ``tanh(CURVATURE_SCALE * k)`` for k1 and k2, so pillars (r in
0.15..0.5 m) map to 0.46..0.93 and creases saturate near +-1, then averaged over a square window of
``smoothing_window(resolution)`` pixels (5 at 128x128, about 3.5 degrees of the view) over valid pixels only:
curvature "at the scale of the window". Without it a crease is a one-pixel line of +-1 that no encoder with an
8 x H/16 x W/16 bottleneck can place exactly, and the loss is dominated by where those lines are (predicting
zero everywhere is then nearly optimal). Invalid pixels carry a mask of 0.
"""

from __future__ import annotations

import numpy as np

CURVATURE_SCALE = 0.25  # metres: target = tanh(scale * k); k = 4/m (r = 0.25 m) -> 0.76
DISCONTINUITY_TOL = 0.05  # relative depth error of the tangent-plane prediction that marks an occlusion edge
SMOOTHING_PER_PIXELS = 64  # target window = 2 * round(resolution / 64) + 1 pixels: 5 at 128, 9 at 256
INVALID = -128  # int8 code of a masked pixel


def smoothing_window(resolution: int) -> int:
    """Odd side in pixels of the window the targets are averaged over (scales with the image size)."""
    return 2 * int(round(resolution / SMOOTHING_PER_PIXELS)) + 1


def masked_box_mean(values: np.ndarray, valid: np.ndarray, window: int) -> np.ndarray:
    """Mean of values [N,C,H,W] over the valid pixels (bool[N,H,W]) of each window x window neighbourhood."""
    if window <= 1:
        return np.where(valid[:, None], values, 0.0).astype(np.float32)
    half = window // 2
    weight = valid[:, None].astype(np.float64)

    def box_sum(a: np.ndarray) -> np.ndarray:
        c = np.pad(a, ((0, 0), (0, 0), (half + 1, half), (half + 1, half))).cumsum(2).cumsum(3)  # summed-area table
        return (
            c[..., window:, window:]
            - c[..., :-window, window:]
            - c[..., window:, :-window]
            + c[..., :-window, :-window]
        )

    total, count = box_sum(values * weight), box_sum(weight)
    return np.where(valid[:, None], total / np.maximum(count, 1.0), 0.0).astype(np.float32)


def backproject(depth: np.ndarray, focal: float) -> np.ndarray:
    """Camera-frame points float64[N,3,H,W] (x right, y up, z towards the camera) from z-depth [N,1,H,W]."""
    _, _, h, w = depth.shape
    xc = np.arange(w, dtype=np.float64) + 0.5 - w / 2
    yc = h / 2 - (np.arange(h, dtype=np.float64) + 0.5)
    z = depth[:, 0].astype(np.float64)
    return np.stack([xc[None, None, :] * z / focal, yc[None, :, None] * z / focal, -z], axis=1)


def _connected(points: np.ndarray, normals: np.ndarray, rays: np.ndarray, axis: int) -> np.ndarray:
    """bool[N,H,W-1] (axis=3) or [N,H-1,W] (axis=2): whether each pixel and its next neighbour share a surface."""
    n = points.shape[axis]
    a, b = (slice(None),) * axis + (slice(0, n - 1),), (slice(None),) * axis + (slice(1, n),)

    def predicts(p_sl, q_sl) -> np.ndarray:
        # depth along q's ray where it meets p's tangent plane: t = (n_p . P_p) / (n_p . ray_q), ray_q has z-depth 1
        n_p, p_p, ray_q = normals[p_sl], points[p_sl], rays[q_sl]
        denom = (n_p * ray_q).sum(1)
        numer = (n_p * p_p).sum(1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = numer / denom
        z_q = -points[q_sl][:, 2]
        return np.isfinite(t) & (np.abs(t - z_q) <= DISCONTINUITY_TOL * z_q)

    return predicts(a, b) & predicts(b, a)


def _derivative(field: np.ndarray, link: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Finite difference of field [N,C,H,W] along axis (2 or 3) over connected neighbours; (diff, valid[N,H,W])."""
    n = field.shape[axis]
    fwd = np.zeros_like(field)
    bwd = np.zeros_like(field)
    lo, hi = (slice(None),) * axis + (slice(0, n - 1),), (slice(None),) * axis + (slice(1, n),)
    step = field[hi] - field[lo]
    fwd[lo], bwd[hi] = step, step  # forward difference at the lower pixel, backward at the upper one
    has_f = np.zeros(field.shape[:1] + field.shape[2:], bool)
    has_b = np.zeros_like(has_f)
    l_lo, l_hi = (slice(None),) * (axis - 1) + (slice(0, n - 1),), (slice(None),) * (axis - 1) + (slice(1, n),)
    has_f[l_lo], has_b[l_hi] = link, link
    both = has_f & has_b
    diff = np.where(both[:, None], (fwd + bwd) / 2, np.where(has_f[:, None], fwd, bwd))
    return diff, has_f | has_b


def principal_curvatures(depth: np.ndarray, normals: np.ndarray, focal: float) -> tuple[np.ndarray, np.ndarray]:
    """Principal curvatures float32[N,2,H,W] (k1 >= k2, 1/m; 0 where invalid) and a validity mask bool[N,H,W]."""
    if depth.ndim != 4 or depth.shape[1] != 1 or normals.shape != (depth.shape[0], 3, *depth.shape[2:]):
        raise ValueError(f"expected depth [N,1,H,W] and normals [N,3,H,W]; got {depth.shape} and {normals.shape}")
    points = backproject(depth, focal)
    n = normals.astype(np.float64)
    rays = points / np.maximum(-points[:, 2:3], 1e-12)  # rays with unit z-depth
    p_u, ok_u = _derivative(points, _connected(points, n, rays, 3), 3)
    p_v, ok_v = _derivative(points, _connected(points, n, rays, 2), 2)
    n_u, _ = _derivative(n, _connected(points, n, rays, 3), 3)
    n_v, _ = _derivative(n, _connected(points, n, rays, 2), 2)
    e, f_, g = (p_u * p_u).sum(1), (p_u * p_v).sum(1), (p_v * p_v).sum(1)
    l_, m, n2 = (p_u * n_u).sum(1), ((p_u * n_v).sum(1) + (p_v * n_u).sum(1)) / 2, (p_v * n_v).sum(1)
    det = e * g - f_ * f_
    valid = ok_u & ok_v & (det > 1e-16)
    safe = np.where(valid, det, 1.0)
    mean = (e * n2 + g * l_ - 2 * f_ * m) / (2 * safe)
    gauss = (l_ * n2 - m * m) / safe
    root = np.sqrt(np.maximum(mean * mean - gauss, 0.0))
    k = np.stack([mean + root, mean - root], axis=1)
    k = np.where(valid[:, None], k, 0.0)
    return k.astype(np.float32), valid


def curvature_targets(
    depth: np.ndarray, normals: np.ndarray, focal: float, window: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Targets float32[N,2,H,W]: tanh(CURVATURE_SCALE * (k1, k2)) averaged over `window` (default from the
    image size) valid pixels, and the validity mask bool[N,H,W]."""
    k, valid = principal_curvatures(depth, normals, focal)
    window = smoothing_window(depth.shape[-1]) if window is None else int(window)
    return masked_box_mean(np.tanh(CURVATURE_SCALE * k.astype(np.float64)), valid, window), valid


def encode_curvature(targets: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Targets float32[N,2,H,W] in [-1, 1] and mask bool[N,H,W] -> int8 codes round(127 * target), INVALID where
    masked (what a pretraining set keeps in memory: about 32 KB per 128x128 image)."""
    code = np.round(targets * 127).astype(np.int8)
    return np.where(valid[:, None], code, np.int8(INVALID))


def decode_curvature(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes [...,2,H,W] -> (targets float32 in [-1, 1], mask float32 [...,1,H,W] with 1 where valid)."""
    valid = (codes != INVALID).all(axis=-3, keepdims=True)
    return np.where(valid, codes.astype(np.float32) / 127.0, 0.0).astype(np.float32), valid.astype(np.float32)
