# Deps image: upstream's requirements (after the recipe's filters) on the env image.
# Keyed by env key + filtered requirements + constraints: reused while they are unchanged.
# The runtime settings live here too, so a commit image is one COPY and one LABEL step.
ARG ENV_IMAGE
FROM ${ENV_IMAGE}
COPY requirements.txt pre-install.sh /opt/harness/
RUN sh /opt/harness/pre-install.sh
# The freeze comes from importlib.metadata: an environment reused from the base may have no pip.
RUN if [ -s /opt/harness/requirements.txt ]; then pip install $(cat /opt/harness/pip-options.txt) -c /opt/harness/constraints.txt -r /opt/harness/requirements.txt; fi \
 && python -c "import importlib.metadata as m; print(chr(10).join(sorted({d.metadata['Name'] + '==' + d.version for d in m.distributions() if d.metadata['Name']})))" > /opt/harness/pip-freeze.txt
WORKDIR /opt/wan2gp
ENV PYTHONPATH=/opt/harness PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
ENTRYPOINT ["python", "-m", "harness_runner"]
