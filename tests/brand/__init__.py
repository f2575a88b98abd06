"""Tests of issue 13: brand catalogue, packs, terms, follow, pull, webhooks, console."""
