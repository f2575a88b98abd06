"""usage area of the registry: hotlink hits and what deduplication saved."""
