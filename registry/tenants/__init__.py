"""tenants area of the registry."""
