"""Hostile checkpoints: nothing in a file runs, nothing allocates more than the file holds, every refusal is one line.

The TorchScript payload is real: a scripted module whose `__setstate__` creates a marker file through
`torch.from_file(..., shared=True)`; `torch.load` hands such an archive to `torch.jit.load`, which runs it.
"""

import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.core.errors import LandscapeError
from landscape.io import checkpoint, torchfile


class Payload(torch.nn.Module):
    """On load, __setstate__ creates the file named in its state (what a TorchScript archive can do)."""

    def __init__(self, marker: str):
        super().__init__()
        self.marker = marker
        self.handle = torch.zeros(1, dtype=torch.uint8)

    @torch.jit.export
    def __getstate__(self) -> tuple[str, bool]:
        return (self.marker, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[str, bool]) -> None:
        self.marker = state[0]
        self.training = state[1]
        self.handle = torch.from_file(state[0], shared=True, size=1, dtype=torch.uint8)  # kept: not dead code

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def _toy_ckpt(path: Path) -> Path:
    from test_compare_browser import toy_ckpt  # the same tiny ToyTarget-v0 checkpoint as the page tests

    return toy_ckpt(path, 0)


@pytest.fixture(scope="module")
def payloads(tmp_path_factory):
    d = tmp_path_factory.mktemp("torchscript")
    marker = d / "MARKER"
    scripted = torch.jit.script(Payload(str(marker)))
    files = {}
    for suffix in (".model", ".pt"):
        torch.jit.save(scripted, d / f"evil{suffix}")
        files[suffix] = d / f"evil{suffix}"
    assert not marker.exists()
    return d, marker, files


def test_payload_is_live(payloads, tmp_path):
    """The payload does what it claims when torch.jit.load runs it (else the tests below prove nothing)."""
    d, _, files = payloads
    marker = tmp_path / "LIVE"
    torch.jit.save(torch.jit.script(Payload(str(marker))), tmp_path / "live.pt")
    torch.jit.load(tmp_path / "live.pt")
    assert marker.exists()


def _cli_cases(evil: Path, good: Path, tmp: Path) -> list[tuple[str, list[str]]]:
    report = tmp / "report.json"
    report.write_text(json.dumps({"schema": "landscape.points/1", "ckpt": str(evil), "points": []}))
    traj = tmp / "traj"
    traj.mkdir(exist_ok=True)
    (traj / f"a{evil.suffix}").write_bytes(evil.read_bytes())
    return [
        ("evaluate", ["--ckpt", str(evil)]),
        ("scan", ["--ckpt", str(evil), "--out", str(tmp / "s1")]),
        ("fosp", ["--ckpt", str(evil), "--out", str(tmp / "f.json")]),
        ("sticky", ["--ckpt", str(evil), "--out", str(tmp / "st.json")]),
        (
            "scan",
            [
                "--ckpt",
                str(good),
                "--1d",
                "--directions",
                "line",
                "--to",
                str(evil),
                "--metrics",
                "natural",
                "--out",
                str(tmp / "s2"),
            ],
        ),
        (
            "scan",
            [
                "--ckpt",
                str(good),
                "--directions",
                "pca,pca",
                "--trajectory",
                str(traj / "*"),
                "--metrics",
                "natural",
                "--out",
                str(tmp / "s3"),
            ],
        ),
        ("compare", [str(good), str(evil), "--out", str(tmp / "c.html")]),
        ("compare", [str(good), "--reports", str(report), "--out", str(tmp / "c2.html")]),
        ("train", ["--algo", "adversary", "--victim", str(evil), "--out", str(tmp / "adv.pt")]),
        ("evaluate", ["--ckpt", str(good), "--attack", "optimal", "--adversary", str(evil)]),
    ]


@pytest.mark.parametrize("suffix", [".model", ".pt"])
def test_torchscript_refused_on_every_cli_path(payloads, tmp_path, capsys, suffix):
    import importlib

    _, marker, files = payloads
    good = _toy_ckpt(tmp_path / "good.pt")
    for module, argv in _cli_cases(files[suffix], good, tmp_path):
        main = importlib.import_module(f"landscape.{module}").main
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        err = capsys.readouterr().err.strip()
        assert exit_.value.code == 2, (module, argv, err)
        assert err.count("\n") == 0 and "TorchScript" in err, (module, argv, err)
        assert not marker.exists(), (module, argv)
    assert not (tmp_path / "s1").exists() and not (tmp_path / "c.html").exists()


