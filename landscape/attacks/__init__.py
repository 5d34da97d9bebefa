"""State-observation attacks, batched over K parameter vectors x E environments.

    attack = make_attack("mad", agent, eps=0.075)   # eps defaults to the environment's standard
    z_adv = attack(z, thetas)                       # z [K, E, obs], thetas [K, P] -> z' in the eps-ball

Names: random, mad, critic, surrogate (gradient.py), rs (sarsa.py), optimal (adversary.py), paad (paad.py);
learned attackers are trained as sets of runs and selected by held-out evaluation (learned.py).
"""

from . import adversary, gradient, paad, sarsa  # noqa: F401  (importing registers the attacks)
from .base import ATTACKS, Attack, PGDAttack, cache_path, check_eps, fingerprint, make_attack

__all__ = ["ATTACKS", "Attack", "PGDAttack", "cache_path", "check_eps", "fingerprint", "make_attack"]
