"""No side effects at import: importing every landscape module leaves matplotlib, torch and MuJoCo settings alone."""

import subprocess
import sys

PROBE = r"""
import importlib, pkgutil
import matplotlib, torch

def state():
    from landscape.sim import physics
    return {"rc": {k: repr(dict.__getitem__(matplotlib.rcParams, k)) for k in matplotlib.rcParams},  # raw: no
            # backend resolution, which reading rcParams["backend"] would itself trigger
            "validate": torch.distributions.Distribution._validate_args, "threads": torch.get_num_threads(),
            "dtype": str(torch.get_default_dtype()), "grad": torch.is_grad_enabled(),
            "deterministic": torch.are_deterministic_algorithms_enabled(), "nthread": physics.NTHREAD}

before = state()
import landscape
names = [m.name for m in pkgutil.walk_packages(landscape.__path__, "landscape.")
         if not m.name.endswith("__main__")]  # `python -m landscape` runs the CLI: that is its import
for name in names:
    importlib.import_module(name)
after = state()
changed = [k for k in before if before[k] != after[k]]
changed += [f"rc[{k}]" for k in before["rc"] if before["rc"][k] != after["rc"].get(k)]
print(len(names), "modules;", "changed:", changed)
assert not changed
"""


def test_importing_every_module_changes_no_global_setting():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert int(out.stdout.split()[0]) > 40  # every module was imported, not just the package
