"""Before a multi-node run's rendezvous: every node shows node 0 its fingerprint, on a side port of MASTER_ADDR.

A node whose libraries, config or data differ from node 0's, or that cannot reach node 0, otherwise shows up as
an NCCL/HCCL hang and a 30-minute watchdog. Here the launch stops on every node, with a table of what differs
(node 0's config governs), or with the node and address that could not be reached, within a bounded time.

Node 0 listens on MASTER_ADDR's side port (MASTER_PORT + 1, or LFGATE_HANDSHAKE_PORT) until every other node
has sent its fingerprint, then sends all of them one verdict, so that no node starts torchrun alone. The messages
are one JSON line each way. `lfgate train --no-handshake` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

from lfgate.readers import guarded

DEFAULT_TIMEOUT = 600.0  # seconds for every node to report (nodes are often started by hand, minutes apart)
RETRY_S = 0.5
MAX_MESSAGE = 1 << 20
LIBRARIES = ("lfgate", "torch", "transformers", "peft", "accelerate")


class HandshakeError(Exception):
    """The launch must stop on this node; the message says why."""


def _version(name: str) -> Optional[str]:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def file_digest(path: str) -> str:
    """sha256 of a file, or of a folder's files (relative names and contents, in name order)."""
    digest = hashlib.sha256()
    if os.path.isdir(path):
        for folder, dirs, files in sorted(os.walk(path)):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(folder, name)
                digest.update(os.path.relpath(full, path).encode("utf-8", "surrogateescape") + b"\0")
                digest.update(file_digest(full).encode("ascii"))
        return digest.hexdigest()
    with guarded.open_regular(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(config_path: str, overrides: Mapping[str, str], datasets: Mapping[str, Optional[str]],
                devices: Tuple[str, int]) -> Dict[str, str]:
    """What must agree between nodes, as strings: library versions, the config (file and overrides), each
    dataset's files (name -> local path, None for a hub dataset), the kind and number of devices of this node."""
    out = {name: _version(name) or "not installed" for name in LIBRARIES}
    with guarded.open_regular(config_path) as f:
        config = hashlib.sha256(f.read())
    config.update(json.dumps(sorted(overrides.items())).encode("utf-8"))
    out["config"] = config.hexdigest()[:16]
    for name, path in sorted(datasets.items()):
        try:
            out[f"dataset {name}"] = file_digest(path)[:16] if path else "hub"
        except OSError as err:
            out[f"dataset {name}"] = f"unreadable ({err.strerror})"
    out["devices"] = f"{devices[1]} {devices[0]}"
    return out


def differences(reference: Dict[str, str], other: Dict[str, str]) -> List[Tuple[str, str, str]]:
    return [(key, str(reference.get(key, "-")), str(other.get(key, "-")))
            for key in sorted(set(reference) | set(other)) if reference.get(key) != other.get(key)]


def table(mismatches: Dict[int, List[Tuple[str, str, str]]]) -> str:
    rows = [("node", "what", "node 0", "that node")]
    rows += [(str(node), key, ours, theirs) for node, found in sorted(mismatches.items())
             for key, ours, theirs in found]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


@dataclass
class Node:
    rank: int
    nnodes: int
    master_addr: str
    port: int
    timeout: float = DEFAULT_TIMEOUT


def side_port(env: Mapping[str, str]) -> int:
    explicit = env.get("LFGATE_HANDSHAKE_PORT")
    if explicit:
        return int(explicit)
    return int(env["MASTER_PORT"]) + 1


def _send(sock: socket.socket, message: dict) -> None:
    sock.sendall(json.dumps(message).encode("utf-8") + b"\n")


def _receive(sock: socket.socket, deadline: float) -> dict:
    data = b""
    while not data.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no answer in time")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the other side closed the connection")
        data += chunk
        if len(data) > MAX_MESSAGE:
            raise ValueError("message too long")
    value = json.loads(data.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def serve(node: Node, mine: Dict[str, str]) -> None:
    """Node 0: collect every other node's fingerprint, then send all of them the verdict. Raises HandshakeError."""
    deadline = time.monotonic() + node.timeout
    reported: Dict[int, Tuple[socket.socket, Dict[str, str]]] = {}
    try:
        server = socket.create_server(("", node.port))
    except OSError as err:
        raise HandshakeError(f"node 0 cannot listen on port {node.port} for the handshake ({err.strerror}): set "
                             "LFGATE_HANDSHAKE_PORT to a free port on every node, or pass --no-handshake") from None
    with server:
        while len(reported) < node.nnodes - 1:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            server.settimeout(left)
            try:
                conn, _ = server.accept()
            except socket.timeout:
                break
            try:
                message = _receive(conn, min(deadline, time.monotonic() + 30))
                rank = int(message["node_rank"])
                theirs = {str(k): str(v) for k, v in dict(message["fingerprint"]).items()}
            except (OSError, ValueError, KeyError, TypeError):
                conn.close()
                continue  # not one of ours (a port scanner, a stray connection)
            if not 0 < rank < node.nnodes or rank in reported:
                _send(conn, {"ok": False, "message": f"node rank {rank} is not expected (NNODES={node.nnodes}) or "
                                                     "was already reported"})
                conn.close()
                continue
            reported[rank] = (conn, theirs)
        missing = [r for r in range(1, node.nnodes) if r not in reported]
        mismatches = {r: found for r, (_, fp) in reported.items() if (found := differences(mine, fp))}
        if missing:
            verdict = {"ok": False, "message": f"node(s) {', '.join(map(str, missing))} did not report to "
                                               f"{node.master_addr}:{node.port} within {node.timeout:.0f} s"}
        elif mismatches:
            verdict = {"ok": False, "message": "the nodes differ from node 0 (whose config governs):\n"
                                               + table(mismatches)}
        else:
            verdict = {"ok": True, "message": f"{node.nnodes} nodes agree"}
        for conn, _ in reported.values():
            try:
                _send(conn, verdict)
            except OSError:
                pass
            conn.close()
    if not verdict["ok"]:
        raise HandshakeError(str(verdict["message"]))


def join(node: Node, mine: Dict[str, str]) -> None:
    """Node 1..N-1: reach node 0 in time, send the fingerprint, wait for the verdict. Raises HandshakeError."""
    deadline = time.monotonic() + node.timeout
    where = f"{node.master_addr}:{node.port}"
    last_error = "no answer"
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise HandshakeError(f"node {node.rank} cannot reach MASTER_ADDR {where} (node 0's handshake) within "
                                 f"{node.timeout:.0f} s: {last_error}. Is node 0 started, MASTER_ADDR its address "
                                 "from this node, and the port open in the firewall?")
        try:
            sock = socket.create_connection((node.master_addr, node.port), timeout=min(left, 5.0))
            break
        except OSError as err:
            last_error = err.strerror or str(err)
            time.sleep(min(RETRY_S, max(deadline - time.monotonic(), 0)))
    with sock:
        _send(sock, {"node_rank": node.rank, "fingerprint": mine})
        try:
            verdict = _receive(sock, deadline + 60)  # node 0 answers once every node reported or its time ran out
        except (OSError, ValueError) as err:
            raise HandshakeError(f"node {node.rank}: node 0 at {where} gave no verdict ({err})") from None
    if not verdict.get("ok"):
        raise HandshakeError(f"node {node.rank}: {verdict.get('message')}")


def run(node: Node, mine: Dict[str, str]) -> None:
    (serve if node.rank == 0 else join)(node, mine)
