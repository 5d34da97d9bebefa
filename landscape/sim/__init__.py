"""Simulation: environment ids and standards, lockstep vector environments, the mujoco.batch backend,
the toy environments."""
