"""The embedded DNS of user-defined networks: wire format, servers, and forwarding upstream."""
