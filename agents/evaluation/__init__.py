"""Held-out evaluation and reporting: the one evaluation loop, metrics, reference policies, the paired bootstrap,
tables, reports, plots and linear probes."""
