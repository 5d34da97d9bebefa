"""Reinforcement learning: the PPO core, collection, the trainer, the batched evaluator, PGD and
closed-form input gradients."""
