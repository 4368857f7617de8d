# The personalization training container: Amazon Personalize's recipes (popularity,
# trending, SIMS, similar-items and the PyTorch sequence models behind
# user-personalization and personalized-ranking), HPO, Amazon's offline metrics and
# the recommender files serving loads, under the SageMaker training contract (see
# training_containers/README.md).
#
# Build from the repository root (the context needs pyproject.toml and the sources):
#   docker build -f training_containers/personalization.Dockerfile -t augury-personalization .
#
# The image installs the CPU build of torch pinned in pyproject.toml. For training on
# a GPU instance, build with a CUDA base image and a CUDA wheel of the same torch
# version; the code picks CUDA (with mixed precision) whenever torch sees a device.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# libgomp: OpenMP runtime used by torch's and NumPy's CPU kernels.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/augury

# Dependencies first, from pyproject's `training` extra, so that editing the code
# does not reinstall them (this layer changes only when pyproject.toml does). The
# CPU index serves the pinned torch without the multi-GB CUDA libraries.
COPY pyproject.toml ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
print('\n'.join(p['dependencies'] + p['optional-dependencies']['training']))" \
        > /tmp/requirements.txt \
    && pip install --extra-index-url https://download.pytorch.org/whl/cpu -r /tmp/requirements.txt

# The distribution itself (its package discovery needs both source trees).
COPY README.md ./
COPY lambdas ./lambdas
COPY training_containers ./training_containers
RUN pip install --no-deps ".[training]" && rm -rf /opt/augury/build

# SageMaker runs `<image> train`; the entry point accepts and ignores the argument.
ENTRYPOINT ["python", "-m", "augury_training.personalization"]
CMD ["train"]
