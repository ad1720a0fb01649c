"""Run plumbing shared by every program: flags, layered configs read once into a typed run config,
run folders, the env pipeline, model build/save/load, threads.
"""
