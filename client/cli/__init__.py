"""Command-line parsing and the commands themselves, one module per area."""
