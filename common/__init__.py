"""The bottom floor every layer may import: user-error types, the config field parsers and atomic file writes
(no torch, no simulator)."""
