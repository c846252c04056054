"""The supervisor behind ``estiba up``: runs one instance's four services and keeps them up."""
