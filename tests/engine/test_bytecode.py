"""The grading kernel runs as a user that cannot write bytecode, so ``make install`` compiles what it imports.

A module the kernel imports without a compiled copy is compiled again in every grading. Not compiled: what only
torch's compiler imports (sympy, torch._inductor), which a grading kernel loads only for a notebook that compiles.
"""

from __future__ import annotations

import subprocess
import sys

# What a grading kernel imports, with its start-up deferrals (LeanKernel): IPython's kernel, the notebook's libraries
# and otter, a network trained one step and described for grading, a figure drawn.
KERNEL_LIKE = """
import importlib.util, json, os, sys
from grading_engine.lazy_imports import defer_imports, defer_torch_compiler
defer_imports("pandas", "nbconvert")
defer_torch_compiler()
import ipykernel.kernelapp, matplotlib, numpy, otter, torch
matplotlib.use("agg")
import matplotlib.pyplot as plt
net = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1))
optimizer = torch.optim.Adam(net.parameters())
net(torch.ones(2, 1)).sum().backward()
optimizer.step()
plt.plot([0, 1])
plt.gcf().canvas.draw()
import graded_networks.networks
graded_networks.networks.describe(net, torch.ones(3, 1), "net")
site = os.path.join(sys.prefix, "lib")
missing = sorted(
    m.__file__ for m in list(sys.modules.values())
    if getattr(m, "__file__", None) and m.__file__.endswith(".py") and m.__file__.startswith(site)
    and not os.path.exists(importlib.util.cache_from_source(m.__file__))
)
print(json.dumps(missing))
"""


def test_what_a_grading_kernel_imports_is_compiled():
    import json

    # -B: this run writes no bytecode itself, so it sees only what the install left
    result = subprocess.run([sys.executable, "-B", "-c", KERNEL_LIKE], capture_output=True, text=True, check=True)
    missing = json.loads(result.stdout.strip().splitlines()[-1])
    assert not missing, f"{len(missing)} modules without bytecode, e.g. {missing[:5]}: see compileall in the Makefile"
