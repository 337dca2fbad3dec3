"""One adapter per outside system: the only modules that import docker, git or pynvml."""
