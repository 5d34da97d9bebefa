"""ToyTrap-v0: a two-step MDP where the strongest adversary creates a sticky stationary point.

The MDP (episode of one or two steps, observations one-hot):
  s0, observation (1, 0): scalar action a0 ~ N(mu0, SIGMA^2); reward -K a0^2 (effort).
      a0 <= 0: the safe branch, reward R_SAFE, the episode ends.
      a0 >  0: the risky branch, go to s1.
  s1, observation (0, 1): action a1 ~ N(mu1, SIGMA^2); reward A exp(-(a1 - M)^2 / (2 WIDTH^2)); ends.

The policy is Actor(2, 1, hidden=()): mu = W.z + b with z = obs / (1 + 1e-8) (identity normalizer). Its
parameters are theta = (W1, W2); the bias is fixed at 0 (with it the two means would be over-parameterized
and no stationary point isolated) and log_std at log SIGMA. Flat layout (flat.ParamSpace): (log_std, W1, W2, b).

Closed forms (P = Phi(x0 / SIGMA), s^2 = WIDTH^2 + SIGMA^2, x0 = mu0 + d0, x1 = mu1 + d1 the means the
policy plays when the adversary shifts them by d0, d1):

    J(W; d0, d1) = -K (x0^2 + SIGMA^2) + (1 - P) R_SAFE + P V1(x1),
    V1(x)        = A (WIDTH / s) exp(-(x - M)^2 / (2 s^2)).

Natural return J_nat = J(W; 0, 0). The l_inf adversary of budget eps moves the observation inside the box
z + [-eps, eps]^2, i.e. the mean by W.delta, anywhere in [-c, c] with c = eps (|W1| + |W2|). V1 is unimodal
and so is x0 -> -K x0^2 + P (V1w - R_SAFE), so the worst shift of each state is an end of its interval, reached
at a vertex of the box: the worst-case return is exactly the minimum over the 4 x 4 vertex choices,

    J_worst(W) = min_{u, v in {-1, 1}^2} J(W; eps u.W, eps v.W),

a minimum of 16 smooth functions (checked against a dense search in tests/test_toy.py).

The mechanism (constants below; numbers from the closed form, see tests/test_toy.py and analyses/toy/):
- J_nat has one stationary point, its maximum NATURAL_OPT ~ (0.932, 1.5), J_nat 2.675: take the risky branch.
- J_worst has two local maxima. The ORP ~ (0.469, 1.5): J_worst 1.674 (the global robust optimum), J_nat 2.550
  (95% of the natural optimum). The TRAP ~ (-0.970, 0): J_worst 1.308, J_nat 1.349 -- the safe branch. At
  W2 ~ 0 the adversary pushes the risky branch off its peak so far that the safe branch is robustly better,
  and every gradient on W2 is weighted by the small branch probability (P = 0.03, 0.09 under attack): sticky. The natural
  objective has no stationary point there (its W2-gradient P V1'(W2) > 0 leads back to the risky branch).
- Both robust maxima are non-smooth: the worst case switches vertex there (the ORP's W2 = M is where the
  adversary at s1 is indifferent between pushing left and right; the trap sits on the kinks W2 = 0 and an
  indifference point at s0). They are first-order stationary in the Clarke sense: 0 lies in the convex hull
  of the gradients of the active vertex choices. `clarke_gradient` returns the minimum-norm element of that
  hull (over the vertex choices within `tol` of the minimum): the steepest-ascent direction of J_worst, zero
  exactly at its stationary points. Plain gradient ascent on J_worst (what ARPO does: the gradient with the
  worst adversary held fixed, Danskin) zig-zags across such kinks within one step of the point.
- Dynamics from starts uniform in START_BOX (gradient ascent, lr 0.05, 2000 steps; analyses/toy/trap_shares.py):
  SPO reaches NATURAL_OPT from all. ARPO and BARPO get the same eps schedule. With eps constant from the first
  step ARPO falls into the TRAP from 47 of 150 starts (31%, Wilson 95% 24-39%) and reaches the ORP from the
  rest; the bilevel BARPO (KL inner objective + SPO guidance, `step_direction`) from none (0/150, 0-2.5%):
  it settles at its own fixed point BARPO_POINT beside the ORP. With the 75% ramp the warm-up alone keeps
  ARPO out of the trap from almost every start. DOCUMENTED_STARTS are starts of ARPO's trap basin at constant eps.
"""

import itertools
import math

import gymnasium as gym
import numpy as np
import torch

