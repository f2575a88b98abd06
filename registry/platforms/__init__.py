"""Tenant platforms: slot maps (role → profile) brands and platforms define, version, publish and retire."""
