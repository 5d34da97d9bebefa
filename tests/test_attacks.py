"""The attack suite: ball constraint, eps = 0, PGD beats random, batched == per-environment loop,
learned attackers (train, cache, resume, refuse the wrong victim), and the evaluate CLI."""

import json

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from landscape.attacks import ATTACKS, cache_path, fingerprint, make_attack
from landscape.attacks.adversary import OptimalAttack
from landscape.attacks.adversary_env import AdversaryEnv
from landscape.attacks.sarsa import QNet, SarsaConfig, train_sarsa
from landscape.attacks.training import train_adversary
from landscape.core.errors import LandscapeError
from landscape.evaluate import main as evaluate_main
from landscape.io import checkpoint
from landscape.model.agent import Agent
from landscape.model.flat import batched_mean
from landscape.rl.evaluator import BatchedEvaluator
from landscape.rl.ppo import PPOConfig

OBS, ACT, EPS = 11, 3, 0.075
PGD_ATTACKS = ("mad", "critic", "surrogate", "rs")


def make_victim(seed=0) -> Agent:
    torch.manual_seed(seed)
    agent = Agent.new("Hopper-v5", OBS, ACT)
    with torch.no_grad():  # a policy whose actions react to the observation (the init's are ~0.01 * z)
        agent.actor.net[-1].weight.mul_(100)
        agent.actor.log_std.fill_(-0.5)
    agent.obs_norm.mean = np.linspace(-1, 1, OBS)
    agent.obs_norm.var = np.linspace(0.5, 2, OBS)
    return agent


def make_adversary(victim: Agent, eps: float, env_id=None, seed=1, kind="optimal", **config) -> Agent:
    """A random learned attacker of `victim` (env_id: the one it claims, default the victim's): the optimal
    adversary (action = perturbation) or a PA-AD director."""
    torch.manual_seed(seed)
    env_id, obs = env_id or victim.env_id, victim.actor.obs_dim
    act, algo = (obs, "adversary") if kind == "optimal" else (victim.actor.act_dim, "paad")
    adv = Agent.new(
        env_id,
        obs,
        act,
        algo=algo,
        eps=eps,
        config={"victim_env": env_id, "eps": eps, "victim_fingerprint": fingerprint(victim), **config},
    )
    with torch.no_grad():
        adv.actor.net[-1].weight.mul_(100)
    return adv


VICTIM = make_victim()
THETAS = torch.stack([VICTIM.space.flatten(VICTIM.actor), VICTIM.space.flatten(VICTIM.actor) * 0.9])


def build(name, eps, agent=VICTIM, **opts):
    if name == "rs":
        torch.manual_seed(2)
        opts.setdefault("q", QNet(OBS, ACT))
    if name in ("optimal", "paad"):
        opts.setdefault("adversary", make_adversary(agent, eps, kind=name, **opts.pop("config", {})))
    return make_attack(name, agent, eps, **opts)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(sorted(ATTACKS)),
    eps=st.floats(0, 1),
    k=st.integers(1, 2),
    e=st.integers(1, 3),
    seed=st.integers(0, 2**31),
    scale=st.sampled_from([0.1, 1.0, 10.0]),
)
def test_every_attack_stays_in_the_ball(name, eps, k, e, seed, scale):
    z = torch.randn(k, e, OBS, generator=torch.Generator().manual_seed(seed)) * scale
    z_adv = build(name, eps)(z, THETAS[:k])
    assert z_adv.shape == z.shape and torch.isfinite(z_adv).all()
    # float32 rounding of z' = z +- eps: a few ulps of |z| + eps (observations of 30 and more occur)
    assert ((z_adv - z).abs() <= eps + 1e-6 * (z.abs() + eps) + 1e-6).all()


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_eps_zero_leaves_actions_unchanged(name):
    z = torch.randn(2, 5, OBS)
    z_adv = build(name, 0.0)(z, THETAS)
    assert torch.equal(z_adv, z)
    assert torch.equal(batched_mean(VICTIM.space, THETAS, z_adv), batched_mean(VICTIM.space, THETAS, z))


