"""modelreg server: gRPC transport over a service layer over PostgreSQL storage."""

__version__ = "0.1.0"
