"""The bundled sample upstream: a mini Wan2GP that the README's first command builds and tests."""
