"""A real SMTP server for the SMTPMailer tests, built on aiosmtpd.

Listens on 127.0.0.1 on a free port, writes that port to --port-file once it accepts
connections, and writes each message it accepts into --folder as N.eml (the bytes after DATA,
dots unstuffed) beside N.json (envelope sender, recipients, whether TLS and AUTH were used).

Modes: normal, reject-rcpt (550 for every RCPT), drop (greets, then closes the connection),
silent (accepts connections and never says a word), inject (offers STARTTLS and sends plaintext
replies right after its 220 to it).
"""

import argparse
import asyncio
import json
import os
import signal
import ssl

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class FolderHandler:
    def __init__(self, folder, reject_rcpt):
        self.folder = folder
        self.reject_rcpt = reject_rcpt
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.reject_rcpt:
            return "550 5.1.1 <%s>: no such mailbox here" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        base = os.path.join(self.folder, str(self.count))
        with open(base + ".eml.tmp", "wb") as file:
            file.write(envelope.content)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "mail_options": envelope.mail_options,
            "tls": session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None,
            "authenticated": bool(session.authenticated),
        }
        with open(base + ".json", "w") as file:
            json.dump(meta, file)
        os.rename(base + ".eml.tmp", base + ".eml")
        return "250 2.0.0 Message accepted"


def authenticator_for(credentials):
    user, password = credentials.split(":", 1)

    def authenticate(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == user
            and auth_data.password.decode() == password
        )
        # handled=False: aiosmtpd itself replies 535 to a failure.
        return AuthResult(success=ok, handled=False)

    return authenticate


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", required=True)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--mode", default="normal", choices=["normal", "reject-rcpt", "drop", "silent", "inject"])
    parser.add_argument("--cert", help="certificate (PEM) for STARTTLS or implicit TLS")
    parser.add_argument("--key", help="private key (PEM) of --cert")
    parser.add_argument("--implicit-tls", action="store_true", help="TLS from the first byte instead of STARTTLS")
    parser.add_argument("--auth", help="USER:PASSWORD, the one account AUTH accepts")
    parser.add_argument("--no-plain", action="store_true", help="offer AUTH LOGIN only")
    args = parser.parse_args()

    context = None
    if args.cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    loop = asyncio.get_running_loop()
    if args.mode == "drop":
        async def greet_and_close(reader, writer):
            writer.write(b"220 sink ESMTP going away\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(greet_and_close, "127.0.0.1", 0)
    elif args.mode == "inject":
        async def inject_after_starttls(reader, writer):
            writer.write(b"220 sink ESMTP\r\n")
            while line := await reader.readline():
                verb = line.strip().upper()
                if verb.startswith(b"EHLO"):
                    writer.write(b"250-sink.test\r\n250 STARTTLS\r\n")
                elif verb == b"STARTTLS":
                    # A man in the middle's trick: plaintext after the 220 that a careless client
                    # would take for the first reply under TLS.
                    writer.write(b"220 Go ahead\r\n250-sink.test\r\n250 AUTH PLAIN\r\n")
                else:
                    writer.write(b"500 5.5.1 not here\r\n")
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(inject_after_starttls, "127.0.0.1", 0)
    elif args.mode == "silent":
        async def say_nothing(reader, writer):
            await reader.read()  # until the client gives up
            writer.close()

        server = await asyncio.start_server(say_nothing, "127.0.0.1", 0)
    else:
        handler = FolderHandler(args.folder, args.mode == "reject-rcpt")
        options = dict(hostname="sink.test", enable_SMTPUTF8=True)
        if context is not None and not args.implicit_tls:
            options["tls_context"] = context
        if args.auth:
            options["authenticator"] = authenticator_for(args.auth)
            # aiosmtpd only counts STARTTLS as TLS; with implicit TLS every connection has it.
            options["auth_require_tls"] = context is not None and not args.implicit_tls
            if args.no_plain:
                options["auth_exclude_mechanism"] = ["PLAIN"]
        server = await loop.create_server(
            lambda: SMTP(handler, **options),
            "127.0.0.1",
            0,
            ssl=context if args.implicit_tls else None,
        )

    port = server.sockets[0].getsockname()[1]
    with open(args.port_file + ".tmp", "w") as file:
        file.write(str(port))
    os.rename(args.port_file + ".tmp", args.port_file)

    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
