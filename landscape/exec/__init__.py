"""Execution: one executor (local or Ray) for scans and sweeps."""
