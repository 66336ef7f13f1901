"""Unit tests of the opdhost glue (no containers needed)."""
