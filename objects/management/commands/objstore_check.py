from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from objects.maintenance import check_objects, forget_broken, sqlite_quick_check

DAMAGED_HINT = (
    "Stop the server and restore the latest backup (objstore_restore of an objstore_backup; "
    'see "Backups" in README.md).'
)


class Command(BaseCommand):
    help = (
        "Check that the blob of every object, live, noncurrent or soft-deleted, exists with the "
        "right size (and, with --md5, the right bytes). Reports only, unless --delete-broken is "
        "given. Exits 1 when something is wrong, including a damaged database."
    )
    # The system checks would query the database before handle() can explain what is wrong.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser) -> None:
        parser.add_argument("--md5", action="store_true", help="read every blob and check hashes")
        parser.add_argument(
            "--delete-broken",
            action="store_true",
            help="remove the rows of objects (or of their versions) whose blob is missing or wrong",
        )

    def handle(self, *args, md5: bool, delete_broken: bool, **options) -> None:
        try:
            self._check(md5=md5, delete_broken=delete_broken)
        except DatabaseError as exc:
            if "no such table" in str(exc):
                raise CommandError(
                    f"the database has no objstore tables ({exc}): run migrate, or point "
                    "DATABASE_URL / OBJSTORE_DATA_DIR at the right database"
                ) from exc
            if connection.vendor != "sqlite":  # most likely unreachable, not damaged
                raise CommandError(f"the database could not be read: {exc}") from exc
            raise CommandError(f"the database is damaged: {exc}. {DAMAGED_HINT}") from exc

    def _check(self, *, md5: bool, delete_broken: bool) -> None:
        # SQLite first checks its own pages: a damaged file can still answer some queries
        # (wrongly), and --delete-broken must not act on what it reads from one.
        verdict = sqlite_quick_check()
        if verdict is not None and verdict != "ok":
            raise CommandError(
                f"the database is damaged: PRAGMA quick_check says {verdict}. {DAMAGED_HINT}"
            )
        problems = 0
        for problem in check_objects(verify_hashes=md5):
            problems += 1
            self.stdout.write(f"{problem.where}: {problem.problem}")
            if delete_broken:
                forget_broken(problem)
                self.stdout.write("  removed")
        if problems:
            raise CommandError(f"{problems} object(s) with problems")
        self.stdout.write("all objects have their bytes")
