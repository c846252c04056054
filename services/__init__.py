"""estiba's daemons: registry, engine, netd and gateway, plus the toolkit they share (kit)."""
