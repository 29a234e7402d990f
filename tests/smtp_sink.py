"""The SMTP server the test suite talks to: aiosmtpd, accepting every message and saving
it as <dir>/<n>.eml, with <dir>/<n>.json telling how the session was secured
({"tls": true, "version": "TLSv1.3", "cipher": "..."}); a recipient whose local part is
`reject` gets a permanent 550.

    python3 smtp_sink.py PORT DIR [--tls starttls|require-starttls|implicit --cert PEM --key PEM]

`starttls` offers STARTTLS, `require-starttls` refuses mail until it is used, `implicit`
speaks TLS from the first byte (SMTPS).
"""
import argparse
import asyncio
import itertools
import json
import os
import ssl

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@")[0].lower() == "reject":
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(self.directory, f"{next(self.counter):04}")
        # Asked of the transport the message came over, after STARTTLS if there was one:
        # a session that fell back to plaintext has no ssl_object.
        ssl_object = server.transport.get_extra_info("ssl_object")
        session_info = {
            "tls": ssl_object is not None,
            "version": ssl_object.version() if ssl_object else None,
            "cipher": ssl_object.cipher()[0] if ssl_object else None,
        }
        with open(path + ".json", "w") as file:
            json.dump(session_info, file)
        with open(path + ".tmp", "wb") as file:
            file.write(envelope.original_content or envelope.content)
        # The message appears last, so whoever sees it also finds its session file.
        os.replace(path + ".tmp", path + ".eml")
        return "250 Message accepted"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("port", type=int)
    parser.add_argument("directory")
    parser.add_argument("--tls", choices=["starttls", "require-starttls", "implicit"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    args = parser.parse_args()
    os.makedirs(args.directory, exist_ok=True)

    options = {}
    if args.tls:
        if not (args.cert and args.key):
            parser.error("--tls needs --cert and --key")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)
        if args.tls == "implicit":
            options["ssl_context"] = context
        else:
            options["tls_context"] = context
            options["require_starttls"] = args.tls == "require-starttls"

    controller = Controller(Sink(args.directory), hostname="127.0.0.1", port=args.port, **options)
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
