"""The pages, one module per area; each has ``routes`` and its templates under
``templates/<module>/``."""
