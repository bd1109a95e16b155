from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from objects.backup import BackupError, create_backup


class Command(BaseCommand):
    help = (
        "Back up the SQLite database and every blob it refers to (live objects, noncurrent and "
        "soft-deleted generations, unfinished uploads) into DEST (a new or empty "
        "directory), consistently, while the server runs. Exits 1 if a blob was missing or "
        "did not match its object."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("dest", type=Path, help="a directory that does not exist or is empty")

    def handle(self, *args, dest: Path, **options) -> None:
        try:
            report = create_backup(dest=dest, progress=self.stderr.write)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        for problem in report.problems:
            self.stdout.write(f"problem: {problem}")
        self.stdout.write(
            f"backed up {report.objects} object(s) ({report.object_bytes} bytes), "
            f"{report.versions} noncurrent or soft-deleted generation(s) "
            f"({report.version_bytes} bytes) and "
            f"{report.upload_sessions} unfinished upload(s): {report.blobs} blob(s), "
            f"{report.blob_bytes} bytes, in {report.seconds:.1f} s to {report.dest}; "
            f"{report.retired_swept} retired blob(s) deleted afterwards"
        )
        if report.problems:
            raise CommandError(
                f"{len(report.problems)} problem(s): the backup is incomplete (see above)"
            )
