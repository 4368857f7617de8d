# The forecasting training container: ETS, ARIMA, Theta, NPTS, Prophet and seasonal
# naive, backtests, the AutoPredictor ensemble and forecasts, under the SageMaker
# training contract (see training_containers/README.md).
#
# Build from the repository root (the context needs pyproject.toml and the sources):
#   docker build -f training_containers/forecasting.Dockerfile -t augury-forecasting .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1 \
    MKL_NUM_THREADS=1

# libgomp: OpenMP runtime used by the compiled forecasting engines.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/augury

# Dependencies first, from pyproject's `training` extra, so that editing the code
# does not reinstall them (this layer changes only when pyproject.toml does).
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['training']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# The distribution itself (its package discovery needs both source trees).
COPY README.md ./
COPY lambdas ./lambdas
COPY training_containers ./training_containers
RUN pip install --no-deps ".[training]" && rm -rf /opt/augury/build

# SageMaker runs `<image> train`; the entry point accepts and ignores the argument.
ENTRYPOINT ["python", "-m", "augury_training.forecasting"]
CMD ["train"]