@pytest.mark.parametrize("name", PGD_ATTACKS)
def test_pgd_beats_random_on_its_own_objective(name):
    z = torch.randn(2, 128, OBS, generator=torch.Generator().manual_seed(3))
    attack = build(name, EPS)
    attack.gen.manual_seed(1)
    ctx = attack.prepare(z, THETAS)
    attack.gen.manual_seed(1)  # the attack draws the same context (surrogate's action samples) inside
    with torch.no_grad():
        pgd_val = attack.objective(attack(z, THETAS), z, THETAS, ctx)
        rand_val = attack.objective(build("random", EPS)(z, THETAS), z, THETAS, ctx)
        clean_val = attack.objective(z, z, THETAS, ctx)
    assert (pgd_val > rand_val).float().mean() > 0.95
    assert pgd_val.mean() > rand_val.mean() and (pgd_val >= clean_val - 1e-6).all()


def test_restarts_keep_the_best_per_sample():
    z = torch.randn(1, 64, OBS)
    one = build("mad", EPS, seed=5)
    many = build("mad", EPS, restarts=4, seed=5)
    v1 = one.objective(one(z, THETAS[:1]), z, THETAS[:1])
    v4 = many.objective(many(z, THETAS[:1]), z, THETAS[:1])
    assert (v4 >= v1 - 1e-6).all()  # the first restart is the single run; later ones only replace it if better


@pytest.mark.parametrize(
    "name,opts",
    [
        ("random", {}),
        ("mad", {}),
        ("critic", {"random_start": False}),
        ("critic", {}),
        ("surrogate", {"random_start": False}),
        ("rs", {}),
        ("optimal", {}),
        ("paad", {}),
        ("paad", {"config": {"actor_steps": 3}}),
    ],
)
def test_batched_attack_equals_per_environment_loop(name, opts):
    z = torch.randn(2, 6, OBS, generator=torch.Generator().manual_seed(4))
    batched = build(name, EPS, seed=7, **opts)(z, THETAS)
    single = build(name, EPS, seed=7, **opts)  # same generator: draws come in the same row-major order
    loop = torch.stack(
        [torch.cat([single(z[k : k + 1, e : e + 1], THETAS[k : k + 1]) for e in range(6)], 1) for k in range(2)]
    ).squeeze(1)
    assert torch.allclose(batched, loop, atol=1e-5)


def test_known_values_of_simple_attacks():
    z = torch.zeros(1, 4, OBS)
    corners = make_attack("random", VICTIM, 0.2, corners=True)(z, THETAS[:1])
    assert torch.allclose(corners.abs(), torch.full_like(z, 0.2))
    adv = make_adversary(VICTIM, 0.1)
    with torch.no_grad():  # a constant adversary: mean action = bias, clipped to [-1, 1]
        adv.actor.net[-1].weight.zero_()
        adv.actor.net[-1].bias.copy_(torch.linspace(-3, 3, OBS))
    z_adv = make_attack("optimal", VICTIM, 0.1, adversary=adv)(z, THETAS[:1])
    assert torch.allclose(z_adv[0, 0], 0.1 * torch.linspace(-3, 3, OBS).clamp(-1, 1))


def test_optimal_attack_replays_the_adversary_mdp():
    """The attack on z and the adversary MDP on the raw observation perturb identically, and an
    episode under the attack in the evaluator has the victim's return in the MDP."""
    adv = make_adversary(VICTIM, EPS)
    attack = make_attack("optimal", VICTIM, EPS, adversary=adv)
    env = AdversaryEnv(VICTIM, EPS)
    obs, _ = env.reset(seed=3)
    total, done = 0.0, False
    while not done:
        a = adv.act(obs)
        z_env = env.perturb(obs, a)
        z_att = attack(VICTIM.normalize(obs)[None, None], THETAS[:1])[0, 0]
        assert torch.allclose(z_env, z_att, atol=1e-5)
        obs, r, term, trunc, info = env.step(a)
        assert r == -info["victim_reward"]
        total, done = total + info["victim_reward"], term or trunc
    ev = BatchedEvaluator("Hopper-v5", VICTIM.space, VICTIM.obs_norm)
    ret = ev.run(THETAS[:1], 1, seed=3, attack=attack).returns[0, 0]
    assert ret == pytest.approx(total, rel=1e-3)


