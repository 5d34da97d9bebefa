"""Policy-gradient estimates from recorded rollouts, batched over parameter vectors.

**Advantages: one path for every consumer.** `advantages` is the only place where recorded rollouts become
advantages; the gradient estimates here, the PPO surrogate metric (probes.SurrogateBatch) and the surrogate
Hessian (curvature.surrogate_function) all call it. The baseline b_t does not depend on the action: with the
checkpoint's critic, b_t = a V(z_t) + c with (a, c) fitted by least squares to the discounted reward-to-go
over the whole batch -- the critic was trained on *scaled* rewards (SA-PPO reward scaling, about 100x apart
from raw rewards on Hopper), so the fit is where the reward scale is handled, once; without a critic, the
leave-one-out mean of the reward-to-go over the point's other episodes. Then GAE(gamma, lam) over raw
rewards with that baseline (numerics.advantages, which owns the fit). lam=1 gives the unbiased Monte-Carlo
estimate; lam=0.95 is the gradient PPO follows (less variance, some bias).

**Time-limit baseline (`horizon=H`, variance reduction).** Recorded episodes stop at the time limit H (Hopper:
1000 steps) without a bootstrap, so the reward-to-go falls to 0 over the last ~1 / (1 - gamma) steps while the
critic, which sees no clock, still predicts the untruncated value: the last TD error is about -V (-300 raw on
Hopper) and GAE spreads it over the steps before it. That is an action-independent error of the baseline, no
bias, but it dominates the variance of every episode that reaches the limit. With `horizon` the baseline is
    b_t = a V(z_t) + c + (a' V(z_t) + c') rho_t,   rho_t = (1 - gamma^(H-t)) / (1 - gamma^H)  ((H-t)/H at gamma 1)
(rho_t: the share of the discounted horizon still ahead; the old baseline is a' = c' = 0), fitted by least squares
to the reward-to-go leaving out the episode it is used in, at every point (points share an episode's start state
and noise): b_t then does not depend on the episode's own actions, so each g_e keeps the mean of the lam=1
estimate exactly, and the U-statistic's pairs depend on each other only through four fitted numbers (an
O(1 / E^2) effect, as with the leave-one-out mean below). The estimand is unchanged: at lam=1 both baselines are
unbiased for the same gradient; at lam<1 GAE's bias depends on the values, and these are closer to the
finite-horizon value near the limit. Without a critic the leave-one-out mean of the reward-to-go per step is
already time-aware and `horizon` changes nothing. Measured on the bundled Hopper checkpoints:
analyses/census/variance_reduction.py.

For point k and episode e the REINFORCE estimate is
    g_ke = sum_t grad log pi_theta_k(a_t | z_t) * A_t.
z_t is what the policy saw: under an attack it is the perturbed observation, which gives the adversarial
policy gradient with the adversary held fixed (Danskin).

**Scale-free gradient.** Raw norms scale with 1/std: d log pi / d mu_j = xi_j / sigma_j with xi the
standardized action noise. `scaled=True` also returns the gradient preconditioned by the inverse square
root of the Gaussian's *output-space* Fisher information (1/sigma_j^2 for mu_j, 2 for log sigma_j):
    g~ = sum_t A_t sum_j [ xi_j grad mu_j + (xi_j^2 - 1) / sqrt(2) grad log sigma_j ],
i.e. the mean map measured in units of its own std. It does not change with the std for a fixed advantage
distribution, so it compares policies whose std differs by 100x (the raw one does not).

**Norms.** U = (||sum g||^2 - sum ||g||^2) / (E (E-1)), the mean of g_i . g_j over pairs i != j, is an
unbiased estimate of ||grad J||^2 (it can be negative); its standard error is the jackknife over episodes,
which is never 0 unless every episode's gradient is identical. Bounds on the norm are derived from bounds on
U (stationarity.py); `gradient_norm` returns the point estimate sqrt(max(U, 0)) and, for drawing, the
half-width of the one-standard-error interval of U mapped through the square root -- positive even when
the clamp is active (before, the clamped estimate had a jackknife SE of exactly 0).
"""

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..core import numerics
from ..core.numerics import gaussian_log_prob, rewards_to_go
from ..model.flat import ParamSpace, batched_log_std, batched_mean


