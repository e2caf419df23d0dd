"""Domain types and errors. Standard library only: every layer may import this package."""
