"""The headless engine. Nothing under this package may import Qt (checked by import-linter)."""