@dataclass
class GradientEstimate:
    mean: torch.Tensor  # [K, P] mean per-episode gradient
    norm: np.ndarray  # [K] bias-corrected norm of the expected gradient
    se: np.ndarray  # [K] its standard error (from the SE of U, see norm_se)
    U: np.ndarray | None = None  # [K] unbiased estimate of the squared norm
    U_se: np.ndarray | None = None  # [K] its jackknife standard error


def advantages(
    traj: dict, K: int, E: int, gamma: float = 0.99, lam: float = 0.95, critic=None, horizon: int | None = None
):
    """The one advantage path: (advantages [T, K*E], live mask [T, K*E], observations z [T, K*E, obs]) of a
    recorded Rollouts.trajectories; zero after each episode's end. horizon: the time limit, for the time-limit
    baseline (module docstring). See the module docstring."""
    live = traj["live"].astype(np.float64).reshape(traj["live"].shape[0], -1)  # [T, K*E]
    T = live.shape[0]
    z_t = torch.as_tensor(traj["z"], dtype=torch.float32).reshape(T, K * E, -1)
    rewards = np.asarray(traj["rewards"], dtype=np.float64).reshape(T, -1) * live
    same_scale = critic is None or horizon is not None
    if critic is None:  # leave-one-out mean of the reward-to-go over the point's other episodes (raw scale)
        g = rewards_to_go(rewards, live, gamma).reshape(-1, K, E)
        values = ((g.sum(2, keepdims=True) - g) / max(E - 1, 1)).reshape(T, -1)
    else:
        with torch.no_grad():
            values = critic(z_t).numpy().astype(np.float64)  # [T, K*E], trained on scaled rewards
        if horizon is not None:
            values = horizon_baseline(values, rewards, live, gamma, horizon, E)
    ends = live * (1.0 - np.concatenate([live[1:], np.zeros((1, K * E))]))  # episode ended after step t
    adv, _ = numerics.advantages(rewards, values, ends, gamma, lam, same_scale=same_scale, live=live)
    return adv, live, z_t


def time_limit(env_id: str) -> int | None:
    """The environment's time limit in steps (None: episodes end only by termination), for `horizon`."""
    from ..sim.envs import make_env

    env = make_env(env_id)
    limit = env.spec.max_episode_steps if env.spec is not None else None
    env.close()
    return limit


def remaining_horizon(T: int, gamma: float, horizon: int) -> np.ndarray:
    """rho_t [T]: the share of the discounted horizon still ahead at step t, (1 - gamma^(H-t)) / (1 - gamma^H)."""
    left = np.maximum(horizon - np.arange(T), 0).astype(np.float64)
    return left / horizon if gamma == 1 else (1 - gamma**left) / (1 - gamma**horizon)


def horizon_baseline(values: np.ndarray, rewards: np.ndarray, live: np.ndarray, gamma: float, horizon: int, E: int):
    """The time-limit baseline [T, K*E] in the rewards' scale (module docstring): the least squares fit of the
    reward-to-go on (V, 1, V rho_t, rho_t) over the live steps, for episode e over every episode but e -- of all
    K points, since the points share episode e's start state and noise (common random numbers)."""
    rho = remaining_horizon(values.shape[0], gamma, horizon)[:, None]
    X = np.stack(np.broadcast_arrays(values, 1.0, values * rho, rho), -1) * live[..., None]  # [T, K*E, 4]
    y = rewards_to_go(rewards, live, gamma)
    XX = np.einsum("tni,tnj->nij", X, X).reshape(-1, E, 4, 4).sum(0)  # per-episode normal equations [E, 4, 4]
    Xy = np.einsum("tni,tn->ni", X, y).reshape(-1, E, 4).sum(0)
    coef = np.linalg.pinv(XX.sum(0) - XX, hermitian=True) @ (Xy.sum(0) - Xy)[..., None]  # [E, 4, 1] leave e out
    return np.einsum("tkei,ei->tke", X.reshape(X.shape[0], -1, E, 4), coef[..., 0]).reshape(values.shape)


