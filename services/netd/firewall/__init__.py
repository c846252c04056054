"""netd's nftables table: outbound NAT and forwarding rules for its bridges."""
