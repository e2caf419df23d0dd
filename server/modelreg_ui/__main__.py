"""``modelreg ui``: serve the dashboard with uvicorn."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from modelreg_ui.settings import DEFAULT_LISTEN, UiSettings


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="modelreg ui",
        description="Serve the web dashboard of a modelreg server (read-only).",
    )
    p.add_argument(
        "--target",
        default=os.environ.get("MODELREG_TARGET", "127.0.0.1:50051"),
        help="API server host:port (default: $MODELREG_TARGET, then 127.0.0.1:50051)",
    )
    p.add_argument(
        "--listen",
        type=_host_port,
        default=_host_port(os.environ.get("MODELREG_UI_LISTEN", DEFAULT_LISTEN)),
        metavar="HOST:PORT",
        help=f"where the dashboard listens (default: $MODELREG_UI_LISTEN, then {DEFAULT_LISTEN})",
    )
    p.add_argument(
        "--api-key",
        default=None,
        help="key used for visitors who have not given their own (default: $MODELREG_API_KEY; "
        "none: a server with API keys asks each visitor for one)",
    )
    p.add_argument("--tls", action="store_true", help="reach the API over TLS (system roots)")
    p.add_argument("--tls-ca", metavar="PEM", help="CA bundle to verify the API with")
    p.add_argument("--tls-cert", metavar="PEM", help="client certificate for mutual TLS")
    p.add_argument("--tls-key", metavar="PEM", help="private key of --tls-cert")
    p.add_argument("--log-level", default="info", help="uvicorn log level (default info)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        import uvicorn

        from modelreg_ui.app import create_app
    except ImportError as exc:
        print(
            f"error: the dashboard is not installed ({exc}): install 'modelreg[ui]'",
            file=sys.stderr,
        )
        return 2
    settings = UiSettings(
        target=args.target,
        api_key=args.api_key,
        tls=args.tls,
        tls_ca=args.tls_ca,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
    )
    host, port = args.listen
    shown = f"[{host}]" if ":" in host else host
    print(f"modelreg dashboard on http://{shown}:{port}/ (API at {settings.target})", flush=True)
    uvicorn.run(create_app(settings), host=host, port=port, log_level=args.log_level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
