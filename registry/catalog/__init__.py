"""Brand product catalogue: products by SKU and GTIN, and their official pictures."""
