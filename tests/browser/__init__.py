"""Tests that drive a real headless Chromium against a running `skupix serve`."""
