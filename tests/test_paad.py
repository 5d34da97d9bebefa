"""PA-AD (director + actor) and sets of learned attackers: the actor's known answer on a linear toy, the
director's MDP, refusal of a director made for another env / eps / victim, and sets that add runs
instead of repeating them, selected by held-out evaluation."""

import json
import shutil

import numpy as np
import pytest
import torch

from landscape.attacks import fingerprint, learned, make_attack
from landscape.attacks.learned import Setting, runs_dir, selection_runs, train_set
from landscape.attacks.paad import DirectorEnv, actor_step, alignment
from landscape.core.errors import LandscapeError
from landscape.evaluate import main as evaluate_main
from landscape.io import checkpoint
from landscape.model.agent import Agent
from landscape.model.flat import batched_mean
from landscape.rl.evaluator import BatchedEvaluator
from landscape.sim.toys.target import NORM, X, Y

EPS = 0.1
W, B = np.array([0.8, -0.3]), 0.2  # the toy victim: mu(z) = W.z + B


def toy_victim() -> Agent:
    """ToyTarget-v0 with a linear policy and the identity normalizer: the actor's answer is known."""
    agent = Agent.new("ToyTarget-v0", 2, 1, hidden=())
    agent.obs_norm.count = 1.0
    with torch.no_grad():
        agent.actor.net[0].weight.copy_(torch.tensor(W[None], dtype=torch.float32))
        agent.actor.net[0].bias.fill_(B)
    return agent


def constant_director(victim: Agent, direction: float, eps=EPS, env_id="ToyTarget-v0") -> Agent:
    d = Agent.new(
        env_id,
        2,
        1,
        algo="paad",
        eps=eps,
        config={"victim_env": env_id, "eps": eps, "victim_fingerprint": fingerprint(victim)},
    )
    with torch.no_grad():
        d.actor.net[-1].weight.zero_()
        d.actor.net[-1].bias.fill_(direction)
    return d


@pytest.mark.parametrize("steps", [1, 20])  # 20 steps of eps/10 reach any corner from any start
def test_actor_moves_the_action_towards_the_direction_by_the_known_optimum(steps):
    """Linear victim: the best change towards d in the ball is eps * ||W||_1 * sign(d), at z + eps * sign(W d)."""
    victim = toy_victim()
    theta = victim.space.flatten(victim.actor)[None]
    z = torch.tensor([[[0.5, -1.0], [2.0, 0.3]]])
    for d in (1.0, -1.0):
        direction = torch.full((1, 2, 1), d)
        z_adv = actor_step(victim.space, theta, z, direction, EPS, steps, generator=torch.Generator().manual_seed(0))
        assert torch.allclose(z_adv, z + EPS * torch.sign(torch.tensor(W, dtype=torch.float32) * d), atol=1e-6)
        change = batched_mean(victim.space, theta, z_adv) - batched_mean(victim.space, theta, z)
        assert torch.allclose(change, torch.full_like(change, d * EPS * np.abs(W).sum()), atol=1e-5)
        assert torch.allclose(
            alignment(change, direction), torch.tensor(EPS * np.abs(W).sum(), dtype=torch.float32), atol=1e-5
        )


def test_actor_aligns_a_nonlinear_policy_better_than_random():
    torch.manual_seed(0)
    victim = Agent.new("Hopper-v5", 11, 3)
    with torch.no_grad():
        victim.actor.net[-1].weight.mul_(100)
    theta = victim.space.flatten(victim.actor)[None]
    z, d = torch.randn(1, 64, 11), torch.randn(1, 64, 3)
    mu = batched_mean(victim.space, theta, z)
    for steps in (1, 10):
        change = batched_mean(victim.space, theta, actor_step(victim.space, theta, z, d, 0.075, steps)) - mu
        rand = batched_mean(victim.space, theta, z + 0.075 * (2 * torch.rand(z.shape) - 1)) - mu
        assert (torch.cosine_similarity(change, d, -1) > 0.5).float().mean() > 0.9
        assert alignment(change, d).mean() > 3 * alignment(rand, d).abs().mean()


