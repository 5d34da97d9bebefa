"""`scan --attack paad`: PA-AD as a scan attack. The director is the one cached beside the checkpoint (or
--adversary FILE), as for rs and optimal; at each scan point the actor steps on that point's own policy,
so on the linear toy every point's attacked return has a closed form; each point equals its evaluation
alone; Ray-style workers get the director shipped; a missing or foreign director is a one-line error."""

import pickle

import numpy as np
import torch
from test_paad import EPS, constant_director, toy_victim
from test_scan import _err  # scan's one-line-error check

from landscape.attacks import cache_path, make_attack
from landscape.core.numerics import mean_se
from landscape.exec.executor import LocalExecutor
from landscape.io import checkpoint
from landscape.probes.scanning import ScanSpec, run
from landscape.rl.evaluator import BatchedEvaluator
from landscape.scan import main as scan_main
from landscape.sim.toys.target import NORM, X, Y

SPEC = dict(
    metrics="natural,adversarial",
    attack="paad",
    eps=EPS,
    params="weights+biases",
    norm="layer",
    span=2.0,
    resolution=4,
    episodes=2,
    chunk=5,
)


def toy_ckpt(tmp_path, cached: bool = True):
    """The toy victim saved as a checkpoint, with a director (constant direction +1) cached beside it."""
    victim, ckpt = toy_victim(), tmp_path / "toy.pt"
    checkpoint.save(victim, ckpt)
    if cached:
        checkpoint.save(constant_director(victim, 1.0), cache_path(ckpt, "paad", EPS))
    return victim, ckpt


def grid(surface):
    """The scan's points [n, P] (flat layout log_std, w1, w2, b) in the store's order."""
    a, b = np.meshgrid(*surface.coords, indexing="ij")
    d = np.load(surface.root / "directions.npz")
    theta = d["theta0"].astype(np.float64) + a[..., None] * d["directions"][0] + b[..., None] * d["directions"][1]
    return torch.as_tensor(theta.reshape(-1, theta.shape[-1]), dtype=torch.float32)


def paad_return(w: np.ndarray, b: float, w_actor: np.ndarray) -> float:
    """Deterministic toy return when the actor's FGSM step (direction +1) follows the signs of `w_actor`:
    z' = z + eps sign(w_actor), so the action moves by eps * w . sign(w_actor)."""
    mu = X / NORM @ w + b + EPS * w @ np.sign(w_actor)
    return float(-((mu - Y) ** 2).sum())


def test_scan_paad_has_the_closed_form_and_equals_each_point_alone(tmp_path):
    victim, ckpt = toy_ckpt(tmp_path)
    surface = run(ScanSpec(str(ckpt), out=str(tmp_path / "scan"), **SPEC), progress=False)
    adversarial = surface.values("adversarial").reshape(-1)
    thetas = grid(surface)
    w0 = victim.space.flatten(victim.actor).numpy()[1:3].astype(np.float64)
    ev = BatchedEvaluator(victim.env_id, victim.space, victim.obs_norm)
    own, base = [], []
    for theta, value in zip(thetas, adversarial):
        w, b = theta.numpy()[1:3].astype(np.float64), float(theta[3])
        own.append(paad_return(w, b, w)), base.append(paad_return(w, b, w0))
        attack = make_attack("paad", victim, EPS, adversary=constant_director(victim, 1.0))
        alone = ev.run(theta[None], 2, seed=0, attack=attack).returns[0]
        assert value == mean_se(alone)[0]  # bit for bit: the point in a chunk of 5 and alone
    ev.close()
    assert np.allclose(adversarial, own, rtol=1e-5, atol=1e-4)  # the actor stepped on each point's policy
    assert not np.allclose(adversarial, base, rtol=1e-3, atol=1e-2)  # ... not on the checkpoint's
    assert not np.allclose(adversarial, surface.values("natural").reshape(-1))  # the attack did something


def test_scan_paad_with_adversary_file_and_shipped_to_workers(tmp_path):
    """--adversary FILE gives the cached director's numbers; a remote executor (what Ray runs: the job pickled,
    the probe rebuilt from the shipped files, no cache beside the shipped checkpoint) gives the same."""

    class Remote(LocalExecutor):
        local = False

        def map(self, fn, items, on_result, shared=(), on_error=None):
            super().map(fn, pickle.loads(pickle.dumps(list(items))), on_result, pickle.loads(pickle.dumps(shared)))

    victim, ckpt = toy_ckpt(tmp_path)
    cached = run(ScanSpec(str(ckpt), out=str(tmp_path / "cached"), **SPEC), progress=False)
    given_file = tmp_path / "director.pt"
    checkpoint.save(constant_director(victim, 1.0), given_file)
    (tmp_path / "other").mkdir()
    _, bare = toy_ckpt(tmp_path / "other", cached=False)  # the same victim, no director beside it
    given = run(ScanSpec(str(bare), out=str(tmp_path / "given"), adversary=str(given_file), **SPEC), progress=False)
    remote = run(ScanSpec(str(ckpt), out=str(tmp_path / "remote"), **SPEC), progress=False, executor=Remote())
    for m in ("natural", "adversarial"):
        for other in (given, remote):
            assert np.array_equal(cached.values(m), other.values(m)) and np.array_equal(cached.se(m), other.se(m))
    assert not np.array_equal(cached.values("natural"), cached.values("adversarial"))


def test_scan_paad_missing_or_foreign_director_is_one_line(tmp_path, capsys):
    victim, ckpt = toy_ckpt(tmp_path, cached=False)
    base = ["--ckpt", str(ckpt), "--out", str(tmp_path / "s"), "--metrics", "adversarial", "--no-render"]
    argv = [*base, "--attack", "paad", "--eps", str(EPS)]
    err = _err(argv, capsys)
    assert f"python -m landscape.evaluate --ckpt {ckpt} --attack paad" in err
    other = toy_victim()
    with torch.no_grad():
        other.actor.net[0].bias.fill_(0.0)
    optimal = constant_director(victim, 1.0)
    optimal.algo = "adversary"
    for director, msg in [
        (constant_director(victim, 1.0, eps=0.05), "eps 0.05"),
        (constant_director(other, 1.0), "another policy"),
        (constant_director(victim, 1.0, env_id="ToyTrap-v0"), "trained on ToyTrap-v0"),
        (optimal, "not a paad attacker"),
    ]:
        checkpoint.save(director, tmp_path / "director.pt")
        assert msg in _err([*argv, "--adversary", str(tmp_path / "director.pt")], capsys)
    assert "serves the learned attacks (rs, optimal, paad)" in _err(
        [*base, "--attack", "mad", "--adversary", str(tmp_path / "director.pt")], capsys
    )
    assert not (tmp_path / "s").exists()  # refused before the store exists


def test_a_retrained_cached_director_is_another_scan(tmp_path, capsys):
    """The store's key holds the learned file's hash: replacing the cached director and rerunning the same
    command is refused, not resumed with the other director's chunks."""
    victim, ckpt = toy_ckpt(tmp_path)
    argv = ["--ckpt", str(ckpt), "--out", str(tmp_path / "scan"), "--no-render"]
    argv += [f"--{k}={v}" for k, v in SPEC.items()]
    scan_main(argv)
    scan_main(argv)  # the same director: resumed (nothing left to do)
    checkpoint.save(constant_director(victim, -1.0), cache_path(ckpt, "paad", EPS))
    capsys.readouterr()  # the two runs' progress output
    assert "holds a different scan" in _err(argv, capsys)
