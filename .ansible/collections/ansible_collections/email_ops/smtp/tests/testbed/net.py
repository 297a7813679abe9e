"""Loopback ports for the test servers."""
import socket


def free_port(host='127.0.0.1'):
    """A TCP port nothing listens on now (the caller binds it soon after)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
