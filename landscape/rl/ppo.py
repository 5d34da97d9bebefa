"""The one PPO core shared by SPO, ARPO and BARPO.

The trainers differ only in the `PolicyLoss` the core minimizes: SPO's is the clipped surrogate on clean
observations; the robust trainers plug in a loss that first perturbs the observations.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch.optim.adam import adam

from ..core.numerics import clipped_surrogate as clipped_surrogate_objective
from ..model.agent import Agent
from . import closed_form as cf


@dataclass
class PPOConfig:
    """Defaults follow SA-PPO's MuJoCo settings."""

    steps_per_iter: int = 2048
    n_envs: int = 1
    epochs: int = 10
    minibatches: int = 32
    lr_policy: float = 3e-4
    lr_value: float = 2.5e-4
    gamma: float = 0.99
    lam: float = 0.95
    clip: float = 0.2
    value_clip: float = 0.2  # clip the value update around the old prediction (SA-PPO); 0 disables
    entropy_coef: float = 0.0
    max_grad_norm: float = 0.5
    adam_eps: float = 1e-8  # torch's default; SA-PPO's and CAR-PPO's configs use 1e-5 (an option until ablated)
    anneal_lr: bool = True
    reward_scaling: bool = True
    # advantage normalization: per minibatch inside the surrogate (SA-PPO / CAR-PPO `surrogate_reward`),
    # once per iteration ("batch"), or "none"
    norm_adv: str = "minibatch"

    def __post_init__(self):
        if isinstance(self.norm_adv, bool):  # configs saved before the choice existed
            self.norm_adv = "batch" if self.norm_adv else "none"
        if self.norm_adv not in ("minibatch", "batch", "none"):
            raise ValueError(f"norm_adv must be minibatch, batch or none, not {self.norm_adv!r}")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Batch:
    """One iteration of experience, flattened over time and environments."""

    z: torch.Tensor  # normalized observations [B, obs]
    actions: torch.Tensor  # [B, act]
    logp: torch.Tensor  # log pi_old(a|z) [B]
    values: torch.Tensor  # V_old(z) [B]
    advantages: torch.Tensor  # [B]
    returns: torch.Tensor  # [B]
    z_adv: torch.Tensor | None = None  # perturbed observations computed once per epoch (robust loss, --perturb epoch)

    def __len__(self) -> int:
        return self.z.shape[0]

    def select(self, idx) -> "Batch":
        return Batch(*(None if (v := getattr(self, f)) is None else v[idx] for f in self.__dataclass_fields__))


def normalized(adv: torch.Tensor) -> torch.Tensor:
    """(A - mean) / (std + 1e-8), the unbiased std as SA-PPO's `adv_normalize`."""
    return (adv - adv.mean()) / (adv.std() + 1e-8)


def clipped_surrogate(actor, z, mb: Batch, clip: float) -> torch.Tensor:
    """Per-sample PPO clipped surrogate loss (to minimize) of `actor` seeing observations z."""
    return surrogate_of_logp(actor.log_prob(z, mb.actions), mb, clip)


def surrogate_of_logp(logp: torch.Tensor, mb: Batch, clip: float) -> torch.Tensor:
    """Per-sample clipped surrogate loss given the new log-probabilities of the batch's actions."""
    return -clipped_surrogate_objective(logp, mb.logp, mb.advantages, clip)


