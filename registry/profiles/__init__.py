"""Tenant profiles: render profiles brands and platforms define, version, publish and retire."""
