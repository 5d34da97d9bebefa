"""Robust Sarsa (RS) attack (SA-PPO, Zhang et al. 2020): learn Q of the fixed policy, then PGD against it.

Q(z, a) is learned on the victim's normalized observations by Sarsa-style fitted evaluation of the
fixed policy: transitions come from the stochastic policy, the target r + gamma * Q_target(z', a')
uses a fresh a' ~ pi(.|z') (time-limit truncation bootstraps, termination does not), and the target
network is refreshed every iteration. The robustness regularizer keeps Q smooth in the action, so
its action-gradient is informative for the attack:

    loss = TD error^2 + kappa * max_{||a^ - a||_inf <= action_eps} (Q(z, a^) - Q(z, a))^2

(the inner max by pgd.py). The attack then minimizes Q(z, mu_theta(z')) over z' in the eps-ball: the
value of the action the perturbed policy takes, judged at the true state (for the K parameter vectors
of a landscape probe, the Q learned for the checkpoint judges each one's action). Q does not depend on the
attack's eps, so one cache `<ckpt stem>.rs.pt` serves every eps. The attack runs Q and the actor as
rowwise.MLPs with the closed-form input gradient, so a point's attacked return does not depend on its batch.

Defaults: 30 iterations x 2048 steps (about 61k env steps, SA-PPO's RS budget is of this order),
200 minibatch updates of 512 per iteration, kappa 0.1, action_eps 0.05 (actions live in [-1, 1]).
"""

import copy
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from ..core.errors import LandscapeError, describe
from ..core.rowwise import mlp_of
from ..io import torchfile
from ..model.agent import Agent
from ..model.flat import batched_mean, batched_net
from ..rl.pgd import pgd
from ..sim.envs import make_env
from .base import PGDAttack, cache_path, fingerprint, register

FORMAT = "landscape-rs/1"


class QNet(nn.Module):
    """Q(z, a): an MLP on the concatenated normalized observation and action."""

    def __init__(self, obs_dim: int, act_dim: int, hidden=(64, 64)):
        super().__init__()
        self.obs_dim, self.act_dim, self.hidden = obs_dim, act_dim, tuple(hidden)
        sizes, layers = [obs_dim + act_dim, *hidden, 1], []
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            layers += [nn.Linear(n_in, n_out)] + ([nn.Tanh()] if i < len(sizes) - 2 else [])
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([z, a], -1)).squeeze(-1)


@dataclass
class SarsaConfig:
    iterations: int = 30
    steps_per_iter: int = 2048
    n_envs: int = 8
    updates_per_iter: int = 200
    batch_size: int = 512
    lr: float = 1e-3
    gamma: float = 0.99
    kappa: float = 0.1  # weight of the robustness regularizer
    action_eps: float = 0.05  # its l_inf radius in action space
    reg_steps: int = 5  # PGD steps of its inner max


