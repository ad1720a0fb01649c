"""Side-tuning: frozen base encoders, side networks, merge operators, method presets and the SB3 extractor.

R = B ⊕ S: a frozen base B, a small trainable side S with the same output contract (8 x H/16 x W/16),
merged by alpha blending or another operator. See docs/policies.md.
"""

from policies.bases import build_base, load_base
from policies.checkpoints import CheckpointMismatchError, load_encoder_weights, save_encoder_weights
from policies.methods import (
    MethodEncoder,
    MethodSpec,
    PolicyConfig,
    build_encoder,
    method_names,
    method_spec,
    register_method,
)

__all__ = [
    "CheckpointMismatchError",
    "MethodEncoder",
    "MethodSpec",
    "PolicyConfig",
    "build_base",
    "build_encoder",
    "load_base",
    "load_encoder_weights",
    "method_names",
    "method_spec",
    "register_method",
    "save_encoder_weights",
]
