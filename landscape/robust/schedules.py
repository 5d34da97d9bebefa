"""Schedules of the robust trainers: the eps warm-up and BARPO's adversary strength.

A strength schedule is called before every iteration as schedule(progress, history) -> strength in [0, 1],
where progress = finished iterations / total and history = the run's CSV log rows so far (dicts of
strings). Reading state from the log makes every schedule resumable for free.
"""

import math
from dataclasses import dataclass

import numpy as np


def eps_warmup(progress: float, eps: float, warmup: float = 0.75) -> float:
    """CAR-PPO / SA-PPO convention: eps grows linearly from 0 over the first `warmup` of training."""
    if warmup <= 0:
        return eps
    return eps * min(progress / warmup, 1.0)


@dataclass
class Constant:
    value: float

    def __call__(self, progress: float, history: list[dict]) -> float:
        return self.value


@dataclass
class Ramp:
    """Linear from `start` to `end` over the first `over` of training, then `end`."""

    start: float
    end: float
    over: float = 0.75

    def __call__(self, progress: float, history: list[dict]) -> float:
        frac = min(progress / self.over, 1.0) if self.over > 0 else 1.0
        return self.start + (self.end - self.start) * frac


@dataclass
class Adaptive:
    """Weaken the adversary when the run sits at a sticky stationary point; restore it when it moves again.

    Every `window` iterations compare the mean training (natural) return of the last window with the
    window before. "Stalled": it improved by less than stall_tol (relative). "Collapsed": the last
    window's mean policy-gradient norm is below `collapse` times the run's median. Stalled and collapsed:
    strength -= step (not below `floor`); improving: strength += step (not above `initial`).
    This rule is ours (the paper has no adaptive schedule); all its thresholds are configurable.
    """

    initial: float = 1.0
    step: float = 0.1
    window: int = 20
    stall_tol: float = 0.02
    collapse: float = 0.5
    floor: float = 0.0

    def __call__(self, progress: float, history: list[dict]) -> float:
        s = float(history[-1]["strength"]) if history else self.initial
        w = self.window
        if len(history) < 2 * w or len(history) % w:
            return s
        ret = np.array([float(r["train_return"]) for r in history])
        gn = np.array([float(r["grad_norm"]) for r in history])
        recent, before = np.nanmean(ret[-w:]), np.nanmean(ret[-2 * w : -w])
        if math.isnan(recent) or math.isnan(before):
            return s
        stalled = recent <= before + self.stall_tol * abs(before)
        collapsed = gn[-w:].mean() <= self.collapse * np.median(gn)
        if stalled and collapsed:
            return max(s - self.step, self.floor)
        if not stalled:
            return min(s + self.step, self.initial)
        return s


SCHEDULES = ("constant", "ramp", "adaptive")