def test_torchscript_refused_end_to_end(payloads):
    """A real process: exit 2, one line on stderr (no torch warning), no marker."""
    _, marker, files = payloads
    proc = subprocess.run(
        [sys.executable, "-m", "landscape.evaluate", "--ckpt", str(files[".model"])], capture_output=True, text=True
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "TorchScript" in proc.stderr and not marker.exists()


def test_rs_cache_beside_a_checkpoint_is_read_as_data(payloads, tmp_path):
    """attacks/sarsa.py reads its cached Q (`<stem>.rs.pt`) through torchfile: a TorchScript one is refused in
    one line (torch.load(weights_only=True) refused it too, but printed a warning first)."""
    _, marker, files = payloads
    good = _toy_ckpt(tmp_path / "good.pt")
    (tmp_path / "good.rs.pt").write_bytes(files[".pt"].read_bytes())
    proc = subprocess.run(
        [sys.executable, "-m", "landscape.evaluate", "--ckpt", str(good), "--attack", "rs", "--episodes", "1"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert "TorchScript" in proc.stderr and not marker.exists()


def test_our_pt_reader_refuses_torchscript(payloads):
    _, marker, files = payloads
    for f in files.values():
        with pytest.raises(LandscapeError, match="TorchScript"):
            checkpoint.load_raw(f)
    assert not marker.exists()


# ------------------------------------------------------------------------------ files that are not the two formats
def _zip_with(tmp_path, name: str, extra: dict, compress=zipfile.ZIP_STORED) -> Path:
    src = _toy_ckpt(tmp_path / "src.pt")
    out = tmp_path / name
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(out, "w", compression=compress) as zout:
        root = zin.namelist()[0].split("/")[0]
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
        for entry, data in extra.items():
            zout.writestr(f"{root}/{entry}", data)
    return out


@pytest.mark.parametrize("case", ["constants", "code", "deflated", "tar", "plain-pickle", "text"])
def test_other_formats_are_one_line_errors(tmp_path, case):
    if case == "constants":
        path, msg = _zip_with(tmp_path, "x.pt", {"constants.pkl": pickle.dumps(())}), "TorchScript"
    elif case == "code":
        path, msg = _zip_with(tmp_path, "x.model", {"code/__torch__/m.py": "x = 1"}), "TorchScript"
    elif case == "deflated":
        path, msg = _zip_with(tmp_path, "x.pt", {}, zipfile.ZIP_DEFLATED), "compressed"
    elif case == "tar":
        import tarfile

        path, msg = tmp_path / "x.pt", "not a torch checkpoint"
        with tarfile.open(path, "w") as tar:
            tar.add(_toy_ckpt(tmp_path / "a.pt"), "storages")
    elif case == "plain-pickle":
        path, msg = tmp_path / "x.model", "plain pickle"
        path.write_bytes(pickle.dumps({"policy_model": 1}, protocol=2))
    else:
        path, msg = tmp_path / "x.pt", "not a torch checkpoint"
        path.write_text("hello")
    with pytest.raises(LandscapeError, match=msg) as err:
        checkpoint.load(path)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("legacy", [False, True])
@pytest.mark.parametrize("suffix", [".pt", ".model"])
def test_pickled_code_refused_in_both_formats(tmp_path, legacy, suffix):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / f"evil{suffix}"
    torch.save(
        {"format": checkpoint.FORMAT, "policy_model": OrderedDict(), "x": Evil()},
        path,
        _use_new_zipfile_serialization=not legacy,
    )
    with pytest.raises(LandscapeError, match=r"refusing (posix|os)\.system"):
        checkpoint.load(path)
    assert not marker.exists()


# ------------------------------------------------------------------------------ memory and CPU bombs
class _ObjectArrayBomb:
    """Pickles as numpy's own reconstruction of an object array of 10^9 entries (96 bytes of pickle)."""

    def __reduce__(self):
        return (np._core.multiarray._reconstruct, (np.ndarray, (0,), b"b"), (1, (10**9,), np.dtype(object), False, []))


class _HugeNumericArray:
    def __reduce__(self):
        return (
            np._core.multiarray._reconstruct,
            (np.ndarray, (0,), b"b"),
            (1, (10**6, 10**6), np.dtype("f8"), False, b"\0" * 8),
        )


class _CallNdarray:
    def __reduce__(self):
        return (np.ndarray, ((10**6, 10**6),))


@pytest.mark.parametrize(
    "bomb, msg",
    [(_ObjectArrayBomb(), "numpy dtype"), (_HugeNumericArray(), "numpy array"), (_CallNdarray(), "not callable")],
)
def test_numpy_bombs_refused(tmp_path, bomb, msg):
    path = tmp_path / "bomb.model"
    torch.save({"policy_model": OrderedDict(), "envs": [bomb]}, path)
    with pytest.raises(LandscapeError, match=msg):
        checkpoint.load(path)


def test_storage_type_cannot_be_called_to_allocate(tmp_path):
    class CallStorage:
        def __reduce__(self):
            return (torch.FloatStorage, (10**12,))

    path = tmp_path / "bomb.pt"
    torch.save({"format": checkpoint.FORMAT, "x": CallStorage()}, path)
    with pytest.raises(LandscapeError, match="not callable"):
        checkpoint.load(path)


@pytest.mark.parametrize("legacy", [False, True])
def test_stride0_tensor_refused(tmp_path, legacy):
    path = tmp_path / "bomb.pt"
    wide = torch.zeros(1).expand(100_000, 100_000)  # 40 GB once materialized, 4 bytes in the file
    torch.save(
        {"format": checkpoint.FORMAT, "actor": {"net.0.weight": wide}}, path, _use_new_zipfile_serialization=not legacy
    )
    with pytest.raises(LandscapeError, match="stride 0"):
        checkpoint.load(path)


def test_tensor_larger_than_its_storage_refused(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"format": checkpoint.FORMAT, "t": torch.zeros(4)}, path)
    raw = bytearray(path.read_bytes())
    # rewrite the pickled size (4,) to (9,): the view would run past its 4-element storage
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as z:
        pkl = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    assert pkl.count(b"K\x04\x85") == 1
    forged = tmp_path / "forged.pt"
    with zipfile.ZipFile(io.BytesIO(bytes(raw))) as zin, zipfile.ZipFile(forged, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(
                info.filename, data.replace(b"K\x04\x85", b"K\x09\x85") if info.filename.endswith("data.pkl") else data
            )
    with pytest.raises(LandscapeError, match="does not fit its storage"):
        torchfile.read(forged)


def test_storage_entry_size_must_match(tmp_path):
    path = tmp_path / "x.pt"
    torch.save({"format": checkpoint.FORMAT, "t": torch.zeros(4)}, path)
    forged = tmp_path / "forged.pt"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(forged, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info.filename)
            zout.writestr(info.filename, data[:8] if info.filename.endswith("data/0") else data)
    with pytest.raises(LandscapeError, match="holds 8 bytes"):
        torchfile.read(forged)


def test_huge_hidden_metadata_allocates_nothing(tmp_path):
    path = _toy_ckpt(tmp_path / "a.pt")
    raw = checkpoint.load_raw(path)
    raw["hidden"] = [20000, 20000]
    torch.save(raw, path)
    with pytest.raises(LandscapeError, match="parameters are not those of a 3-layer MLP|has shape"):
        checkpoint.load(path)


def test_codecs_encode_only_for_bytes(tmp_path):
    class Codec:
        def __reduce__(self):
            import _codecs

            return (_codecs.encode, ("x", "rot13"))

    path = tmp_path / "x.pt"
    torch.save({"format": checkpoint.FORMAT, "x": Codec()}, path)
    with pytest.raises(LandscapeError, match="rot13"):
        checkpoint.load(path)


def test_reader_matches_torch_load_on_good_files(tmp_path):
    obj = {
        "t": torch.randn(3, 5)[:, 1:4],
        "h": torch.arange(6, dtype=torch.int64).view(2, 3).t(),
        "b": torch.tensor([True, False]),
        "e": torch.zeros(0),
        "d": OrderedDict(x=torch.ones(2, dtype=torch.float64)),
        "a": np.arange(6.0).reshape(2, 3),
        "s": np.float32(1.5),
        "n": [1, "x", None, 2.5],
    }
    for legacy in (False, True):
        path = tmp_path / f"ok{legacy}.model"
        torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
        ours, ref = torchfile.read(path, numpy=True), torch.load(path, weights_only=False)
        for k in ("t", "h", "b", "e"):
            assert torch.equal(ours[k], ref[k]) and ours[k].stride() == ref[k].stride()
        assert torch.equal(ours["d"]["x"], ref["d"]["x"]) and np.array_equal(ours["a"], ref["a"])
        assert ours["s"] == ref["s"] and ours["n"] == ref["n"]


# ------------------------------------------------------------------------------ the compare page with hostile data
# (the same names and metadata drive the page of tests/test_compare_browser.py, opened in headless Chromium)
HOSTILE = "<img src=x onerror=window.pwned=1>"


def test_hostile_data_stays_inert_text_in_the_page(tmp_path):
    import html as html_
    import re

    from landscape.compare import write_page

    data = {
        "points": [
            {
                "id": HOSTILE,
                "label": "</script><script>window.pwned=4</script>",
                "ckpt": "__PLOTLY__.pt",
                "algo": "__DATA__",
                HOSTILE: "<!-- \u2028 \u2029 &amp; __TITLE__",
            }
        ]
    }
    title = f"{HOSTILE} vs __DATA__ vs __PLOTLY__ vs __TITLE__"
    write_page(data, tmp_path / "p.html", title)
    page = (tmp_path / "p.html").read_text()
    blob = re.search(r"const D = (.*);\n", page).group(1)
    assert json.loads(blob) == data  # the data survives exactly, as data
    assert not re.search(r"[<>&\u2028\u2029]", blob)  # and cannot end its <script> or open a comment
    assert page.count(html_.escape(title)) == 2 and HOSTILE not in page  # <title> and <h1>, escaped, filled once
    assert (
        page.count("__PLOTLY__") == 3 and page.count("__DATA__") == 3
    )  # title x2 + the data: nothing substituted twice
