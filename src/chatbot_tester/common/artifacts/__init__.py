"""Artifacts on disk: JSONL, the workspace and its run directories, the store, the response cache."""
