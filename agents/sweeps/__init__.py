"""Grids of runs (Ray tasks, resumable) and their reports."""
