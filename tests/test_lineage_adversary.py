"""ATLA adversaries and PA-AD directors of the SA-PPO lineage as --adversary files (synthetic files in the
format of ATLA's get_best_pickle.py: the victim's policy_model / val_model / envs plus adversary_policy_model)."""

import json
import os
import subprocess
import sys
from collections import OrderedDict

import numpy as np
import pytest
import torch
from test_lineage import H, _hand_mlp, _make_lineage, _mlp

from landscape.attacks import make_attack
from landscape.core.errors import LandscapeError
from landscape.io import checkpoint
from landscape.io.lineage_adversary import served

EPS = 0.075


def _files(tmp_path, out: int, name="attack.model", victim_seed=0, game="Hopper-v2", obs=11, act=3, lstm=False):
    """A victim file and an attack file trained against it (same policy and filter); returns (victim, attack, adv sd)."""
    victim = tmp_path / f"victim{victim_seed}.model"
    _make_lineage(victim, obs=obs, act=act, game=game, seed=victim_seed)
    g = torch.Generator().manual_seed(42)
    adv = _mlp(g, obs, out)
    adv["final_mean.weight"] *= 8  # outputs beyond [-1, 1]: clipping them (ATLA) or not (PA-AD) matters
    if lstm:
        adv["lstm.weight_ih_l0"] = torch.zeros(4 * H, H)
    _make_lineage(
        tmp_path / name,
        obs=obs,
        act=act,
        game=game,
        seed=victim_seed,
        extra={"adversary_policy_model": adv, "adversary_val_model": _mlp(g, obs, 1, "final", std=False)},
    )
    return victim, tmp_path / name, adv


def _victim_net(path):
    """The victim's mean network built by hand from the file (torch modules, float32) for the reference actor."""
    from landscape.io.lineage import read_lineage

    sd = read_lineage(path)["policy_model"]
    layers = [torch.nn.Linear(*sd[f"affine_layers.{i}.weight"].shape[::-1]) for i in range(2)]
    final = torch.nn.Linear(*sd["final_mean.weight"].shape[::-1])
    net = torch.nn.Sequential(layers[0], torch.nn.Tanh(), layers[1], torch.nn.Tanh(), final)
    with torch.no_grad():
        for lin, key in zip((*layers, final), ("affine_layers.0", "affine_layers.1", "final_mean")):
            lin.weight.copy_(sd[f"{key}.weight"])
            lin.bias.copy_(sd[f"{key}.bias"])
    return net


def test_atla_adversary_replays_its_perturbation(tmp_path):
    victim_path, attack_path, adv = _files(tmp_path, out=11)
    assert served(attack_path) == "optimal"
    victim = checkpoint.load(victim_path)
    attack = make_attack("optimal", victim, EPS, adversary=str(attack_path))
    z = torch.as_tensor(np.random.default_rng(0).normal(scale=2, size=(1, 16, 11)), dtype=torch.float32)
    got = attack(z, victim.space.flatten(victim.actor)[None])
    z64 = z.double().numpy()
    want = z64 + EPS * np.clip(_hand_mlp(adv, z64), -1, 1)  # ATLA: z + eps * hardtanh(mean)
    assert np.abs(_hand_mlp(adv, z64)).max() > 2
    assert np.allclose(got.double().numpy(), want, atol=1e-6, rtol=0)


def test_paad_director_replays_the_reference_actor(tmp_path):
    victim_path, attack_path, adv = _files(tmp_path, out=3, name="director.model")
    assert served(attack_path) == "paad"
    victim = checkpoint.load(victim_path)
    attack = make_attack("paad", victim, EPS, adversary=str(attack_path))
    z = torch.as_tensor(np.random.default_rng(0).normal(scale=2, size=(1, 16, 11)), dtype=torch.float32)
    got = attack(z, victim.space.flatten(victim.actor)[None])
    # PA-AD's perturb_obs_fgsm written out with torch modules: the director's unclipped mean as the direction
    d = torch.as_tensor(_hand_mlp(adv, z[0].double().numpy()), dtype=torch.float32)
    assert d.abs().max() > 2 and torch.allclose(attack.act(z)[0], d, atol=1e-5, rtol=1e-6)
    net = _victim_net(victim_path)
    gen = torch.Generator().manual_seed(0)  # the attack's generator (seed 0)
    noise = ((torch.rand(z[0].shape, generator=gen) * 2 - 1) * (EPS / 10)).requires_grad_(True)
    diff = net(z[0] + noise) - net(z[0]).detach()
    loss = -torch.mean(torch.nn.CosineSimilarity()(diff, attack.act(z)[0]) + torch.norm(diff, dim=1, p=2))
    loss.backward()
    assert torch.allclose(got[0], z[0] + noise.grad.sign() * EPS, atol=1e-6, rtol=0)


@pytest.mark.parametrize("attack, out", [("optimal", 11), ("paad", 3)])
def test_lineage_adversaries_in_evaluate(tmp_path, capsys, attack, out):
    from landscape.evaluate import main

    victim, adv, _ = _files(tmp_path, out=out)
    main(["--ckpt", str(victim), "--attack", attack, "--adversary", str(adv), "--episodes", "2", "--json"])
    res = json.loads(capsys.readouterr().out)
    assert res["env"] == "Hopper-v5" and res["attacks"][attack]["adversary"]["file"] == str(adv)


def _refused(capsys, argv) -> str:
    from landscape.evaluate import main

    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert exit_.value.code == 2 and "\n" not in err, err
    return err


def test_wrong_victim_env_eps_or_network_is_one_line(tmp_path, capsys):
    _, adv, _ = _files(tmp_path, out=11)
    other = tmp_path / "other.model"
    _make_lineage(other, seed=1)
    assert "another policy" in _refused(capsys, ["--ckpt", str(other), "--attack", "optimal", "--adversary", str(adv)])
    victim = tmp_path / "victim0.model"
    assert "trained for eps 0.075, not 0.1" in _refused(
        capsys, ["--ckpt", str(victim), "--attack", "optimal", "--eps", "0.1", "--adversary", str(adv)]
    )
    walker = tmp_path / "walker.model"
    _make_lineage(walker, obs=17, act=6, game="Walker2d-v2")
    assert "trained on Hopper-v5, the checkpoint is Walker2d-v5" in _refused(
        capsys, ["--ckpt", str(walker), "--attack", "optimal", "--adversary", str(adv)]
    )
    _, lstm, _ = _files(tmp_path, out=11, name="lstm.model", lstm=True)
    assert "LSTM policy" in _refused(capsys, ["--ckpt", str(victim), "--attack", "optimal", "--adversary", str(lstm)])
    assert "is not used: it serves --attack optimal" in _refused(
        capsys, ["--ckpt", str(victim), "--attack", "paad", "--adversary", str(adv)]
    )
    assert "not a learned adversary" in _refused(
        capsys, ["--ckpt", str(victim), "--attack", "optimal", "--adversary", str(victim)]
    )
    with pytest.raises(LandscapeError, match="neither the victim's 11 observations"):
        checkpoint.load_adversary(_files(tmp_path, out=5, name="odd.model")[1])


def test_hostile_adversary_file_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    victim, _, _ = _files(tmp_path, out=11)
    evil = tmp_path / "evil.model"
    torch.save({"policy_model": OrderedDict(), "adversary_policy_model": OrderedDict(), "envs": [Payload()]}, evil)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "landscape.evaluate",
            "--ckpt",
            str(victim),
            "--attack",
            "optimal",
            "--adversary",
            str(evil),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "refusing" in proc.stderr, proc.stderr
    assert not marker.exists()
