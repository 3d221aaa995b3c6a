"""The service's listening socket."""

from __future__ import annotations

import socket


def tcp_listener(host: str, port: int, backlog: int) -> socket.socket:
    """A TCP socket listening on ``host``:``port`` (port 0: any free one).

    It is made with its protocol named (``IPPROTO_TCP``): asyncio turns Nagle's algorithm
    off only on connections of such sockets, and a socket made without it says protocol 0.
    With Nagle on, every answer after the first on a kept-alive connection waited about
    40 ms for the client's delayed acknowledgement of the answer's first part."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(backlog)  # connections wait in the queue until the server takes them
    except OSError:
        listener.close()
        raise
    return listener
