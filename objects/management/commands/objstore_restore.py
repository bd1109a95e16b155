from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from objects.backup import BackupError, restore_backup, restore_target
from objects.maintenance import check_objects


class Command(BaseCommand):
    help = (
        "Restore a backup made by objstore_backup into the configured SQLite database and "
        "local blob directory, then check the bytes of every object (noncurrent and "
        "soft-deleted generations too). Stop the server first."
    )
    # The checks would open the database this command is about to replace.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("src", type=Path, help="the backup's directory")
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace a database that holds objects, or restore a backup that does not verify",
        )

    def handle(self, *args, src: Path, force: bool, **options) -> None:
        try:
            database, blob_dir = restore_target()
            self.stdout.write(
                f"restoring {src} into {database} and {blob_dir} (the server must be stopped)"
            )
            report = restore_backup(src=src, force=force)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        for problem in report.problems:
            self.stdout.write(f"restored despite: {problem}")
        self.stdout.write(
            f"restored {report.objects} object(s) and {report.versions} noncurrent or "
            f"soft-deleted generation(s): {report.blobs_copied} blob(s) copied, "
            f"{report.blobs_kept} already there; checking every generation's bytes"
        )
        try:
            problems = 0
            for problem in check_objects(verify_hashes=True):
                problems += 1
                self.stdout.write(f"{problem.where}: {problem.problem}")
        except DatabaseError as exc:
            raise CommandError(
                f"the restored database cannot be read: {exc} (an older objstore's backup? "
                f"run migrate, then objstore_check --md5)"
            ) from exc
        if problems:
            raise CommandError(f"restored, but {problems} object(s) have problems")
        self.stdout.write(
            "all objects have their bytes; run migrate if this objstore is newer than the backup"
        )
