"""The in-image baseline runner.

Copied into every commit image as the package `harness_runner` and run there with the
image's own Python. It imports nothing from the rest of `harness` (which is not in the
image) and only the standard library, so it works on any upstream commit's environment.
"""
