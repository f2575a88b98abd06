"""Pure image functions: bytes and images in, bytes and images out. No database, no HTTP."""
