"""The registry: tenants, assets, uploads, SKUs, variants and the services that change them."""
