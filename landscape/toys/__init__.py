"""Tiny environments with closed-form returns, registered with Gymnasium so every CLI works on them."""

import gymnasium as gym

gym.register(id="ToyTarget-v0", entry_point="landscape.toys.target:TargetEnv")
gym.register(id="ToyTrap-v0", entry_point="landscape.toys.trap:TrapEnv", max_episode_steps=2)
