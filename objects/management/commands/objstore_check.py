from django.core.management.base import BaseCommand, CommandError

from objects.maintenance import check_objects, forget_broken


class Command(BaseCommand):
    help = (
        "Check that every object's blob exists with the right size (and, with --md5, the right "
        "bytes). Reports only, unless --delete-broken is given. Exits 1 when something is wrong."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--md5", action="store_true", help="read every blob and check hashes")
        parser.add_argument(
            "--delete-broken",
            action="store_true",
            help="remove the rows of objects whose blob is missing or wrong",
        )

    def handle(self, *args, md5: bool, delete_broken: bool, **options) -> None:
        problems = 0
        for problem in check_objects(verify_hashes=md5):
            problems += 1
            self.stdout.write(f"{problem.bucket_id}/{problem.name}: {problem.problem}")
            if delete_broken:
                forget_broken(problem)
                self.stdout.write("  removed")
        if problems:
            raise CommandError(f"{problems} object(s) with problems")
        self.stdout.write("all objects have their bytes")
