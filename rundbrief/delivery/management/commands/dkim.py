import os
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from rundbrief.outbound import dkim


class Command(BaseCommand):
    help = "DKIM keys: `rundbrief dkim keygen` writes a private key and prints the DNS TXT record to publish."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        keygen = sub.add_parser("keygen", help="write a new private key (mode 0600) and print its DNS record")
        keygen.add_argument("--algorithm", choices=["rsa", "ed25519"], default="rsa")
        keygen.add_argument("--out", required=True, help="path of the PEM file to write (must not exist)")
        keygen.add_argument("--selector", default=settings.DKIM_SELECTOR)
        keygen.add_argument("--domain", default=settings.DKIM_DOMAIN or settings.CAMPAIGN_FROM_EMAIL.rpartition("@")[2])

    def handle(self, *args, action, algorithm, out, selector, domain, **options):
        path = Path(out)
        key = dkim.generate_key(algorithm)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{path} exists already; refusing to overwrite a key", returncode=1) from None
        except OSError as exc:
            raise CommandError(f"cannot write {path}: {exc.strerror}", returncode=1) from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(dkim.private_pem(key))
        signing = dkim.SigningKey("rsa-sha256" if algorithm == "rsa" else "ed25519-sha256", domain, selector, key)
        record = dkim.dns_record(signing)
        self.stdout.write(f"wrote {path}")
        self.stdout.write(f"publish this TXT record at {selector}._domainkey.{domain}:")
        # DNS TXT strings hold at most 255 octets each (RFC 1035 §3.3.14): split long records.
        chunks = [record[i : i + 250] for i in range(0, len(record), 250)]
        self.stdout.write(" ".join(f'"{chunk}"' for chunk in chunks))
        variable = "DKIM_PRIVATE_KEY_FILE" if algorithm == "rsa" else "DKIM_ED25519_KEY_FILE"
        self.stdout.write(f"then set {variable}={path.resolve()} and DKIM_DOMAIN={domain}")
