from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from objects.sidecar import ConfigError, load_config, make_server


class Command(BaseCommand):
    help = (
        "Play Replit's local sidecar on 127.0.0.1:1106 so that replit-object-storage (Python) "
        "and @replit/object-storage (npm) reach this objstore server unmodified. Set "
        "STORAGE_EMULATOR_HOST=http://127.0.0.1:1106 in the program's environment. It answers "
        "programs on this machine only: requests for another Host name and requests from web "
        "pages (Origin or Sec-Fetch-* headers) get 403 unless their origin is allowed."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--server", help="objstore base URL (default: $OBJSTORE_URL or http://127.0.0.1:8000)"
        )
        parser.add_argument(
            "--bucket", help="default bucket ID (default: $OBJSTORE_DEFAULT_BUCKET or .replit)"
        )
        parser.add_argument(
            "--replit-file", default=".replit", help="where to read [objectStorage] defaultBucketID"
        )
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=1106)
        parser.add_argument(
            "--allow-origin",
            action="append",
            default=[],
            metavar="ORIGIN",
            help="a web page origin (e.g. http://localhost:5173) allowed to call the sidecar from "
            "a browser, with CORS headers; repeat for more (also $OBJSTORE_SIDECAR_ALLOW_ORIGINS, "
            "comma-separated). Any page of that origin gets your token's access.",
        )

    def handle(
        self, *args, server, bucket, replit_file, host, port, allow_origin, **options
    ) -> None:
        try:
            config = load_config(
                server=server,
                token=None,
                bucket=bucket,
                replit_file=Path(replit_file),
                allow_origins=allow_origin,
            )
        except ConfigError as exc:
            raise CommandError(str(exc)) from None
        try:
            httpd = make_server(config, host=host, port=port)
        except OSError as exc:
            raise CommandError(f"Cannot listen on {host}:{port}: {exc}") from None
        allowed = (
            f"  browser origins allowed: {', '.join(config.allow_origins)}\n"
            if config.allow_origins
            else ""
        )
        self.stdout.write(
            f"objstore sidecar on http://{host}:{port} → {config.server}"
            f" (default bucket: {config.default_bucket or 'none'})\n"
            f"{allowed}"
            f"  export STORAGE_EMULATOR_HOST=http://{host}:{port}\n"
            # gcsfs (2026.10+) first asks a gRPC storage-control API at the emulator host for
            # the bucket's layout and waits 60 s for it on every open; this turns that off.
            "  export GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT=false  # for gcsfs / pandas\n"
        )
        try:
            httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            httpd.server_close()
