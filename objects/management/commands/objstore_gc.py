from datetime import timedelta

from django.core.management.base import BaseCommand

from objects.maintenance import collect_garbage


class Command(BaseCommand):
    help = (
        "Delete blobs that no object references (older than a grace period), resumable upload "
        "sessions that expired, retired blobs that are due, and (on local disk) empty blob "
        "directories. Safe to run while the server runs."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--grace-hours",
            type=float,
            default=24.0,
            help="leave unreferenced blobs younger than this (uploads in flight); default 24",
        )
        parser.add_argument("--dry-run", action="store_true", help="report, delete nothing")

    def handle(self, *args, grace_hours: float, dry_run: bool, **options) -> None:
        report = collect_garbage(grace=timedelta(hours=grace_hours), dry_run=dry_run)
        verb = "would delete" if dry_run else "deleted"
        for key in report.orphan_blobs:
            self.stdout.write(f"{verb} orphan blob {key}")
        self.stdout.write(
            f"{verb} {len(report.orphan_blobs)} orphan blob(s), cancelled "
            f"{report.expired_sessions} expired upload session(s), forgot "
            f"{report.finished_sessions} finished one(s); kept {report.kept_young} "
            f"unreferenced blob(s) younger than {grace_hours:g} h"
        )
        if not dry_run:
            self.stdout.write(
                f"deleted {report.retired_swept} retired blob(s) that were due and "
                f"{report.empty_directories} empty blob directories"
            )
