#!/usr/bin/python3
"""Writes the seed corpus of the h2_connection fuzzer (tests/fuzz/corpus/h2_connection/).

Each seed is what a client sends after the 24-byte connection preface: a conversation with the
fuzzer's server (h2_connection_fuzzer.cc: /open.Svc/Roll, /open.Svc/Blocking, /open.Svc/Echo,
/open.Svc/Watch, and /api.DiceService/RollDie behind a token), written with python3-h2 and hpack,
or frame by frame where h2 would refuse to write it. Rerun after changing the fuzzer's methods:
    /usr/bin/python3 tests/fuzz/h2_seeds.py
"""
import base64
import struct
from pathlib import Path

import h2.config
import h2.connection
import hpack

OUT = Path(__file__).resolve().parent / "corpus" / "h2_connection"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
TOKEN = "ngt_fuzz-token-0123456789abcdef"


def message(payload: bytes, compressed: bool = False, length=None) -> bytes:
    return struct.pack(">BI", 1 if compressed else 0, len(payload) if length is None else length) + payload


def headers(path, extra=(), method="POST", content_type="application/grpc"):
    h = [(":method", method), (":scheme", "http"), (":path", path), (":authority", "fuzz"),
         ("content-type", content_type), ("te", "trailers")]
    return h + list(extra)


def frame(kind: int, flags: int, stream: int, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


class Conversation:
    def __init__(self):
        self.c = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True,
                                                                      validate_outbound_headers=False))
        self.c.initiate_connection()
        self.raw = bytearray()
        self._take()

    def _take(self):
        self.raw += self.c.data_to_send()

    def call(self, path, messages=(b"",), extra=(), end=True, **kw):
        sid = self.c.get_next_available_stream_id()
        self.c.send_headers(sid, headers(path, extra, **kw))
        for i, m in enumerate(messages):
            self.c.send_data(sid, m, end_stream=end and i == len(messages) - 1)
        if end and not messages:
            self.c.end_stream(sid)
        self._take()
        return sid

    def add(self, raw: bytes):
        self.raw += raw

    def bytes(self) -> bytes:
        b = bytes(self.raw)
        assert b.startswith(PREFACE)
        return b[len(PREFACE):]


def seeds():
    roll = message(b"")
    s = {}

    c = Conversation()
    c.call("/open.Svc/Roll", [roll], extra=[("grpc-timeout", "1S"), ("x-in", "hello"),
                                            ("x-in-bin", base64.b64encode(b"\x00\xff").decode())])
    s["unary_public"] = c.bytes()

    c = Conversation()
    c.call("/api.DiceService/RollDie", [roll], extra=[("authorization", "Bearer " + TOKEN)])
    c.call("/api.DiceService/RollDie", [roll])
    c.call("/api.DiceService/RollDie", [roll], extra=[("authorization", "Bearer wrong")])
    s["unary_token"] = c.bytes()

    c = Conversation()
    c.call("/open.Svc/Blocking", [roll], extra=[("grpc-timeout", "50m")])
    c.call("/open.Svc/Blocking", [message(b"\x08\x01\x10\x02\x18\x03")])
    s["blocking"] = c.bytes()

    c = Conversation()
    c.call("/open.Svc/Echo", [message(b"abc"), message(b"defg") + message(b"hi"), message(b"")])
    c.call("/open.Svc/Echo", [message(b"x")], end=False)
    s["echo_stream"] = c.bytes()

    c = Conversation()
    c.call("/open.Svc/Watch", [message(b"w")], end=False)
    s["watch_left_open"] = c.bytes()

    c = Conversation()
    sid = c.call("/open.Svc/Watch", [message(b"w")], end=False)
    c.c.reset_stream(sid)
    c._take()
    sid = c.call("/open.Svc/Echo", [message(b"ab")], end=False)
    c.c.reset_stream(sid, error_code=8)
    c._take()
    s["reset"] = c.bytes()

    c = Conversation()
    for _ in range(12):
        c.call("/open.Svc/Watch", [message(b"w")], end=False)
    s["streams_over_the_limits"] = c.bytes()

    c = Conversation()
    c.call("/open.Svc/Roll", [roll], extra=[("x-big", "a" * 1500)])
    c.call("/open.Svc/Roll", [roll], extra=[("grpc-encoding", "gzip")])
    c.call("/open.Svc/Roll", [roll], content_type="text/plain")
    c.call("/open.Svc/Roll", [], method="GET")
    c.call("/open.Svc/Roll", [roll], extra=[("grpc-timeout", "99999999999H")])
    c.call("/open.Svc/Nope", [roll])
    s["refusals"] = c.bytes()

    c = Conversation()
    c.call("/open.Svc/Roll", [message(b"z" * 2000)])
    c.call("/open.Svc/Roll", [message(b"", length=5000)])
    c.call("/open.Svc/Roll", [message(b"", compressed=True)])
    c.call("/open.Svc/Roll", [roll + b"\x00\x00"])
    c.call("/open.Svc/Roll", [roll + roll])
    s["bodies"] = c.bytes()

    c = Conversation()
    c.c.ping(b"12345678")
    c.c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0})
    c._take()
    c.call("/open.Svc/Roll", [roll])
    c.c.increment_flow_control_window(1 << 20)
    c._take()
    c.add(frame(0x8, 0, 1, struct.pack(">I", 100)))  # WINDOW_UPDATE on the stream
    c.add(frame(0x2, 0, 3, struct.pack(">IB", 1, 16)))  # PRIORITY
    c.add(frame(0x7, 0, 0, struct.pack(">II", 0, 0)))  # GOAWAY
    s["control_frames"] = c.bytes()

    # A header block in HEADERS + CONTINUATION frames, then one that never ends.
    c = Conversation()
    block = hpack.Encoder().encode(headers("/open.Svc/Roll"))
    c.add(frame(0x1, 0x0, 1, block[:10]) + frame(0x9, 0x0, 1, block[10:20]) +
          frame(0x9, 0x4, 1, block[20:]))
    c.add(frame(0x0, 0x1, 1, roll))
    c.add(frame(0x1, 0x0, 3, block[:5]) + frame(0x9, 0x0, 3, b"") * 8)
    s["continuation"] = c.bytes()
    return s


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in sorted(seeds().items()):
        (OUT / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
