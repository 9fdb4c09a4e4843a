#!/usr/bin/env bash
# One prepared run for a lent GPU machine: the CUDA tests and the GPU rows of the benchmarks,
# logs into $OUT. Written for the workplace's device tool (a bare image with python3, torch,
# numba, torchdiffeq, safetensors, pytest; nothing fetched there), to fit one call of at most
# 10 minutes:
#
#   # here, once: the packages the engine needs that the image lacks, as wheels for its
#   # Python 3.12 (.whl/ is in .gitignore; about 1 MB)
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#       --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl tomli-w platformdirs pyzmq
#   # then one device call: command "bash benchmarks/device_check.sh", carry [".whl"], timeout_s 580
#
# Elsewhere (a workstation with CUDA and `make dev` done) it runs as is, with .venv's python.
set -u
OUT=${OUT:-/tmp/attractor-lab-device}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 ATTRACTOR_LAB_COMPILE=0
PY=python3
[ -x .venv/bin/python ] && PY=.venv/bin/python
if [ -d .whl ]; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
        && export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"

{
    date -u
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1
    "$PY" -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} 2>&1 | tee "$OUT/machine.txt"

# 1. the CUDA tests (they skip elsewhere): device choice, fused Hopfield batches, operator rollouts
timeout 240 "$PY" -m pytest -q -p no:cacheprovider -o addopts="-ra" --timeout 200 \
    tests/test_device.py tests/test_hopfield_fused.py tests/test_neural_operator.py \
    tests/test_hopfield_dynamics_speed.py 2>&1 | tee "$OUT/tests.txt"

# 2. fused sweep points on the GPU against one network at a time (the issue 11 figure)
timeout 150 "$PY" benchmarks/bench_sweep_fused.py --device cuda --repeats 3 2>&1 | tee "$OUT/bench_sweep_fused.txt"

# 3. the other benchmarks' CUDA rows, shortened
timeout 60 "$PY" benchmarks/bench_hopfield.py --quick 2>&1 | tee "$OUT/bench_hopfield.txt"
timeout 60 "$PY" benchmarks/bench_operator.py --quick 2>&1 | tee "$OUT/bench_operator.txt"
echo "done: $(date -u)" | tee -a "$OUT/machine.txt"
