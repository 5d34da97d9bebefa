"""landscape: train, attack and map the optimization landscape of robust RL policies."""

__version__ = "0.1.0"
