"""skus area of the registry."""
