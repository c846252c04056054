"""The schema of netd.db, one migration per released change.

Current schema (version 4)::

    networks    id (PK) · name (UNIQUE) · driver · subnet · gateway · created_at
       │ 1      bridge (UNIQUE when set)                                  [v2]
       │        ipam_last: the address handed out last (serial IPAM)      [v2]
       │        internal · attachable (0/1) · ip_range ('' = the subnet)  [v3]
       │        labels · options (JSON objects)                           [v3]
       │
       │ n
    endpoints   id (PK) · network_id → networks.id · container_id · address · created_at
       │ n      mac · host_ifname (UNIQUE when set) · aliases (JSON list)  [v2]
       │        ifname: the interface inside the container (eth0, eth1...)  [v3]
       │        UNIQUE (network_id, address): no address is ever handed out twice
       │        UNIQUE (network_id, container_id): one endpoint per container and network [v2]
       │        UNIQUE (container_id, ifname): one eth0, one eth1... per container   [v3]
       │
       │ 1      (endpoints.container_id = sandboxes.container_id; the store writes and
    sandboxes   deletes a sandbox and its endpoints in one transaction)     [v2]
       │ 1      container_id (PK) · mode ("bridge" | "none" | "host") · netns_path
       │        hostname · created_at
       │        name: the container's name, for the embedded DNS          [v3]
       │        removing (0/1): removed, its kernel teardown not finished yet [v4]
       │ n
    ports       container_id → sandboxes.container_id · protocol ("tcp" | "udp")   [v3]
                container_port · host_ip ('' = every address) · host_port
                UNIQUE (protocol, host_ip, host_port); a '' host_ip also excludes every
                specific one of the same port and protocol (checked by the rules)

    settings    name (PK) · value                                          [v2]
                "kernel_prefix": the prefix this database's kernel objects carry
                "sysctl.net.ipv4.ip_forward.before": the value netd found before turning it on

* ``networks.subnet`` and ``ip_range`` are CIDR text ("172.30.0.0/24"), ``gateway`` and
  ``endpoints.address`` are dotted quads; the endpoint's prefix length is its network's.
* A sandbox row exists from the moment its address is allocated, before the kernel is touched;
  reconcile at start finishes or releases any that netd died while building. The same holds
  for an endpoint added to an existing sandbox (Connect).
* RemoveSandbox marks the row ``removing`` and answers; the kernel teardown follows, and only
  then one transaction deletes the row with its endpoints and ports, which releases their
  addresses, veth names and host ports. Until then they stay held (IPAM and the port checks
  see them), while listings leave such a sandbox out. Reconcile at start finishes any removal
  netd died in the middle of.
* Times are RFC 3339 text in UTC.
"""

from services.kit.db import Migration

MIGRATIONS = [
    Migration(
        1,
        "networks and endpoints",
        """
        CREATE TABLE networks (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            driver TEXT NOT NULL,
            subnet TEXT NOT NULL,
            gateway TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE endpoints (
            id TEXT PRIMARY KEY,
            network_id TEXT NOT NULL REFERENCES networks(id),
            container_id TEXT NOT NULL,
            address TEXT NOT NULL,
            created_at TEXT NOT NULL,
            UNIQUE (network_id, address)
        );
        """,
    ),
    Migration(
        2,
        "bridges, sandboxes and settings",
        """
        ALTER TABLE networks ADD COLUMN bridge TEXT NOT NULL DEFAULT '';
        ALTER TABLE networks ADD COLUMN ipam_last TEXT NOT NULL DEFAULT '';
        CREATE UNIQUE INDEX networks_bridge ON networks (bridge) WHERE bridge != '';
        ALTER TABLE endpoints ADD COLUMN mac TEXT NOT NULL DEFAULT '';
        ALTER TABLE endpoints ADD COLUMN host_ifname TEXT NOT NULL DEFAULT '';
        ALTER TABLE endpoints ADD COLUMN aliases TEXT NOT NULL DEFAULT '[]';
        CREATE UNIQUE INDEX endpoints_host_ifname ON endpoints (host_ifname)
            WHERE host_ifname != '';
        CREATE UNIQUE INDEX endpoints_container ON endpoints (network_id, container_id);
        CREATE INDEX endpoints_by_container ON endpoints (container_id);
        CREATE TABLE sandboxes (
            container_id TEXT PRIMARY KEY,
            mode TEXT NOT NULL CHECK (mode IN ('bridge', 'none', 'host')),
            netns_path TEXT NOT NULL,
            hostname TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE settings (
            name TEXT PRIMARY KEY,
            value TEXT NOT NULL
        );
        """,
    ),
    Migration(
        3,
        "user-defined networks, several endpoints per sandbox, names and published ports",
        """
        ALTER TABLE networks ADD COLUMN internal INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE networks ADD COLUMN attachable INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE networks ADD COLUMN ip_range TEXT NOT NULL DEFAULT '';
        ALTER TABLE networks ADD COLUMN labels TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE networks ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE endpoints ADD COLUMN ifname TEXT NOT NULL DEFAULT 'eth0';
        CREATE UNIQUE INDEX endpoints_ifname ON endpoints (container_id, ifname);
        ALTER TABLE sandboxes ADD COLUMN name TEXT NOT NULL DEFAULT '';
        CREATE TABLE ports (
            container_id TEXT NOT NULL REFERENCES sandboxes(container_id),
            protocol TEXT NOT NULL CHECK (protocol IN ('tcp', 'udp')),
            container_port INTEGER NOT NULL,
            host_ip TEXT NOT NULL,
            host_port INTEGER NOT NULL,
            UNIQUE (protocol, host_ip, host_port)
        );
        CREATE INDEX ports_by_container ON ports (container_id);
        """,
    ),
    Migration(
        4,
        "sandboxes being removed",
        """
        ALTER TABLE sandboxes ADD COLUMN removing INTEGER NOT NULL DEFAULT 0;
        """,
    ),
]
