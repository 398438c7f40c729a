"""A resolver and a network the tests control: nothing leaves this machine.

``resolver`` replaces ``socket.getaddrinfo``: names answer from a table (a list of
answers is used one lookup after another, the last one repeating); IP literals
go to the real function (no lookup happens for them); any other name fails.
``sockets`` records every ``connect``: loopback connects go through (local test
servers), anything else is refused on the spot without touching the network.
"""

from __future__ import annotations

import ipaddress
import socket

import pytest

_real_getaddrinfo = socket.getaddrinfo
_real_connect = socket.socket.connect


class Resolver:
    def __init__(self):
        self.table: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []

    def add(self, name: str, *answers: list[str] | str) -> None:
        self.table[name] = [[a] if isinstance(a, str) else list(a) for a in answers]

    def count(self, name: str) -> int:
        return sum(1 for looked in self.lookups if looked == name)

    def __call__(self, host, port, family=0, type=0, proto=0, flags=0):
        host = host.decode() if isinstance(host, bytes) else host
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            return _real_getaddrinfo(host, port, family, type, proto, flags)
        self.lookups.append(host)
        answers = self.table.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the test resolver")
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        infos = []
        for text in answer:
            address = ipaddress.ip_address(text)
            if address.version == 4:
                infos.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", (text, port)))
            else:
                infos.append((socket.AF_INET6, socket.SOCK_STREAM, 6, "", (text, port, 0, 0)))
        return infos


class Sockets:
    def __init__(self):
        self.connects: list[tuple[str, int]] = []

    def remote(self) -> list[tuple[str, int]]:
        return [c for c in self.connects if not ipaddress.ip_address(c[0]).is_loopback]


@pytest.fixture
def resolver(monkeypatch):
    fake = Resolver()
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


@pytest.fixture
def sockets(monkeypatch):
    record = Sockets()

    def connect(sock, address):
        host, port = address[0], address[1]
        record.connects.append((host, port))
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:
            raise ConnectionRefusedError(f"the test network refuses {host}:{port}")
        return _real_connect(sock, address)

    def create_connection(address, *args, **kwargs):
        raise AssertionError(f"socket.create_connection({address!r}) was called")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return record