class _Transitions:
    """Experience of the fixed stochastic policy in vector environments (z, a, r, live, z_next)."""

    def __init__(self, agent: Agent, n_envs: int, seed: int):
        self.agent = agent
        self.envs = gym.vector.SyncVectorEnv(
            [lambda: make_env(agent.env_id)] * n_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
        )
        self.low, self.high = self.envs.single_action_space.low, self.envs.single_action_space.high
        self.obs, _ = self.envs.reset(seed=seed)
        self.gen = torch.Generator().manual_seed(seed)

    @torch.no_grad()
    def collect(self, steps: int) -> dict:
        actor, out = self.agent.actor, {k: [] for k in ("z", "a", "r", "live", "z_next")}
        for _ in range(max(steps // self.envs.num_envs, 1)):
            z = self.agent.normalize(self.obs)
            a = actor(z) + actor.log_std.exp() * torch.randn(z.shape[0], actor.act_dim, generator=self.gen)
            obs, r, term, trunc, info = self.envs.step(np.clip(a.numpy(), self.low, self.high))
            nxt = obs.copy()
            for i in np.flatnonzero(term | trunc):  # SAME_STEP autoreset: obs is already the next episode's
                nxt[i] = info["final_obs"][i]
            out["z"].append(z), out["a"].append(a), out["z_next"].append(self.agent.normalize(nxt))
            out["r"].append(torch.as_tensor(r, dtype=torch.float32))
            out["live"].append(torch.as_tensor(~term, dtype=torch.float32))
            self.obs = obs
        return {k: torch.cat(v) for k, v in out.items()}

    def close(self) -> None:
        self.envs.close()


def _td_step(q, q_target, opt, agent: Agent, mb: dict, scale: float, cfg: SarsaConfig, gen) -> float:
    actor = agent.actor
    with torch.no_grad():
        a_next = actor(mb["z_next"]) + actor.log_std.exp() * torch.randn(mb["a"].shape, generator=gen)
        target = mb["r"] * scale + cfg.gamma * mb["live"] * q_target(mb["z_next"], a_next)
    q_sa = q(mb["z"], mb["a"])
    loss = ((q_sa - target) ** 2).mean()
    if cfg.kappa > 0:
        ref = q_sa.detach()
        a_hat = pgd(lambda a: (q(mb["z"], a) - ref) ** 2, mb["a"], cfg.action_eps, cfg.reg_steps, generator=gen)
        loss = loss + cfg.kappa * ((q(mb["z"], a_hat) - q_sa) ** 2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    return float(loss.detach())


def train_sarsa(
    agent: Agent, path: str | Path | None = None, cfg: SarsaConfig | None = None, seed: int = 0, progress: bool = True
) -> QNet:
    """Learn Q of `agent`'s policy; with `path`, save after every iteration and resume from it."""
    cfg = cfg or SarsaConfig()
    obs_dim, act_dim = agent.actor.obs_dim, agent.actor.act_dim
    q = QNet(obs_dim, act_dim)
    opt = torch.optim.Adam(q.parameters(), lr=cfg.lr)
    gen = torch.Generator().manual_seed(seed)
    start, data, scale = 0, None, None
    if path is not None and Path(path).exists():  # resume
        raw = _read(path, agent)
        if raw.get("train_state") is None:
            return _qnet(raw, path)
        q.load_state_dict(raw["q"])
        state = raw["train_state"]
        opt.load_state_dict(state["opt"])
        gen.set_state(state["gen"])
        start, data, scale = int(raw["iteration"]), state["data"], float(state["scale"])
    source = _Transitions(agent, cfg.n_envs, seed + 7919 * start)
    bar = tqdm(
        total=cfg.iterations,
        initial=start,
        unit="iter",
        desc=f"robust Sarsa {agent.env_id}",
        dynamic_ncols=True,
        disable=not progress,
    )
    for it in range(start, cfg.iterations):
        new = source.collect(cfg.steps_per_iter)
        data = new if data is None else {k: torch.cat([data[k], new[k]]) for k in data}
        if scale is None:  # fixed reward scale so that Q is O(1), chosen from the first data
            scale = (1 - cfg.gamma) / (float(data["r"].pow(2).mean().sqrt()) + 1e-8)
        q_target = copy.deepcopy(q)
        n = len(data["r"])
        for _ in range(cfg.updates_per_iter):
            idx = torch.randint(n, (min(cfg.batch_size, n),), generator=gen)
            loss = _td_step(q, q_target, opt, agent, {k: v[idx] for k, v in data.items()}, scale, cfg, gen)
        done = it + 1 == cfg.iterations
        if path is not None:
            train_state = (
                None if done else {"opt": opt.state_dict(), "gen": gen.get_state(), "data": data, "scale": scale}
            )
            _write(path, agent, q, cfg, it + 1, train_state)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3g}", samples=n)
    bar.close()
    source.close()
    return q


def _write(path, agent: Agent, q: QNet, cfg: SarsaConfig, iteration: int, train_state) -> None:
    path = Path(path)
    data = {
        "format": FORMAT,
        "env_id": agent.env_id,
        "victim_fingerprint": fingerprint(agent),
        "config": asdict(cfg),
        "obs_dim": q.obs_dim,
        "act_dim": q.act_dim,
        "hidden": list(q.hidden),
        "q": q.state_dict(),
        "iteration": iteration,
        "train_state": train_state,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(data, tmp)
    tmp.replace(path)


def _read(path, agent: Agent | None = None) -> dict:
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"robust Sarsa file not found: {path}")
    raw = torchfile.read(path, "robust Sarsa Q file")  # data only: never torch.load (TorchScript runs code)
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise LandscapeError(f"{path}: not a robust Sarsa Q file (missing format tag {FORMAT!r})")
    if agent is not None:
        if raw.get("env_id") != agent.env_id:
            raise LandscapeError(f"{path}: Q was learned on {raw.get('env_id')}, the checkpoint is {agent.env_id}")
        if raw.get("victim_fingerprint") != fingerprint(agent):
            raise LandscapeError(f"{path}: Q was learned for another policy than this checkpoint")
    return raw


def _qnet(raw: dict, path) -> QNet:
    try:
        q = QNet(raw["obs_dim"], raw["act_dim"], tuple(raw["hidden"]))
        q.load_state_dict(raw["q"])
    except (KeyError, RuntimeError, TypeError, ValueError) as err:
        raise LandscapeError(f"{path}: malformed robust Sarsa Q file ({describe(err)})")
    return q


def is_sarsa_file(path) -> bool:
    """Whether `path` is one of our Q files; a hostile or foreign file is not (it is refused where it is read)."""
    try:
        raw = torchfile.read(path, "robust Sarsa Q file")
    except LandscapeError:
        return False
    return isinstance(raw, dict) and raw.get("format") == FORMAT


def load_q(path, agent: Agent) -> QNet:
    """A finished Q file learned for `agent` (refuses other envs / policies and unfinished runs)."""
    raw = _read(path, agent)
    if raw.get("train_state") is not None:
        raise LandscapeError(f"{path}: robust Sarsa training is unfinished; rerun to resume it")
    return _qnet(raw, path)


@register
class RSAttack(PGDAttack):
    """PGD minimizing Q(z, mu_theta(z')). Pass q= (a QNet or a Q file) or ckpt= (trains on demand, cached)."""

    name = "rs"

    def __init__(self, agent, eps, q=None, ckpt=None, sarsa: SarsaConfig | None = None, progress: bool = True, **opts):
        super().__init__(agent, eps, **opts)
        if q is None and ckpt is None:
            raise LandscapeError("the rs attack needs a learned Q: pass --adversary Q_FILE or a checkpoint path")
        if isinstance(q, (str, Path)):
            q = load_q(q, agent)
        elif q is None:
            q = train_sarsa(agent, cache_path(ckpt, "rs"), sarsa, progress=progress)
        self.q = q.requires_grad_(False)
        self.q_net = mlp_of(q.net)  # Q row by row, whatever else is in the batch (rowwise.py)

    def prepare(self, z, thetas):
        return batched_net(self.space, thetas)

    def objective(self, z_adv, z, thetas, ctx=None):
        return -self.q_net(torch.cat([z, batched_mean(self.space, thetas, z_adv)], -1))[..., 0]

    def input_grad(self, z_adv, z, thetas, net):
        """-dQ/da at a = mu(z'), through the actor: the chain rule of both tanh MLPs (rowwise.MLP.input_grad)."""
        mean, hidden = net.forward(z_adv)
        _, q_hidden = self.q_net.forward(torch.cat([z, mean], -1))
        g_a = self.q_net.input_grad(q_hidden, torch.full((*z.shape[:-1], 1), -1.0, dtype=z.dtype))[..., z.shape[-1] :]
        return net.input_grad(hidden, g_a)