def clip_grad_norm(parameters, limit: float) -> torch.Tensor:
    """torch's clip_grad_norm_ arithmetic (total 2-norm, scale by min(1, limit / (norm + 1e-6))) without its
    per-call checks, which cost more than the arithmetic on networks this small (2.7x here)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)))
    torch._foreach_mul_(grads, torch.clamp(limit / (norm + 1e-6), max=1.0))
    return norm


def adam_step(opt: torch.optim.Adam, params: list[torch.Tensor]) -> None:
    """opt.step() for a one-group fused Adam whose parameters all have gradients: the same call to torch's
    functional `adam` on the optimizer's own state (so its state_dict is unchanged), without
    Optimizer.step's per-call hooks, profiler records and state checks, which cost several times the
    fused kernel on networks this small. The first step (which creates the state) goes through opt.step()."""
    group = opt.param_groups[0]
    state = [opt.state.get(p) for p in params]
    plain = len(opt.param_groups) == 1 and group["fused"] and not (group["amsgrad"] or group["maximize"])
    if (
        not plain
        or group["decoupled_weight_decay"]
        or any(s is None for s in state)
        or any(p.grad is None for p in params)
    ):
        opt.step()  # anything this shortcut does not reproduce goes through the optimizer itself
        return
    beta1, beta2 = group["betas"]
    adam(
        params,
        [p.grad for p in params],
        [s["exp_avg"] for s in state],
        [s["exp_avg_sq"] for s in state],
        [],
        [s["step"] for s in state],
        fused=True,
        amsgrad=False,
        beta1=beta1,
        beta2=beta2,
        lr=group["lr"],
        weight_decay=group["weight_decay"],
        eps=group["eps"],
        maximize=False,
    )


class PolicyLoss:
    """SPO's policy loss: the clipped surrogate on the clean observations. Robust trainers subclass."""

    def __init__(self, clip: float):
        self.clip = clip

    def __call__(self, actor, mb: Batch) -> tuple[torch.Tensor, dict]:
        return clipped_surrogate(actor, mb.z, mb, self.clip).mean(), {}

    def epoch_start(self, actor, batch: Batch) -> Batch:
        """Work done once per epoch on the whole batch before its minibatches (SPO: none)."""
        return batch

    def closed_form(self, actor, mb: Batch, entropy_coef: float = 0.0):
        """(loss as a float, info, gradient for each of actor.parameters()) without autograd (closed_form.py),
        or None where a loss has no closed form (the core then backpropagates __call__'s loss)."""
        if type(self).__call__ is not PolicyLoss.__call__:  # a subclass's own loss: autograd
            return None
        loss, grads, _ = cf.spo_grads(actor, mb, self.clip, entropy_coef)
        return loss, {}, grads


