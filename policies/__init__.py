"""Side-tuning: frozen base encoders, side networks, merge operators, method presets and the SB3 extractor.

R = B ⊕ S: a frozen base B, a small trainable side S with the same output contract (8 x H/16 x W/16),
merged by alpha blending or another operator. See docs/policies.md.
"""
from policies.bases import build_base, load_base
from policies.checkpoints import CheckpointMismatchError, load_encoder_weights, save_encoder_weights
from policies.methods import METHODS, MethodEncoder, PolicyConfig, build_encoder

__all__ = [
    "METHODS",
    "CheckpointMismatchError",
    "MethodEncoder",
    "PolicyConfig",
    "build_base",
    "build_encoder",
    "load_base",
    "load_encoder_weights",
    "save_encoder_weights",
]
