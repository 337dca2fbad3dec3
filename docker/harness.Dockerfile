# harness itself, for `harness watch` as a service: compose.yaml's `watch` service runs it with
# the engine socket mounted (SECURITY.md: "The watch service and the engine socket").
# From the repository root:
#   docker build -f docker/harness.Dockerfile -t harness/harness:latest .
# Behind a TLS-intercepting proxy, first copy the host's CA bundle to docker/ca.pem (ignored by
# git): it then replaces the image's bundle, for pip here and for git and webhooks at run time.
# Any Debian/Ubuntu base with python3 works; the default is the one scripts/setup-host.sh makes.
ARG BASE=harness-base:bookworm
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends git python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The Dockerfile itself is named so that the pattern always matches one file: without a
# docker/ca.pem the COPY still succeeds (an unmatched pattern alone fails the classic builder).
COPY docker/harness.Dockerfile docker/ca.pe[m] /tmp/harness-build/
RUN if [ -s /tmp/harness-build/ca.pem ]; then cp /tmp/harness-build/ca.pem /etc/ssl/certs/ca-certificates.crt; fi \
 && rm -rf /tmp/harness-build
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt GIT_SSL_CAINFO=/etc/ssl/certs/ca-certificates.crt \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

# The dependencies first, from pyproject.toml alone: a code change rebuilds only the layer below.
COPY pyproject.toml /usr/src/harness/
RUN python3 -m venv /opt/harness \
 && python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/usr/src/harness/pyproject.toml', 'rb'))['project']['dependencies']))" >/tmp/requirements.txt \
 && /opt/harness/bin/pip install 'setuptools>=68' -r /tmp/requirements.txt \
 && rm /tmp/requirements.txt

# harness finds compose.yaml, docker/ and images/ beside its package (config.PROJECT_ROOT), so
# the tree stays whole and is installed in editable mode, as scripts/setup-host.sh does.
COPY README.md compose.yaml /usr/src/harness/
COPY docker/ /usr/src/harness/docker/
COPY images/ /usr/src/harness/images/
COPY harness/ /usr/src/harness/harness/
RUN /opt/harness/bin/pip install --no-deps --no-build-isolation -e /usr/src/harness \
 && /opt/harness/bin/harness --help >/dev/null
ENV PATH=/opt/harness/bin:$PATH
# Root in the container: the engine socket grants root on the host anyway (SECURITY.md).
ENTRYPOINT ["harness"]
CMD ["--help"]