def test_malformed_input_gets_one_line_errors():
    with pytest.raises(LandscapeError, match="unknown attack"):
        make_attack("fgsm", VICTIM, EPS)
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(LandscapeError, match="eps"):
            make_attack("mad", VICTIM, bad)
    assert make_attack("mad", VICTIM).eps == EPS  # the environment's standard
    with pytest.raises(LandscapeError, match="trained on Walker2d-v5"):
        make_attack("optimal", VICTIM, EPS, adversary=make_adversary(VICTIM, EPS, env_id="Walker2d-v5"))
    with pytest.raises(LandscapeError, match="another policy"):
        make_attack("optimal", VICTIM, EPS, adversary=make_adversary(make_victim(seed=9), EPS))
    with pytest.raises(LandscapeError, match="eps 0.05"):
        make_attack("optimal", VICTIM, EPS, adversary=make_adversary(VICTIM, 0.05))
    with pytest.raises(LandscapeError, match="needs"):
        make_attack("rs", VICTIM, EPS)


def test_learned_attackers_train_cache_and_resume(tmp_path, monkeypatch):
    ckpt = tmp_path / "victim.pt"
    checkpoint.save(VICTIM, ckpt)
    victim = checkpoint.load(ckpt)
    # robust Sarsa: interrupt during the second iteration, rerun resumes, the finished file is the cache
    import landscape.attacks.sarsa as sarsa

    cfg = SarsaConfig(iterations=3, steps_per_iter=128, n_envs=2, updates_per_iter=3, batch_size=32)
    calls, real_step = {"n": 0}, sarsa._td_step

    def flaky(*args):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_step(*args)

    monkeypatch.setattr(sarsa, "_td_step", flaky)
    path = cache_path(ckpt, "rs")
    with pytest.raises(KeyboardInterrupt):
        train_sarsa(victim, path, cfg, progress=False)
    assert torch.load(path, weights_only=True)["iteration"] == 1
    train_sarsa(victim, path, cfg, progress=False)
    raw = torch.load(path, weights_only=True)
    assert raw["iteration"] == 3 and raw["train_state"] is None and calls["n"] == 3 * 3 + 2
    rs = make_attack("rs", victim, EPS, ckpt=ckpt, progress=False)  # loads the cache, trains nothing
    assert calls["n"] == 11 and (rs(torch.zeros(1, 2, OBS), THETAS[:1]).abs() <= EPS + 1e-6).all()
    with pytest.raises(LandscapeError, match="another policy"):
        make_attack("rs", make_victim(seed=9), EPS, q=path)

    # optimal adversary: an ordinary checkpoint recording its victim; resumable through the Trainer
    out = tmp_path / "adv.pt"
    small = PPOConfig(steps_per_iter=256, epochs=2, minibatches=4)
    train_adversary(victim, out, EPS, steps=256, cfg=small, victim_path=ckpt, eval_every=1, eval_episodes=1)
    adv = checkpoint.load(out)
    assert adv.algo == "adversary" and adv.env_id == "Hopper-v5" and adv.eps == EPS and adv.step == 256
    assert adv.config["victim_sha256"] == checkpoint.file_hash(ckpt)
    assert adv.actor.act_dim == OBS and out.with_name("adv.best.pt").exists()
    train_adversary(
        victim, out, EPS, steps=512, cfg=small, victim_path=ckpt, resume=True, eval_every=1, eval_episodes=1
    )
    assert checkpoint.load(out).step == 512
    attack = make_attack("optimal", victim, EPS, adversary=str(out))
    assert isinstance(attack, OptimalAttack)
    with pytest.raises(LandscapeError, match="another policy"):
        make_attack("optimal", make_victim(seed=9), EPS, adversary=str(out))
    with pytest.raises(LandscapeError, match="eps 0.075"):
        make_attack("optimal", victim, 0.05, adversary=str(out))


