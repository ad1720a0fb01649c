"""The bottom floor every layer may import: user-error types and the config field parsers (no torch, no simulator)."""
