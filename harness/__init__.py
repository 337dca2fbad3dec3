"""harness: an image per upstream Wan2GP commit, a baseline judged by its videos."""

__version__ = "0.1.0"
