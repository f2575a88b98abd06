"""hotlink area of the registry: per-tenant URL policies (signing, referrers) and revocations."""