def test_paad_episode_on_the_toy_has_the_closed_form_return():
    """A constant director pushes every action by eps * ||W||_1 towards its sign: the return is known."""
    victim = toy_victim()
    ev = BatchedEvaluator("ToyTarget-v0", victim.space, victim.obs_norm)
    theta = victim.space.flatten(victim.actor)[None]
    mu = X / NORM @ W + B
    for d in (1.0, -1.0):
        attack = make_attack("paad", victim, EPS, adversary=constant_director(victim, d))
        ret = ev.run(theta, 2, attack=attack).returns[0]
        assert np.allclose(ret, -((mu + d * EPS * np.abs(W).sum() - Y) ** 2).sum(), atol=1e-4)
    env = DirectorEnv(victim, EPS)  # the director's MDP: same perturbation, reward = - victim's
    obs, _ = env.reset(seed=0)
    _, r, *_ = env.step(np.array([1.0], dtype=np.float32))
    assert r == pytest.approx((mu[0] + EPS * np.abs(W).sum() - Y[0]) ** 2, abs=1e-5)


def test_a_director_made_for_another_env_eps_victim_or_attack_is_refused():
    victim = toy_victim()
    other = toy_victim()
    with torch.no_grad():
        other.actor.net[0].bias.fill_(0.0)
    cases = [
        (constant_director(other, 1.0), "another policy"),
        (constant_director(victim, 1.0, eps=0.05), "eps 0.05"),
        (constant_director(victim, 1.0, env_id="ToyTrap-v0"), "trained on ToyTrap-v0"),
    ]
    optimal = constant_director(victim, 1.0)
    optimal.algo = "adversary"
    cases.append((optimal, "not a paad attacker"))
    for director, msg in cases:
        with pytest.raises(LandscapeError, match=msg) as err:
            make_attack("paad", victim, EPS, adversary=director)
        assert len(str(err.value).splitlines()) == 1


def test_a_set_trains_only_what_is_missing_and_selects_on_held_out_episodes(tmp_path, monkeypatch, capsys):
    victim = toy_victim()
    ckpt = tmp_path / "toy.pt"
    checkpoint.save(victim, ckpt)
    victim = checkpoint.load(ckpt)
    calls = []
    real = learned.train_adversary

    def counted(*args, **kwargs):
        calls.append(kwargs["seed"])
        return real(*args, **kwargs)

    monkeypatch.setattr(learned, "train_adversary", counted)
    small, ppo = Setting(lr=1e-3, entropy=0.0, steps=256), {"steps_per_iter": 128, "epochs": 2, "minibatches": 2}
    cache = train_set(victim, ckpt, "paad", EPS, [small], [0], holdout_episodes=2, progress=False, ppo=ppo)
    assert calls == [0] and cache.name == "toy.paad-eps0.1.pt"
    train_set(victim, ckpt, "paad", EPS, [small], [0, 1], holdout_episodes=2, progress=False, ppo=ppo)
    assert calls == [0, 1]  # the rerun added seed 1 and repeated nothing
    chosen = checkpoint.load(cache)
    runs = selection_runs(chosen)
    assert {r["run"] for r in runs} == {f"lr0.001_ent0_256_s{s}" for s in range(2)}
    best = min(runs, key=lambda r: r["holdout"]["mean"])
    assert chosen.config["selection"]["selected"]["run"] == best["run"]
    assert all(r["train_cpu_s"] > 0 and r["setting"]["steps"] == 256 for r in runs)
    assert (runs_dir(ckpt, "paad", EPS) / "runs.json").exists()
    attack = make_attack("paad", victim, EPS, ckpt=ckpt)  # loads the selected iterate, trains nothing
    assert calls == [0, 1] and attack.path == str(cache)
    evaluate_main(["--ckpt", str(ckpt), "--episodes", "1", "--attack", "paad", "--json"])
    out = json.loads(capsys.readouterr().out)["attacks"]["paad"]  # names its file, settings, and every run
    assert out["adversary"]["file"] == str(cache) and out["adversary"]["settings"]["lr"] == 1e-3
    assert out["adversary"]["settings"]["actor_steps"] == 1 and out["adversary"]["selected"]["run"] == best["run"]
    assert len(out["runs"]) == 2 and out["spread"]["n_runs"] == 2
    assert out["spread"]["min"] <= out["mean"] <= out["spread"]["max"]  # the selected run is one of them
    assert calls == [0, 1]
    for f in tmp_path.glob("toy.*"):  # the checkpoint copied under a new name with its attackers (as when bundled)
        (shutil.copytree if f.is_dir() else shutil.copy2)(f, tmp_path / f.name.replace("toy.", "copy.", 1))
    evaluate_main(["--ckpt", str(tmp_path / "copy.pt"), "--episodes", "1", "--attack", "paad", "--json"])
    copied = json.loads(capsys.readouterr().out)["attacks"]["paad"]
    assert [r["mean"] for r in copied["runs"]] == [r["mean"] for r in out["runs"]]
    assert all(r["file"].startswith(str(tmp_path / "copy.paad-eps0.1.runs")) for r in copied["runs"])
    other = toy_victim()
    with torch.no_grad():
        other.actor.net[0].bias.fill_(-5.0)
    with pytest.raises(LandscapeError, match="another policy"):
        make_attack("paad", other, EPS, adversary=str(cache))


