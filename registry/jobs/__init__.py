"""jobs area of the registry."""
