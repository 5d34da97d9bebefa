"""fosp and sticky with a learned attack: the file passed by --adversary, and the checkpoint handed on for the
one cached beside it (before, neither CLI passed the checkpoint nor had --adversary: rs/optimal always failed)."""

import json

import pytest

from landscape.fosp import main as fosp_main
from landscape.io import checkpoint
from landscape.sim.toys import trap
from landscape.sticky import main as sticky_main
from landscape.train import main as train_main


@pytest.fixture(scope="module")
def toy_with_adversary(tmp_path_factory):
    d = tmp_path_factory.mktemp("learned")
    ckpt = d / "toy.pt"
    checkpoint.save(trap.make_agent((0.5, 1.0)), ckpt)
    train_main(
        [
            "--algo",
            "adversary",
            "--victim",
            str(ckpt),
            "--out",
            str(d / "adv.pt"),
            "--steps",
            "256",
            "--steps-per-iter",
            "128",
        ]
    )
    return ckpt, d / "adv.pt"


def test_fosp_with_the_optimal_attack_from_adversary(toy_with_adversary, tmp_path):
    ckpt, adv = toy_with_adversary
    out = tmp_path / "fosp.json"
    fosp_main(
        [
            "--ckpt",
            str(ckpt),
            "--attack",
            "optimal",
            "--adversary",
            str(adv),
            "--steps",
            "0",
            "--test-objectives",
            "natural",
            "--threshold",
            "1",
            "--start-episodes",
            "4",
            "--budget",
            "4",
            "--episodes",
            "2",
            "--grad-episodes",
            "4",
            "--out",
            str(out),
        ]
    )
    p = json.loads(out.read_text())["points"][0]
    assert p["adversarial_return"] is not None and p["adversarial_return"][0] <= p["natural_return"][0] + 1e-6


def test_sticky_with_the_optimal_attack_from_adversary(toy_with_adversary, tmp_path):
    ckpt, adv = toy_with_adversary
    out = tmp_path / "sticky.json"
    sticky_main(
        [
            "--ckpt",
            str(ckpt),
            "--exact",
            "--objectives",
            "spo",
            "-K",
            "2",
            "--updates",
            "2",
            "--params",
            "weights",
            "--attack",
            "optimal",
            "--adversary",
            str(adv),
            "--episodes",
            "2",
            "--out",
            str(out),
        ]
    )
    rep = json.loads(out.read_text())
    assert (
        len(rep["at_point"]["adversarial"]) == 1
        and len(rep["objectives"]["spo"]["returns_reached"]["adversarial"]) == 2
    )


@pytest.mark.parametrize("main", [fosp_main, sticky_main])
def test_without_an_adversary_file_the_error_names_the_checkpoint(main, tmp_path, capsys):
    """The checkpoint reaches the learned attack (where its cached attacker is looked up beside it)."""
    ckpt = tmp_path / "toy.pt"
    checkpoint.save(trap.make_agent((0.5, 1.0)), ckpt)
    with pytest.raises(SystemExit) as ex:
        main(["--ckpt", str(ckpt), "--attack", "rs", "--exact", "--out", str(tmp_path / "r.json")])
    assert ex.value.code == 2 and f"--ckpt {ckpt} --attack rs" in capsys.readouterr().err
