# Env image: the base, system packages, uv, a venv and the torch family. Keyed by the recipe;
# shared by every commit built with that recipe. The wheelhouse lives only in the install
# stage, so it never ends up in the image nor travels with later contexts.
ARG BASE
FROM ${BASE} AS base
ARG APT_PACKAGES=""
ENV DEBIAN_FRONTEND=noninteractive
RUN if [ -n "$APT_PACKAGES" ]; then apt-get update && apt-get install -y --no-install-recommends $APT_PACKAGES && rm -rf /var/lib/apt/lists/*; fi
# uv is harness's own (the host's binary, the one harness was installed with): every install of
# the env and deps builds goes through it. pip stays in the venv for whoever needs it.
COPY uv /usr/local/bin/uv
COPY pip.conf /etc/pip.conf
COPY ca.pem constraints.txt pip-options.txt uv-options.txt uv.env /opt/harness/
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_PYTHON=/opt/venv/bin/python UV_BREAK_SYSTEM_PACKAGES=1 UV_NO_PROGRESS=1 UV_LINK_MODE=copy

FROM base AS install
ARG PYTHON=python3
# VENV=create makes a fresh venv; a path reuses the base image's own environment (a GPU
# host's image that already holds torch): then nothing is copied, /opt/venv links to it.
ARG VENV=create
COPY wheelhouse/ /opt/harness/wheelhouse/
COPY env-requirements.txt /opt/harness/
# No download cache here (the classic builder mounts none): the env image is built once a recipe.
RUN if [ "$VENV" = create ]; then ${PYTHON} -m venv /opt/venv; else ln -s "$VENV" /opt/venv; fi \
 && . /opt/harness/uv.env \
 && if [ -s /opt/harness/env-requirements.txt ]; then UV_NO_CACHE=1 uv pip install $(cat /opt/harness/uv-options.txt) --find-links /opt/harness/wheelhouse -c /opt/harness/constraints.txt -r /opt/harness/env-requirements.txt; fi \
 && if [ "$VENV" = create ]; then mv /opt/venv /opt/venv-export; else mkdir /opt/venv-export; fi
# The classic builder keeps this stage as an untagged image; the labels let its own state's gc
# (and only that one) find it. Last, after every RUN: a build arg is part of a RUN's cache key.
ARG HARNESS_STATE=""
LABEL harness.purpose=build-stage harness.state=${HARNESS_STATE}

FROM base
ARG VENV=create
COPY --from=install /opt/venv-export /opt/venv
RUN if [ "$VENV" != create ]; then rmdir /opt/venv && ln -s "$VENV" /opt/venv; fi
