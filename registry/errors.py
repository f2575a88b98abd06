"""Registry errors: each has a stable code; the API layer decides the HTTP status."""

from __future__ import annotations


class RegistryError(Exception):
    """Base for errors a caller can act on."""

    code = "registry_error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(RegistryError):
    """The thing asked for does not exist or is not visible to the caller."""

    code = "not_found"


class Unauthenticated(RegistryError):
    """No valid API key."""

    code = "unauthenticated"


class Forbidden(RegistryError):
    """The key is valid but may not do this."""

    code = "forbidden"


class InvalidInput(RegistryError):
    """A field has a value the registry does not accept."""

    code = "invalid_input"


class Conflict(RegistryError):
    """The request contradicts the registry's current state."""

    code = "conflict"


class Gone(RegistryError):
    """The thing existed and was withdrawn on purpose (a retired profile that renders nothing new)."""

    code = "gone"


class ServiceUnavailable(RegistryError):
    """A backing service (the database) cannot be reached right now."""

    code = "service_unavailable"


class StoreUnavailable(ServiceUnavailable):
    """The blob store cannot be reached right now; the one code for a store outage, wherever it shows."""

    code = "storage_unavailable"


class RenderUnavailable(RegistryError):
    """The asset's master cannot be rendered (its render job was quarantined)."""

    code = "variant_unavailable"


class RenderPending(RegistryError):
    """A slow variant (AVIF) is rendered by background work only; `fallback` serves until it exists."""

    code = "variant_pending"

    def __init__(self, message: str, *, fallback: str) -> None:
        super().__init__(message)
        self.fallback = fallback
