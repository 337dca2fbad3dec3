# Commit image: the upstream tree at one commit (no .git) at /opt/wan2gp, the suite's model
# overlays (merged into its finetunes/) and the in-image runner at /opt/harness: the context
# mirrors the image's /opt, so it is one COPY; the planner appends one LABEL line.
ARG DEPS_IMAGE
FROM ${DEPS_IMAGE}
COPY opt/ /opt/
