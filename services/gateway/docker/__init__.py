"""Docker Engine API shapes: request bodies and query strings in, JSON views out."""
