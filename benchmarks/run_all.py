"""Run every benchmark in turn (``make bench``); each prints its own ratios."""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

for script in ("bench_rd.py", "bench_hopfield.py", "bench_ode_solvers.py", "bench_rate_network.py", "bench_neural_ode.py",
               "bench_pde_solvers.py", "bench_operator.py", "bench_sweep.py", "bench_sweep_fused.py", "bench_analysis.py",
               "bench_gui.py", "bench_views.py"):
    print(f"\n=== {script}", flush=True)
    env = {**os.environ}
    if script in ("bench_gui.py", "bench_views.py"):
        env.setdefault("QT_QPA_PLATFORM", "offscreen")
    code = subprocess.call([sys.executable, str(HERE / script), *sys.argv[1:]], env=env)
    if code:
        sys.exit(code)
