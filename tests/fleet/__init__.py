"""The fleet tests: a real Docker Swarm of engines in network namespaces, and a real registry."""
