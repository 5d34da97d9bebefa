"""Tiny environments with closed-form returns (registered with Gymnasium by envs.py, so every CLI works on them)."""
