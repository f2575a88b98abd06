"""What tenant profiles and tenant platforms share: record shape, queries and lifecycle (define, version, publish,
retire, see)."""
