# Commit image: the upstream tree at one commit (no .git), the suite's model overlays
# (already merged into upstream/finetunes/) and the in-image runner. One thin layer each.
ARG DEPS_IMAGE
FROM ${DEPS_IMAGE}
COPY runner/ /opt/harness/harness_runner/
COPY upstream/ /opt/wan2gp/
WORKDIR /opt/wan2gp
ENV PYTHONPATH=/opt/harness PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
ENTRYPOINT ["python", "-m", "harness_runner"]
