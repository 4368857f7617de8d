# The forecasting training container: ETS, ARIMA, Theta, NPTS, Prophet and seasonal
# naive, the deep global models DeepAR+ and CNN-QR (PyTorch), backtests, the
# AutoPredictor ensemble and forecasts, under the SageMaker training contract (see
# training_containers/README.md).
#
# Build from the repository root (the context needs pyproject.toml and the sources):
#   docker build -f training_containers/forecasting.Dockerfile -t augury-forecasting .
#   docker build -f training_containers/forecasting.Dockerfile --build-arg TORCH_VARIANT=cu126 \
#       -t augury-forecasting-gpu .
#
# TORCH_VARIANT picks the build of the torch version pinned in pyproject.toml, by the
# PyTorch wheel index it comes from (https://download.pytorch.org/whl/<variant>):
# `cpu` (the default) for CPU instances, without the multi-GB CUDA libraries; `cu126`
# for the GPU instances that predictors training DeepAR+ or CNN-QR run on. CUDA wheels
# bundle the CUDA runtime and cuDNN, so no CUDA base image is needed: the NVIDIA
# driver comes from the host (SageMaker's GPU instances). CUDA 12.6 covers the T4,
# V100, A10G, A100 and H100 instances (g4dn, p3, g5, p4d, p5); `cu130` also serves
# torch 2.13 but drops Volta (p3) and needs a 580+ driver. The deep models pick CUDA
# (with mixed precision) whenever torch sees a device, the CPU otherwise; the
# statistical models never use the GPU.
FROM python:3.11-slim

ARG TORCH_VARIANT=cpu

# One BLAS/OpenMP thread per process: the statistical models run a process per core.
# NVIDIA_*: what CUDA base images declare, so that the NVIDIA container runtime of a
# GPU host exposes the devices and the driver's compute libraries (no effect elsewhere).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1 \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility

# libgomp: OpenMP runtime used by the compiled forecasting engines and torch's CPU kernels.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/augury

# Dependencies first, from pyproject's `training` extra, so that editing the code
# does not reinstall them (this layer changes only when pyproject.toml or the variant
# does). The variant's index serves the pinned version as <version>+<variant>, which
# pip prefers to PyPI's plain <version>; the check fails the build if it did not.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['training']))" \
        > /tmp/requirements.txt \
    && pip install --extra-index-url "https://download.pytorch.org/whl/${TORCH_VARIANT}" \
        -r /tmp/requirements.txt \
    && python -c "import sys, torch; v = torch.__version__; \
sys.exit(None if v.endswith('+${TORCH_VARIANT}') else f'torch {v}: not the ${TORCH_VARIANT} build')"

# The distribution itself (its package discovery needs both source trees).
COPY README.md ./
COPY lambdas ./lambdas
COPY training_containers ./training_containers
RUN pip install --no-deps ".[training]" && rm -rf /opt/augury/build

# SageMaker runs `<image> train`; the entry point accepts and ignores the argument.
ENTRYPOINT ["python", "-m", "augury_training.forecasting"]
CMD ["train"]