def per_episode_gradients(
    space: ParamSpace,
    thetas: torch.Tensor,
    traj: dict,
    episodes: int,
    gamma: float,
    lam: float = 0.95,
    critic=None,
    rows_per_pass: int | None = None,
    scaled: bool = False,
    horizon: int | None = None,
):
    """Per-episode policy gradients [K, E, P] from a recorded Rollouts.trajectories; with scaled=True the pair
    (raw, Fisher-scaled); horizon: the time-limit baseline (module docstring)."""
    K, E = thetas.shape[0], episodes
    adv, live, z_t = advantages(traj, K, E, gamma, lam, critic, horizon)
    T = live.shape[0]
    w = torch.as_tensor(adv.T, dtype=torch.float32)  # [K*E, T]
    z = z_t.transpose(0, 1)
    acts = torch.as_tensor(traj["actions"], dtype=torch.float32).reshape(T, K * E, -1).transpose(0, 1)
    reps = thetas.to(torch.float32).repeat_interleave(E, dim=0)
    rows_per_pass = rows_per_pass or max(64, 2**22 // max(T * space.size, 1))  # bounded autograd memory
    out = torch.empty(K * E, space.size)
    out_s = torch.empty(K * E, space.size) if scaled else None
    for lo in range(0, K * E, rows_per_pass):
        sl = slice(lo, lo + rows_per_pass)
        th = reps[sl].clone().requires_grad_(True)
        with torch.enable_grad():
            mean = batched_mean(space, th, z[sl])
            log_std = batched_log_std(space, th)[:, None, :]
            logp = gaussian_log_prob(mean, log_std, acts[sl])
            (grad,) = torch.autograd.grad((logp * w[sl]).sum(), th, retain_graph=scaled)
            if scaled:
                x = ((acts[sl] - mean) / log_std.exp()).detach()  # standardized action noise xi
                f = ((x * mean + (x**2 - 1) / math.sqrt(2) * log_std).sum(-1) * w[sl]).sum()
                (grad_s,) = torch.autograd.grad(f, th)
                out_s[sl] = grad_s
        out[sl] = grad
    if scaled:
        return out.view(K, E, -1), out_s.view(K, E, -1)
    return out.view(K, E, -1)


def squared_norm(g: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Unbiased U-statistic estimate of ||E g||^2 and its jackknife standard error, from g [K, E, P]."""
    g = g.to(torch.float64)
    E = g.shape[1]
    if E < 3:
        raise ValueError("gradient-norm estimates need at least 3 episodes per point")
    S = g.sum(1)  # [K, P]
    sq = (g**2).sum(-1)  # [K, E]
    SS, Q = (S**2).sum(-1), sq.sum(1)  # [K]
    U = (SS - Q) / (E * (E - 1))
    gS = (g * S[:, None, :]).sum(-1)  # [K, E]
    # leave-one-out: ||S - g_e||^2 - (Q - ||g_e||^2) = SS - Q - 2 g_e.S + 2 ||g_e||^2
    loo = (SS[:, None] - Q[:, None] - 2 * gS + 2 * sq) / ((E - 1) * (E - 2))
    se = torch.sqrt((E - 1) / E * ((loo - loo.mean(1, keepdim=True)) ** 2).sum(1))
    return U.numpy(), se.numpy()


def norm_se(U: np.ndarray, U_se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Point estimate sqrt(max(U, 0)) of the norm and a standard error for display: the half-width of the
    +-1 SE interval of U mapped through the square root (> 0 whenever U_se > 0, also when U <= 0)."""
    hi = np.sqrt(np.maximum(U, 0.0) + U_se)
    lo = np.sqrt(np.maximum(U - U_se, 0.0))
    return np.sqrt(np.maximum(U, 0.0)), (hi - lo) / 2


def gradient_norm(g: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Bias-corrected ||E g|| and its standard error (norm_se) from per-episode gradients g [K, E, P]."""
    return norm_se(*squared_norm(g))


def estimate(
    space: ParamSpace,
    thetas: torch.Tensor,
    traj: dict,
    episodes: int,
    gamma: float = 0.99,
    lam: float = 0.95,
    critic=None,
    horizon: int | None = None,
) -> GradientEstimate:
    g = per_episode_gradients(space, thetas, traj, episodes, gamma, lam, critic, horizon=horizon)
    U, U_se = squared_norm(g)
    norm, se = norm_se(U, U_se)
    return GradientEstimate(g.mean(1), norm, se, U, U_se)
