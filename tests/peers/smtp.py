"""An SMTP server on loopback (aiosmtpd) that keeps every mail it is given, for the tests of
the support mail. ``messages`` holds ``(recipients, raw bytes, parsed message)`` per mail."""
from __future__ import annotations

import email
import socket
from contextlib import contextmanager

from aiosmtpd.controller import Controller


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((sorted(envelope.rcpt_tos), envelope.content,
                              email.message_from_bytes(envelope.content)))
        return "250 OK"


def free_port() -> int:
    """A loopback port nothing listens on (a mail server that is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def smtp_server():
    """(inbox, port) of a running server; stopped afterwards."""
    port = free_port()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