class PPO:
    def __init__(
        self, agent: Agent, cfg: PPOConfig, policy_loss: PolicyLoss | None = None, seed: int = 0, closed_form=True
    ):
        """closed_form: take the gradients in closed form where the networks and the loss allow it
        (closed_form.py; equal to autograd's to 1e-6), else by autograd."""
        self.agent, self.cfg = agent, cfg
        self.cf = cf if closed_form and cf.actor_supported(agent.actor) and cf.critic_supported(agent.critic) else None
        self.policy_loss = policy_loss or PolicyLoss(cfg.clip)
        # fused: one kernel per step instead of one per parameter tensor (about 7% faster updates here)
        self.opt_pi = torch.optim.Adam(agent.actor.parameters(), lr=cfg.lr_policy, eps=cfg.adam_eps, fused=True)
        self.opt_v = torch.optim.Adam(agent.critic.parameters(), lr=cfg.lr_value, eps=cfg.adam_eps, fused=True)
        self.params = (list(agent.actor.parameters()), list(agent.critic.parameters()))
        self.gen = torch.Generator().manual_seed(seed)

    def set_progress(self, frac_done: float) -> None:
        """Linear learning-rate annealing to zero over the run."""
        scale = max(1.0 - frac_done, 0.0) if self.cfg.anneal_lr else 1.0
        self.opt_pi.param_groups[0]["lr"] = self.cfg.lr_policy * scale
        self.opt_v.param_groups[0]["lr"] = self.cfg.lr_value * scale

    def value_loss(self, mb: Batch) -> torch.Tensor:
        v = self.agent.critic(mb.z)
        loss = (v - mb.returns) ** 2
        if self.cfg.value_clip > 0:
            v_clip = mb.values + (v - mb.values).clamp(-self.cfg.value_clip, self.cfg.value_clip)
            loss = torch.max(loss, (v_clip - mb.returns) ** 2)
        return 0.5 * loss.mean()

    def _step(self, policy_loss: torch.Tensor, value_loss: torch.Tensor) -> float:
        """One backward pass for both losses (their parameters are disjoint, so the gradients are each
        loss's own), then each network's gradient clipped and stepped by its own optimizer."""
        for p in self.params[0] + self.params[1]:
            p.grad = None  # what zero_grad() does, without its per-call bookkeeping
        (policy_loss + value_loss).backward()
        return self._apply()

    def _step_closed(self, grads_pi: list[torch.Tensor], grads_v: list[torch.Tensor]) -> float:
        """_step with the gradients given (closed form) instead of backpropagated."""
        for p, g in zip(self.params[0] + self.params[1], grads_pi + grads_v):
            p.grad = g
        return self._apply()

    def _apply(self) -> float:
        """Clip each network's gradient and step its optimizer; the policy's gradient norm before clipping."""
        limit = self.cfg.max_grad_norm if self.cfg.max_grad_norm > 0 else float("inf")
        norm = clip_grad_norm(self.params[0], limit)
        clip_grad_norm(self.params[1], limit)
        adam_step(self.opt_pi, self.params[0])
        adam_step(self.opt_v, self.params[1])
        return float(norm)

    def update(self, batch: Batch) -> dict:
        cfg, actor = self.cfg, self.agent.actor
        if cfg.norm_adv == "batch":
            batch.advantages = normalized(batch.advantages)
        mb_size = max(len(batch) // cfg.minibatches, 1)
        stats: dict[str, list] = {"policy_loss": [], "value_loss": [], "approx_kl": [], "grad_norm": []}
        for _ in range(cfg.epochs):
            epoch_batch = self.policy_loss.epoch_start(actor, batch)
            perm = torch.randperm(len(batch), generator=self.gen)
            for start in range(0, len(batch) - mb_size + 1, mb_size):
                mb = epoch_batch.select(perm[start : start + mb_size])
                if cfg.norm_adv == "minibatch":
                    mb.advantages = normalized(mb.advantages)
                closed = self.cf and self.policy_loss.closed_form(actor, mb, cfg.entropy_coef)
                if closed:
                    loss, info, grads_pi = closed
                    v_loss, grads_v = self.cf.value_grads(self.agent.critic, mb, cfg.value_clip)
                    stats["grad_norm"].append(self._step_closed(grads_pi, grads_v))
                else:
                    loss, info = self.policy_loss(actor, mb)
                    if cfg.entropy_coef and not getattr(self.policy_loss, "handles_entropy", False):
                        loss = loss - cfg.entropy_coef * actor.dist(mb.z).entropy().sum(-1).mean()
                    v_loss = self.value_loss(mb)
                    stats["grad_norm"].append(self._step(loss, v_loss))
                    loss, v_loss = loss.detach(), v_loss.detach()
                stats["policy_loss"].append(float(loss))
                stats["value_loss"].append(float(v_loss))
                for k, v in info.items():
                    stats.setdefault(k, []).append(float(v))
            with torch.no_grad():  # KL to the collecting policy after each epoch, one batched call
                log_ratio = actor.log_prob(batch.z, batch.actions) - batch.logp
                stats["approx_kl"].append(float(((log_ratio.exp() - 1) - log_ratio).mean()))
        return {k: float(np.mean(v)) for k, v in stats.items()}

    def state_dict(self) -> dict:
        return {"opt_pi": self.opt_pi.state_dict(), "opt_v": self.opt_v.state_dict(), "gen": self.gen.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.opt_pi.load_state_dict(state["opt_pi"])
        self.opt_v.load_state_dict(state["opt_v"])
        self.gen.set_state(state["gen"])
