"""An SSH server on 127.0.0.1 that goes as far as the key exchange (curve25519-sha256,
ssh-ed25519 host key, correctly signed) and then hangs up: enough for a real OpenSSH
client to accept or refuse its host key, without an sshd on the machine.

    with KexServer(private_key) as srv:   # srv.port
        ...
"""

import hashlib
import os
import socket
import struct
import threading

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey


def _string(b):
    return struct.pack(">I", len(b)) + b


def _mpint(b):
    b = b.lstrip(b"\0")
    if b and b[0] & 0x80:
        b = b"\0" + b
    return _string(b)


def _packet(payload):
    pad = 8 - (5 + len(payload)) % 8
    pad += 8 if pad < 4 else 0
    return struct.pack(">IB", 1 + len(payload) + pad, pad) + payload + os.urandom(pad)


def _recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _recv_packet(conn):
    length, pad = struct.unpack(">IB", _recv_exact(conn, 5))
    body = _recv_exact(conn, length - 1)
    return body[:len(body) - pad]


def _read_string(buf, at):
    (n,) = struct.unpack(">I", buf[at:at + 4])
    return buf[at + 4:at + 4 + n], at + 4 + n


class KexServer:
    def __init__(self, host_key):
        """host_key: an OpenSSH-format ed25519 private key (bytes)."""
        self.key = serialization.load_ssh_private_key(host_key, password=None)
        pub = self.key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.blob = _string(b"ssh-ed25519") + _string(pub)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(10)
                try:
                    self._kex(conn)
                except (EOFError, OSError, struct.error):
                    pass

    def _kex(self, conn):
        v_s = b"SSH-2.0-stackwright_test"
        conn.sendall(v_s + b"\r\n")
        line = b""
        while not line.startswith(b"SSH-"):
            line = b""
            while not line.endswith(b"\n"):
                line += _recv_exact(conn, 1)
        v_c = line.rstrip(b"\r\n")
        lists = [b"curve25519-sha256", b"ssh-ed25519", b"aes128-ctr", b"aes128-ctr",
                 b"hmac-sha2-256", b"hmac-sha2-256", b"none", b"none", b"", b""]
        i_s = bytes([20]) + os.urandom(16) + b"".join(_string(x) for x in lists) + b"\0" + b"\0\0\0\0"
        conn.sendall(_packet(i_s))
        i_c = _recv_packet(conn)
        init = _recv_packet(conn)
        if init[0] != 30:  # SSH_MSG_KEX_ECDH_INIT
            return
        q_c, _ = _read_string(init, 1)
        eph = X25519PrivateKey.generate()
        q_s = eph.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        k = eph.exchange(X25519PublicKey.from_public_bytes(q_c))
        h = hashlib.sha256(_string(v_c) + _string(v_s) + _string(i_c) + _string(i_s) + _string(self.blob)
                           + _string(q_c) + _string(q_s) + _mpint(k)).digest()
        sig = _string(b"ssh-ed25519") + _string(self.key.sign(h))
        conn.sendall(_packet(bytes([31]) + _string(self.blob) + _string(q_s) + _string(sig)))
        conn.sendall(_packet(bytes([21])))  # NEWKEYS; then hang up
        try:
            _recv_packet(conn)
        except EOFError:
            pass
