"""pgsync: Pulumi Cloud Policy Groups as code."""

__version__ = "0.1.0"
