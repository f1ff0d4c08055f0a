"""Small pure helpers, unit-tested directly."""
