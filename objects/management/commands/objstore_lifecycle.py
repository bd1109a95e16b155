import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.core.management.base import BaseCommand, CommandError, CommandParser

from buckets.models import Bucket
from objects import lifecycle

PROGRESS_EVERY = 5.0  # seconds between progress lines on a long pass


@contextmanager
def stop_on_signals(stop: threading.Event) -> Iterator[None]:
    """SIGTERM and the first Ctrl-C set ``stop`` (the pass ends between two batches, each of
    which is its own transaction); a second Ctrl-C interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return

    def handle(signum: int, frame: object) -> None:
        stop.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {number: signal.signal(number, handle) for number in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


class Command(BaseCommand):
    help = (
        "Apply the buckets' lifecycle rules (GCS Object Lifecycle Management): delete what "
        "Delete rules match, abort unfinished uploads that AbortIncompleteMultipartUpload rules "
        "match, and purge soft-deleted objects whose retention has ended. One pass, or one "
        "every SECONDS with --loop. Safe to stop (SIGTERM, Ctrl-C) and to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bucket",
            action="append",
            dest="bucket_ids",
            metavar="ID",
            help="only this bucket (its bucket ID); may be repeated. Default: every bucket "
            "with rules or expired soft-deleted objects",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="list what would be deleted, change nothing"
        )
        parser.add_argument(
            "--loop",
            type=float,
            metavar="SECONDS",
            help="run a pass every SECONDS until stopped",
        )

    def handle(
        self,
        *args: object,
        bucket_ids: list[str] | None,
        dry_run: bool,
        loop: float | None,
        **options: object,
    ) -> None:
        if loop is not None and loop <= 0:
            raise CommandError("--loop takes a number of seconds greater than 0.")
        buckets = None
        if bucket_ids:
            found = {b.bucket_id: b for b in Bucket.objects.filter(bucket_id__in=bucket_ids)}
            if missing := [bucket_id for bucket_id in bucket_ids if bucket_id not in found]:
                raise CommandError(f"No such bucket: {', '.join(missing)}")
            buckets = [found[bucket_id] for bucket_id in dict.fromkeys(bucket_ids)]

        stop = threading.Event()
        with stop_on_signals(stop):
            while True:
                report = lifecycle.run(
                    buckets=buckets, dry_run=dry_run, on_progress=self._progress(dry_run), stop=stop
                )
                self._summary(report)
                if loop is None or stop.wait(loop):
                    break
        errors = [result for result in report.buckets if result.error]
        if errors and loop is None:
            raise CommandError(
                f"{len(errors)} bucket(s) have lifecycle rules that were not applied."
            )

    def _progress(self, dry_run: bool) -> Callable[[lifecycle.Progress], None]:
        last = time.monotonic()

        def show(progress: lifecycle.Progress) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_EVERY:
                last = time.monotonic()
                self.stderr.write(
                    f"{progress.bucket_id}: {progress.phase}, {progress.examined:,} examined, "
                    f"{progress.deleted:,} {'to delete' if dry_run else 'deleted'}"
                )

        return show

    def _summary(self, report: lifecycle.LifecycleReport) -> None:
        verb = "would delete" if report.dry_run else "deleted"
        for item in report.items:
            where = f"{item.bucket_id}/{item.name}"
            if item.generation is not None:
                where += f"#{item.generation}"
            why = f"rule {item.rule + 1}: {item.reason}" if item.rule is not None else item.reason
            self.stdout.write(f"{verb} {item.kind} {where} ({item.size:,} bytes; {why})")
        if report.total_items > len(report.items):
            self.stdout.write(f"... and {report.total_items - len(report.items):,} more")
        for result in report.buckets:
            if result.error:
                self.stderr.write(f"{result.bucket_id}: {result.error}")
            self.stdout.write(
                f"{result.bucket_id}: {verb} {result.live_deleted:,} live object(s) and "
                f"{result.noncurrent_deleted:,} noncurrent version(s), "
                f"{'would purge' if report.dry_run else 'purged'} {result.purged:,} "
                f"soft-deleted, {'would abort' if report.dry_run else 'aborted'} "
                f"{result.sessions_aborted:,} upload(s): {result.bytes:,} bytes"
            )
        ending = "stopped early" if report.stopped else "done"
        self.stdout.write(
            f"lifecycle pass {ending}: {len(report.buckets)} bucket(s) in {report.seconds:.1f} s"
        )
