"""How ``fdpo`` and a sandbox worker talk: length-prefixed ``marshal`` frames over pipes.

Both ends are trusted code (the worker never runs a candidate itself), so
``marshal`` (built in, fast, enough for tuples of str/float/None) is safe here.
Untrusted candidate processes never write to these pipes: they report on the
``Board``. Does not cover what the messages mean (see ``zygote`` and ``pool``).
Standard library only: it runs in the worker.
"""

from __future__ import annotations

import marshal
import os

_HEADER_BYTES = 4  # the length of the message that follows, little-endian


def send(fd: int, message) -> None:
    data = marshal.dumps(message)
    view = memoryview(len(data).to_bytes(_HEADER_BYTES, "little") + data)
    while view:
        view = view[os.write(fd, view):]


def receive(fd: int):
    """The next message, or None at end of stream."""
    header = _read_exactly(fd, _HEADER_BYTES)
    if header is None:
        return None
    data = _read_exactly(fd, int.from_bytes(header, "little"))
    return None if data is None else marshal.loads(data)


def _read_exactly(fd: int, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)
