"""media area of the registry."""