def test_an_interrupted_set_is_finished_before_its_cache_is_used(tmp_path, monkeypatch, capsys):
    """The cache is selected after every run, so a set killed in its second run has a usable cache of one run;
    the next attack that needs it trains the pending run (with the set's own settings) and selects again."""
    ckpt = tmp_path / "toy.pt"
    checkpoint.save(toy_victim(), ckpt)
    victim = checkpoint.load(ckpt)
    calls, real = [], learned.train_adversary

    def killed_in_second_run(*args, **kwargs):
        calls.append(kwargs["cfg"].gamma)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(learned, "train_adversary", killed_in_second_run)
    near, far = Setting(steps=256), Setting(steps=256, gamma=0.999)
    ppo = {"steps_per_iter": 128, "epochs": 2, "minibatches": 2}
    with pytest.raises(KeyboardInterrupt):
        train_set(victim, ckpt, "paad", EPS, [near, far], [0], holdout_episodes=2, progress=False, ppo=ppo)
    cache = learned.cache_path(ckpt, "paad", EPS)
    assert [r["run"] for r in selection_runs(checkpoint.load(cache))] == ["lr0.001_ent0_256_s0"]  # usable, partial
    learned.main(["--ckpt", str(ckpt), "--attack", "paad", "--list"])
    assert "pending (interrupted" in capsys.readouterr().out.splitlines()[-1]
    make_attack("paad", victim, EPS, ckpt=ckpt, progress=False)
    assert calls == [0.99, 0.999, 0.999]  # the pending run, at its own discount; the finished one not again
    runs = selection_runs(checkpoint.load(cache))
    assert {r["run"] for r in runs} == {"lr0.001_ent0_256_s0", "lr0.001_ent0_g0.999_256_s0"}
    assert checkpoint.load(runs_dir(ckpt, "paad", EPS) / "lr0.001_ent0_g0.999_256_s0.pt").config["ppo"]["epochs"] == 2
    assert json.loads((runs_dir(ckpt, "paad", EPS) / "runs.json").read_text())["pending"] == {}
    make_attack("paad", victim, EPS, ckpt=ckpt, progress=False)
    assert len(calls) == 3  # a whole set trains nothing


def test_a_learned_attacker_setting_carries_its_discount():
    """gamma is part of a setting: its own tag (earlier tags unchanged), the PPO it trains with, and read back
    from a trained adversary's config, so a set with another discount adds runs instead of reusing them."""
    assert Setting().tag == "lr0.001_ent0_500k"  # the tag every cached set was written under
    far = Setting(lr=3e-4, entropy=0.0, steps=500_000, gamma=0.999)
    assert far.tag == "lr0.0003_ent0_g0.999_500k"
    assert far.ppo().gamma == 0.999 and Setting().ppo().gamma == 0.99
    config = {"ppo": far.ppo().to_dict(), "steps": far.steps}
    assert Setting.of(config) == far
    assert Setting.of({"ppo": Setting().ppo().to_dict()}) == Setting()  # configs without the field: 0.99


def test_learned_cli_refuses_a_discount_outside_0_1(tmp_path, capsys):
    from landscape.attacks.learned import main

    victim = toy_victim()
    ckpt = tmp_path / "toy.pt"
    checkpoint.save(victim, ckpt)
    with pytest.raises(SystemExit) as exit_info:
        main(["--ckpt", str(ckpt), "--attack", "optimal", "--gamma", "1.5"])
    assert exit_info.value.code == 2
    assert "--gamma must lie in (0, 1]" in capsys.readouterr().err


def test_the_on_demand_optimal_set_tries_both_discounts():
    from landscape.attacks.learned import default_settings

    assert [s.tag for s in default_settings("optimal", 1000)] == ["lr0.001_ent0_1k", "lr0.001_ent0_g0.999_1k"]
    assert [s.tag for s in default_settings("paad", 1000)] == ["lr0.001_ent0_1k"]
