import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand

from relove.core.private_files import write_private

ADMIN_PASSWORD_FILE = "admin-password.txt"  # removed at that account's first login (privacy.signals)


class Command(BaseCommand):
    help = "Create a local admin account if no superuser exists, and print how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username, **options):
        User = get_user_model()
        password_file = settings.VAR_DIR / ADMIN_PASSWORD_FILE
        if User.objects.filter(is_superuser=True).exists():
            hint = f" (generated password: {password_file})" if password_file.exists() else ""
            self.stdout.write(f"Admin: http://127.0.0.1:8000/admin/ — log in with your superuser{hint}.")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        password_file.unlink(missing_ok=True)
        write_private(password_file, f"{username}\n{password}\n")  # 0600 from the first byte
        self.stdout.write(self.style.SUCCESS(
            f"Admin: http://127.0.0.1:8000/admin/  login: {username}  password: {password}\n"
            f"(also saved in {password_file} until the first login; change it in the admin)"))
