"""variants area of the registry."""