def test_evaluate_cli_table_json_and_errors(tmp_path, capsys):
    ckpt = tmp_path / "victim.pt"
    checkpoint.save(VICTIM, ckpt)
    evaluate_main(["--ckpt", str(ckpt), "--episodes", "2", "--attack", "random,mad,critic", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert set(out["attacks"]) == {"random", "mad", "critic"} and out["eps"] == EPS
    pool = {"natural": out["natural"], **out["attacks"]}  # the worst case counts doing nothing too
    assert out["worst"]["mean"] == min(r["mean"] for r in pool.values())
    assert out["worst"]["attack"] in pool and out["worst"]["se"] >= 0
    for r in out["attacks"].values():  # paired difference to natural, the failure flag, time
        assert r["vs_natural"]["mean"] == pytest.approx(r["mean"] - out["natural"]["mean"])
        assert r["failed"] == (r["mean"] >= out["natural"]["mean"]) and r["wall_s"] > 0 and r["cpu_s"] > 0
    evaluate_main(["--ckpt", str(ckpt), "--episodes", "2", "--attack", "mad", "--eps", "0.1"])
    table = capsys.readouterr().out
    assert "natural return" in table and "mad" in table and "worst case" in table and "eps 0.1" in table

    other = tmp_path / "walker_adv.pt"
    checkpoint.save(make_adversary(VICTIM, EPS, env_id="Walker2d-v5"), other)
    for argv, msg in [
        (["--attack", "fgsm"], "unknown attack"),
        (["--attack", "mad", "--eps", "-1"], "eps"),
        (["--attack", "optimal", "--adversary", str(other)], "Walker2d-v5"),
    ]:  # refused, naming the env
        with pytest.raises(SystemExit) as exit_info:
            evaluate_main(["--ckpt", str(ckpt), "--episodes", "1", *argv])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and msg in err and len(err.strip().splitlines()) == 1


def test_rs_and_paad_closed_form_gradients_match_autograd():
    """rs's input gradient (through Q and the actor) and PA-AD's actor step (J^T d / ||d||) in closed form
    agree with autograd of the same objectives; PGD and FGSM land on the same perturbations."""
    from landscape.attacks.paad import actor_step, alignment
    from landscape.rl.pgd import autograd, pgd

    z = torch.randn(2, 6, OBS, generator=torch.Generator().manual_seed(3))
    z_adv = z + 0.05 * torch.randn(z.shape, generator=torch.Generator().manual_seed(4))
    rs = build("rs", EPS)
    ctx = rs.prepare(z, THETAS)
    ref = autograd(lambda x: rs.objective(x, z, THETAS, ctx), z_adv)
    assert ref.abs().max() > 1e-4 and torch.allclose(rs.input_grad(z_adv, z, THETAS, ctx), ref, atol=1e-6, rtol=1e-4)
    fast, slow = build("rs", EPS, seed=5), build("rs", EPS, seed=5, closed_form=False)
    assert fast.closed_form and (fast(z, THETAS) == slow(z, THETAS)).float().mean() > 0.99
    d = torch.randn(2, 6, ACT, generator=torch.Generator().manual_seed(6))
    mu = batched_mean(VICTIM.space, THETAS, z)
    by_autograd = pgd(lambda x: alignment(batched_mean(VICTIM.space, THETAS, x) - mu, d), z, EPS, 1, EPS, False)
    assert (actor_step(VICTIM.space, THETAS, z, d, EPS) == by_autograd).float().mean() > 0.99
