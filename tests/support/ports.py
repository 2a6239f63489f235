"""A free TCP port on 127.0.0.1, for the test servers and for the benchmarks' servers.

Standard library only: bench/ scripts run as plain scripts (with the checkout on sys.path) and
import this module, so it must not pull in pytest, Django or the product.
"""

import socket


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