SIGMA, K, R_SAFE, A, M, WIDTH = 0.5, 0.1, 1.5, 4.0, 1.5, 0.5
EPS = 0.3  # the toy's standard attack budget (envs.ENV_SPECS)
NORM = 1.0 + 1e-8  # the identity normalizer's divisor (std + 1e-8)
START_BOX = ((-2.0, 2.0), (-0.5, 2.0))  # (W1 range, W2 range) of random starts
NATURAL_OPT = (0.932, 1.5)  # approximate; exact values come from the closed form
ORP = (0.469, 1.5)
TRAP = (-0.970, 0.0)
BARPO_POINT = (0.536, 1.398)  # where the bilevel BARPO (KL inner objective, kappa 1) settles; approximate
DOCUMENTED_STARTS = ((-1.0, 0.5), (0.3, 0.1), (-0.5, -0.3))
LR, STEPS, RAMP = 0.05, 2000, 0.75  # the exact dynamics' defaults

X = np.array([[1.0, 0.0], [0.0, 1.0]])
VERTICES = torch.tensor(list(itertools.product([-1.0, 1.0], repeat=2)), dtype=torch.float64)  # [4, 2]


class TrapEnv(gym.Env):
    observation_space = gym.spaces.Box(-10.0, 10.0, shape=(2,), dtype=np.float64)
    action_space = gym.spaces.Box(-10.0, 10.0, shape=(1,), dtype=np.float64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return X[0].copy(), {}

    def step(self, action):
        a = float(np.asarray(action, dtype=np.float64).reshape(-1)[0])
        if self.t == 0:
            self.t = 1
            if a <= 0:
                return np.zeros(2), -K * a * a + R_SAFE, True, False, {"branch": "safe"}
            return X[1].copy(), -K * a * a, False, False, {"branch": "risky"}
        self.t = 2
        return np.zeros(2), A * math.exp(-((a - M) ** 2) / (2 * WIDTH**2)), True, False, {}


# ----------------------------------------------------------------------------------- closed forms
def _phi_cdf(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def shifted_return(W: torch.Tensor, d0, d1, sigma: float = SIGMA) -> torch.Tensor:
    """J(W; d0, d1) for W [..., 2] and mean shifts d0, d1 broadcasting against W[..., 0]."""
    x0, x1 = W[..., 0] / NORM + d0, W[..., 1] / NORM + d1
    p = _phi_cdf(x0 / sigma)
    s2 = WIDTH**2 + sigma**2
    v1 = A * WIDTH / math.sqrt(s2) * torch.exp(-((x1 - M) ** 2) / (2 * s2))
    return -K * (x0**2 + sigma**2) + (1 - p) * R_SAFE + p * v1


def natural_return(W: torch.Tensor) -> torch.Tensor:
    return shifted_return(W, 0.0, 0.0)


def vertex_returns(W: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """[..., 16] returns under every vertex choice (u at s0, v at s1; index 4 * u + v)."""
    shifts = eps * (W / NORM) @ VERTICES.T  # [..., 4] mean shifts u.W eps
    vals = shifted_return(W[..., None, None, :], shifts[..., :, None], shifts[..., None, :])
    return vals.flatten(-2)


def worst_return(W: torch.Tensor, eps: float = EPS) -> torch.Tensor:
    """The exact worst-case return (strongest adversary of budget eps); its autograd gradient is Danskin's."""
    return vertex_returns(W, eps).min(-1).values if eps > 0 else natural_return(W)


def _as_w(W) -> torch.Tensor:
    return torch.as_tensor(W, dtype=torch.float64)


def gradient(W, objective: str = "natural", eps: float = EPS) -> torch.Tensor:
    """Autograd gradient [N, 2] of 'natural' or 'worst' (Danskin's: the worst vertex held fixed)."""
    W = _as_w(W).reshape(-1, 2).clone().requires_grad_(True)
    f = natural_return(W) if objective == "natural" else worst_return(W, eps)
    (g,) = torch.autograd.grad(f.sum(), W)
    return g


def min_norm_hull(G: np.ndarray) -> np.ndarray:
    """The minimum-norm point of the convex hull of the rows of G [n, d] (exact QP via NNLS)."""
    from scipy.optimize import nnls

    if len(G) == 1:
        return G[0]
    big = 1e4 * max(1.0, float(np.abs(G).max()))  # weight of the constraint sum(lambda) = 1
    lam, _ = nnls(np.vstack([G.T, big * np.ones(len(G))]), np.concatenate([np.zeros(G.shape[1]), [big]]))
    return G.T @ (lam / lam.sum())


def clarke_gradient(W, eps: float = EPS, tol: float = 1e-4) -> torch.Tensor:
    """[N, 2] minimum-norm element of the hull of the gradients of the vertex choices within tol of the worst."""
    W = _as_w(W).reshape(-1, 2)
    if eps <= 0:
        return gradient(W, "natural")
    Wg = W.clone().requires_grad_(True)
    vals = vertex_returns(Wg, eps)  # [N, 16]
    grads = torch.stack([torch.autograd.grad(vals[:, i].sum(), Wg, retain_graph=True)[0] for i in range(16)], 1)
    active = (vals - vals.min(-1, keepdim=True).values).detach() <= tol
    out = [min_norm_hull(grads[n][active[n]].numpy()) for n in range(len(W))]
    return torch.as_tensor(np.stack(out))


def hessian(W, objective: str = "natural", eps: float = EPS) -> torch.Tensor:
    """Exact 2 x 2 Hessian (autograd of the closed form; for 'worst', of the active vertex choice)."""
    f = natural_return if objective == "natural" else (lambda w: worst_return(w, eps))
    return torch.autograd.functional.hessian(f, _as_w(W).reshape(2))


# ----------------------------------------------------------------------------------- exact dynamics
KAPPA = 1.0  # BARPO's guidance weight (the paper's kappa; the trainers' default clean weight)
ALGOS = ("spo", "arpo", "barpo", "barpo-budget")


def strength_ramp(progress: float, ramp: float = RAMP) -> float:
    """The eps schedule's factor: linear from 0 to 1 over the first `ramp` of the run, then 1."""
    return min(progress / ramp, 1.0) if ramp > 0 else 1.0


def kl_vertices(W: torch.Tensor) -> torch.Tensor:
    """[N, 2] the perturbation directions the KL inner objective picks: KL(pi(.|z) || pi(.|z')) = (W.delta)^2 /
    (2 sigma^2) is maximal at delta = +-eps sign(W) in each state -- the two signs tie (KL is symmetric), so an
    SGLD solver from a random start picks either with probability 1/2."""
    W = _as_w(W)
    return torch.where(W >= 0, torch.ones_like(W), -torch.ones_like(W))


def kl_gradient(W, eps: float = EPS) -> torch.Tensor:
    """[N, 2] the expected outer gradient under the KL adversary: the return's gradient with the perturbation
    held fixed (Danskin), averaged over the four equally likely sign choices (u0, u1) at (s0, s1)."""
    W = _as_w(W).reshape(-1, 2).clone().requires_grad_(True)
    v = kl_vertices(W.detach())
    shift = eps * ((W / NORM) * v).sum(-1)  # the mean shift W.delta with delta = eps sign(W) held fixed
    total = sum(shifted_return(W, u0 * shift, u1 * shift) for u0 in (-1.0, 1.0) for u1 in (-1.0, 1.0)) / 4
    (g,) = torch.autograd.grad(total.sum(), W)
    return g


def step_direction(W: torch.Tensor, algo: str, eps: float, kappa: float = KAPPA, strength: float = 0.5):
    """The update direction of each algorithm at budget eps:
    spo            grad J_nat
    arpo           Danskin's gradient of J_worst (the strongest adversary: the worst of the 16 vertex choices)
    barpo          the paper's bilevel BARPO: (kappa grad J_nat + g_KL) / (1 + kappa), g_KL = kl_gradient (KL
                   inner objective, outer PPO objective at the chosen perturbation) -- SPO guidance kappa
    barpo-budget   the budget relaxation: Danskin's gradient of J_worst at budget eps * strength"""
    if algo == "spo" or eps <= 0:
        return gradient(W, "natural")
    if algo == "arpo":
        return gradient(W, "worst", eps)
    if algo == "barpo":
        return (kappa * gradient(W, "natural") + kl_gradient(W, eps)) / (1 + kappa)
    if algo == "barpo-budget":
        return gradient(W, "worst", eps * strength)
    raise ValueError(f"unknown algorithm {algo!r}; choose from {', '.join(ALGOS)}")


def ascend(
    starts,
    algo: str,
    steps: int = STEPS,
    lr: float = LR,
    eps: float = EPS,
    ramp: float = RAMP,
    record: bool = False,
    schedule: str = "ramp",
    kappa: float = KAPPA,
):
    """Exact gradient ascent from starts [N, 2] along step_direction. The eps schedule is the same for every
    robust algorithm: 'ramp' (linear from 0 over the first `ramp` of the steps, the literature's practice) or
    'constant' (full eps from the first step). Returns the end points [N, 2], or the whole path
    [steps + 1, N, 2] with record=True."""
    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; choose from {', '.join(ALGOS)}")
    if schedule not in ("ramp", "constant"):
        raise ValueError(f"unknown schedule {schedule!r} (ramp, constant)")
    W = _as_w(starts).reshape(-1, 2).clone()
    path = [W.clone()]
    for t in range(steps):
        e = eps * (strength_ramp(t / steps, ramp) if schedule == "ramp" else 1.0)
        W = W + lr * step_direction(W, algo, e, kappa)
        if record:
            path.append(W.clone())
    return torch.stack(path) if record else W


def outcome(W) -> np.ndarray:
    """Where each end point [N, 2] is: 'trap', 'orp', 'natural' (the natural optimum) or 'other' (within 0.1)."""
    W = _as_w(W).reshape(-1, 2)
    out = np.full(len(W), "other", dtype=object)
    for name, pt in (("natural", NATURAL_OPT), ("orp", ORP), ("trap", TRAP)):
        out[(W - torch.tensor(pt, dtype=torch.float64)).norm(dim=1).numpy() < 0.1] = name
    return out


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a binomial share k / n."""
    from scipy.stats import binomtest

    ci = binomtest(k, n).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def random_starts(n: int, seed: int = 0, box=START_BOX) -> torch.Tensor:
    """n starts uniform in box = ((W1 low, W1 high), (W2 low, W2 high)), a seeded torch generator."""
    u = torch.rand(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    (a0, a1), (b0, b1) = box
    return torch.stack([a0 + (a1 - a0) * u[:, 0], b0 + (b1 - b0) * u[:, 1]], 1)


# ----------------------------------------------------------------------------------- flat parameters
LOG_STD = math.log(SIGMA)


def to_theta(W) -> torch.Tensor:
    """Flat Actor parameters [..., 4] = (log_std, W1, W2, b) with the toy's fixed log_std and bias."""
    W = torch.as_tensor(W, dtype=torch.float32)
    fixed = torch.zeros(W.shape[:-1] + (1,))
    return torch.cat([fixed + LOG_STD, W, fixed], -1)


def from_theta(theta) -> torch.Tensor:
    return torch.as_tensor(theta)[..., 1:3].to(torch.float64)


def make_agent(W=(0.0, 0.0)):
    """An Agent for ToyTrap-v0 with the identity normalizer, policy mean W.z, log_std log SIGMA."""
    from ...model.agent import Agent
    from ...model.flat import ParamSpace

    agent = Agent.new("ToyTrap-v0", 2, 1, hidden=(), algo="spo", eps=EPS)
    agent.obs_norm.count = 1.0  # identity statistics: mean 0, var 1
    agent.obs_norm.frozen = True
    ParamSpace(agent.actor).assign(agent.actor, to_theta(W))
    return agent


class ExactOracle:
    """The FOSP finder's gradient oracle on the closed form: gradients [K, 4] in the flat layout (zero on
    log_std and bias, which the toy keeps fixed), their norms and standard errors (0: no sampling).
    objective 'natural' gives grad J_nat; 'adversarial' the Clarke steepest-ascent direction of J_worst."""

    def __init__(self, objective: str = "natural", eps: float = EPS, tol: float = 1e-4):
        self.objective, self.eps, self.tol = objective, eps, tol

    def __call__(self, thetas: torch.Tensor):
        W = from_theta(thetas)
        g = gradient(W, "natural") if self.objective == "natural" else clarke_gradient(W, self.eps, self.tol)
        full = torch.zeros(thetas.shape, dtype=torch.float32)
        full[:, 1:3] = g.to(torch.float32)
        norm = g.norm(dim=1).numpy()
        return full, norm, np.zeros_like(norm)

    def returns(self, thetas: torch.Tensor) -> dict:
        W = from_theta(thetas)
        with torch.no_grad():
            return {"natural": natural_return(W).numpy(), "adversarial": worst_return(W, self.eps).numpy()}


def sample_trajectories(thetas, episodes: int, rng: np.random.Generator) -> dict:
    """Episodes of the stochastic policies thetas [K, 4] (flat layout) drawn directly from the MDP above (no
    Gymnasium: fast, for repeated-sampling tests), in the layout of evaluator.Rollouts.trajectories;
    independent noise for every (point, episode). Observations are what the policy saw, unperturbed."""
    th = np.asarray(thetas, dtype=np.float64).reshape(-1, 4)
    n, E = th.shape[0], episodes
    sig = np.exp(th[:, 0])[:, None]
    x = X / NORM
    a0 = th[:, None, 1] * x[0, 0] + th[:, None, 3] + sig * rng.standard_normal((n, E))
    a1 = th[:, None, 2] * x[1, 1] + th[:, None, 3] + sig * rng.standard_normal((n, E))
    risky = a0 > 0
    r0 = -K * a0**2 + np.where(risky, 0.0, R_SAFE)
    r1 = np.where(risky, A * np.exp(-((a1 - M) ** 2) / (2 * WIDTH**2)), 0.0)
    z = np.zeros((2, n, E, 2), np.float32)
    z[0, ..., 0], z[1, ..., 1] = x[0, 0], x[1, 1]
    live = np.stack([np.ones((n, E), bool), risky]).reshape(2, n * E)
    return {
        "z": z,
        "actions": np.stack([a0, a1]).reshape(2, n * E, 1),
        "rewards": np.stack([r0, r1]).reshape(2, n * E),
        "live": live,
    }
