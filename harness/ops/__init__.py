"""Use cases over the ports. Each CLI command calls one of these and renders what it returns."""
