"""Test support: which local addresses listen on a port (servers under test must listen on 127.0.0.1 only)."""

from __future__ import annotations

from pathlib import Path


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port``: IPv4 dotted ("127.0.0.1"), IPv6 as the kernel's hex."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
                          if len(address) == 8 else address)
    return found
