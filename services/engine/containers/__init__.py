"""Containers: their records, rules and lifecycle. No gRPC, no SQL, no runc in here."""
