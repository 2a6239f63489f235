"""Django settings for Rundbrief, read from the environment once at start-up.

docs/settings.md documents every variable; defaults give the embedded set-up
(SQLite under var/, the devmail SMTP capture on 127.0.0.1:1025).
"""

import os
from pathlib import Path

from rundbrief import config
from rundbrief.outbound.transport import DEVMAIL_URL, delivery_transports, parse_transport

PACKAGE_DIR = Path(__file__).resolve().parent
BASE_DIR = PACKAGE_DIR.parent
VAR_DIR = Path(config.env_str("RUNDBRIEF_VAR_DIR", str(BASE_DIR / "var"))).resolve()

DEBUG = config.env_bool("RUNDBRIEF_DEBUG", False)
SECRET_KEY = config.secret_key(VAR_DIR)
PORT = config.env_int("PORT", 8000)
SITE_URL = config.env_str("SITE_URL", f"http://127.0.0.1:{PORT}").rstrip("/")
ALLOWED_HOSTS = config.env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = config.env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.sitemaps",
    "rundbrief.db",  # the rate-window table (rundbrief/db/models.py)
    "rundbrief.ops",
    "rundbrief.webhooks",  # outgoing webhooks: endpoints, the outbox, the delivery log
    "rundbrief.newsroom",
    "rundbrief.devmail",
    "rundbrief.audience",
    "rundbrief.api",
    "rundbrief.campaigns",
    "rundbrief.delivery",
    "rundbrief.bounces",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "rundbrief.ops.csp.ContentSecurityPolicyMiddleware",  # scripts only from this site (ops/csp.py)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "rundbrief.api.guard.ApiGuardMiddleware",  # /api/v1/: JSON bodies only, the CORS policy
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "rundbrief.urls"
WSGI_APPLICATION = "rundbrief.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "rundbrief.newsroom.context_processors.site",
            ],
        },
    },
]

# An empty DATABASE_URL (`DATABASE_URL= make run`, an empty line in an env file) means the default,
# not a URL without a scheme.
DATABASE_URL = config.env_str("DATABASE_URL", "").strip() or f"sqlite:///{VAR_DIR / 'rundbrief.sqlite3'}"
DATABASES = {"default": config.parse_database_url(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    # Django's backend, except that writers wait for each other in the kernel instead of
    # polling in SQLite's busy handler (rundbrief/db/sqlite3/base.py, docs/decisions.md).
    DATABASES["default"]["ENGINE"] = "rundbrief.db.sqlite3"
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers run beside the one writer; IMMEDIATE takes the write
        # lock at BEGIN so two writers queue instead of failing mid-transaction.
        # secure_delete overwrites deleted rows, so an erased address (GDPR Art. 17) does not
        # linger in free pages of the file.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Tests use a file, not Django's shared-cache in-memory database: delivery tests run
    # worker threads and processes, which need real WAL concurrency (and a path to open).
    # One file per test process, so parallel test runs in one checkout do not share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-db-{os.getpid()}.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = config.env_str("LANGUAGE_CODE", "de")
LANGUAGES = [("de", "Deutsch"), ("en", "English")]
if LANGUAGE_CODE not in dict(LANGUAGES):
    raise config.ConfigError(f"LANGUAGE_CODE={LANGUAGE_CODE!r}: expected one of {', '.join(dict(LANGUAGES))}")
LOCALE_PATHS = [PACKAGE_DIR / "locale"]
# Dates in the reader's locale: English day-first and 24-hour, not Django's US style (rundbrief/formats/).
FORMAT_MODULE_PATH = ["rundbrief.formats"]
TIME_ZONE = config.env_str("TIME_ZONE", "Europe/Berlin")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns when it is missing
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

# Outgoing mail: everything goes over SMTP. Unset, SMTP_URL points at the
# embedded devmail capture that `make run` starts (docs/settings.md).
# Rundbrief's own mail leaves through rundbrief/outbound/; Django's EMAIL_* below, from the same
# parsed URL, serve only what Django itself sends (the admins' error mail).
SMTP_URL = config.env_str("SMTP_URL", "")
_smtp = parse_transport(SMTP_URL or DEVMAIL_URL, setting="SMTP_URL")
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = _smtp.host
EMAIL_PORT = _smtp.port
EMAIL_HOST_USER = _smtp.user
EMAIL_HOST_PASSWORD = _smtp.password
EMAIL_USE_SSL = _smtp.use_ssl
EMAIL_USE_TLS = _smtp.use_tls
EMAIL_TIMEOUT = 30
DEFAULT_FROM_EMAIL = config.env_str("DEFAULT_FROM_EMAIL", "Musterhaus Edelmetalle <newsletter@musterhaus.example>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# The devmail outbox page exists only with debug on and the embedded capture in use.
DEVMAIL_DIR = VAR_DIR / "devmail"
DEVMAIL_ENABLED = DEBUG and not SMTP_URL

ARTICLES_PER_PAGE = config.env_int("RUNDBRIEF_ARTICLES_PER_PAGE", 10)

# Audience and consent (docs/settings.md). The subject-hash key keys
# HMAC-SHA256(key, address) in the consent ledger and on the suppression list;
# derived from SECRET_KEY unless set, so set it explicitly before rotating SECRET_KEY.
RUNDBRIEF_HASH_KEY = config.env_str("RUNDBRIEF_HASH_KEY", "")
RUNDBRIEF_UNCONFIRMED_DAYS = config.env_int("RUNDBRIEF_UNCONFIRMED_DAYS", 7)
RUNDBRIEF_STORE_FULL_IP = config.env_bool("RUNDBRIEF_STORE_FULL_IP", False)
RUNDBRIEF_DOI_MAIL_INTERVAL_HOURS = config.env_int("RUNDBRIEF_DOI_MAIL_INTERVAL_HOURS", 24)
RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE = config.env_int("RUNDBRIEF_SIGNUP_PER_IP_PER_MINUTE", 10)
RUNDBRIEF_SIGNUP_GLOBAL_PER_MINUTE = config.env_int("RUNDBRIEF_SIGNUP_GLOBAL_PER_MINUTE", 600)
RUNDBRIEF_EXPORT_LINK_HOURS = config.env_int("RUNDBRIEF_EXPORT_LINK_HOURS", 48)
# Service mail (double opt-in, export links) is sent on a thread after the response, so the sign-up's
# timing does not tell a new address from a known one (rundbrief/audience/outbox.py).
RUNDBRIEF_SERVICE_MAIL_ASYNC = config.env_bool("RUNDBRIEF_SERVICE_MAIL_ASYNC", True)
# Who applies queued sign-ups and sends their confirmation requests (rundbrief/audience/intake.py):
# "web" — the web process's mail thread right after the answer, with the delivery workers as a
# backstop; "worker" — only `rundbrief deliver` (and `serve`), so web processes do nothing but answer.
RUNDBRIEF_SIGNUP_PROCESSING = config.env_choice("RUNDBRIEF_SIGNUP_PROCESSING", ["web", "worker"], "web")
# Reverse proxies whose X-Forwarded-For is believed (addresses or networks); empty: none (rundbrief/audience/clientip.py).
RUNDBRIEF_TRUSTED_PROXIES = config.env_list("RUNDBRIEF_TRUSTED_PROXIES", [])
# /readyz answers 503 when the disk under VAR_DIR has less free space than this (ops/probes.py).
RUNDBRIEF_MIN_FREE_DISK_MB = config.env_int("RUNDBRIEF_MIN_FREE_DISK_MB", 100)
# Where the consent ledger's head is appended daily and by `consent anchor`; empty: logged (audience/anchor.py).
RUNDBRIEF_LEDGER_ANCHOR_FILE = config.env_str("RUNDBRIEF_LEDGER_ANCHOR_FILE", "")
# Data-export link mails per address per hour (audience/actions.py request_export).
RUNDBRIEF_EXPORT_MAILS_PER_HOUR = config.env_int("RUNDBRIEF_EXPORT_MAILS_PER_HOUR", 3)
# Seconds a webhook request may take before it counts as failed (docs/integrations.md, "Webhooks").
RUNDBRIEF_WEBHOOK_TIMEOUT = config.env_float("RUNDBRIEF_WEBHOOK_TIMEOUT", 10.0)
# Failed admin logins within 15 minutes before logins stop for that user name / client (ops/loginthrottle.py).
RUNDBRIEF_LOGIN_FAILURES_PER_USER = config.env_int("RUNDBRIEF_LOGIN_FAILURES_PER_USER", 5)
RUNDBRIEF_LOGIN_FAILURES_PER_IP = config.env_int("RUNDBRIEF_LOGIN_FAILURES_PER_IP", 20)
# Origins (scheme://host[:port]) whose pages may call the API from the visitor's browser (api/guard.py).
RUNDBRIEF_API_CORS_ORIGINS = config.env_list("RUNDBRIEF_API_CORS_ORIGINS", [])

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = SITE_URL.startswith("https://")
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Behind a TLS proxy: https as the proxy says, believed only when the proxy is named (gunicorn listens
# on 127.0.0.1, so nobody else can send the header to it).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if RUNDBRIEF_TRUSTED_PROXIES else None
SECURE_SSL_REDIRECT = config.env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = config.env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = config.env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
# The probes and /metrics are scraped over plain HTTP on the host itself.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# text (default, for `make run`) or json (one object per line; recommended in production).
# Both formats replace addresses by their keyed hash and drop tokens (rundbrief/ops/logs.py).
RUNDBRIEF_LOG_FORMAT = config.env_str("RUNDBRIEF_LOG_FORMAT", "text")
if RUNDBRIEF_LOG_FORMAT not in ("text", "json"):
    raise config.ConfigError(f"RUNDBRIEF_LOG_FORMAT={RUNDBRIEF_LOG_FORMAT!r}: expected text or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"rundbrief": {"()": "rundbrief.ops.logs.make_formatter", "log_format": RUNDBRIEF_LOG_FORMAT}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "rundbrief"}},
    "root": {"handlers": ["console"], "level": config.env_str("RUNDBRIEF_LOG_LEVEL", "INFO")},
    "loggers": {
        "django.server": {"level": "INFO"},
        "mail.log": {"level": "WARNING"},  # aiosmtpd logs every connection at INFO
    },
}

# Campaigns and delivery (docs/settings.md, docs/delivery.md).
CAMPAIGN_FROM_EMAIL = config.env_str("CAMPAIGN_FROM_EMAIL", "newsletter@musterhaus.example")
CAMPAIGN_FROM_NAME = config.env_str("CAMPAIGN_FROM_NAME", "Musterhaus Edelmetalle")
# Comma-separated SMTP URLs for newsletters; each may carry ?max_connections=&messages_per_connection=
# &per_second=&per_hour=&from_domain=. Unset: the same server as SMTP_URL.
DELIVERY_SMTP_URLS = config.env_list("DELIVERY_SMTP_URLS", [SMTP_URL or DEVMAIL_URL])
delivery_transports(DELIVERY_SMTP_URLS)  # a bad entry stops every command at start, as a bad SMTP_URL does
DKIM_DOMAIN = config.env_str("DKIM_DOMAIN", "")
DKIM_SELECTOR = config.env_str("DKIM_SELECTOR", "rundbrief")
DKIM_PRIVATE_KEY_FILE = config.env_str("DKIM_PRIVATE_KEY_FILE", "")
DKIM_ED25519_SELECTOR = config.env_str("DKIM_ED25519_SELECTOR", "")
DKIM_ED25519_KEY_FILE = config.env_str("DKIM_ED25519_KEY_FILE", "")
BOUNCE_DOMAIN = config.env_str("BOUNCE_DOMAIN", "")
LIST_ID = config.env_str("LIST_ID", "")
DELIVERY_BATCH_SIZE = config.env_int("DELIVERY_BATCH_SIZE", 200)
DELIVERY_CONCURRENCY = config.env_int("DELIVERY_CONCURRENCY", 4)
DELIVERY_LEASE_SECONDS = config.env_int("DELIVERY_LEASE_SECONDS", 30)
DELIVERY_MAX_ATTEMPTS = config.env_int("DELIVERY_MAX_ATTEMPTS", 5)
DELIVERY_RETRY_BASE_SECONDS = config.env_float("DELIVERY_RETRY_BASE_SECONDS", 60.0)
DELIVERY_DUPLICATE_BOUND = config.env_int("DELIVERY_DUPLICATE_BOUND", 20)
DELIVERY_PAUSE_AFTER_FAILURES = config.env_int("DELIVERY_PAUSE_AFTER_FAILURES", 50)
DELIVERY_PER_DOMAIN_PER_SECOND = config.env_float("DELIVERY_PER_DOMAIN_PER_SECOND", 0.0)
DELIVERY_CONSENT_RECHECK_SECONDS = config.env_float("DELIVERY_CONSENT_RECHECK_SECONDS", 0.25)

# Bounces and complaints (docs/settings.md, docs/bounces.md).
BOUNCE_SOFT_LIMIT = config.env_int("BOUNCE_SOFT_LIMIT", 3)
BOUNCE_SOFT_DAYS = config.env_int("BOUNCE_SOFT_DAYS", 14)
BOUNCE_COMPLAINT_WARN_RATE = config.env_float("BOUNCE_COMPLAINT_WARN_RATE", 0.001)  # Gmail: stay below 0.1 %
BOUNCE_COMPLAINT_PAUSE_RATE = config.env_float("BOUNCE_COMPLAINT_PAUSE_RATE", 0.003)  # Gmail/Yahoo: never 0.3 %
BOUNCE_COMPLAINT_MIN_SENT = config.env_int("BOUNCE_COMPLAINT_MIN_SENT", 1000)
# Sender-reason refusals of one campaign by one domain, none accepted since the first: pause (docs/bounces.md).
BOUNCE_DOMAIN_PAUSE_MIN = config.env_int("BOUNCE_DOMAIN_PAUSE_MIN", 20)
BOUNCE_RAW_RETENTION_DAYS = config.env_int("BOUNCE_RAW_RETENTION_DAYS", 30)

# Operations (docs/operations.md). /metrics answers a bearer token or an allowed client address.
METRICS_TOKEN = config.env_str("METRICS_TOKEN", "")
METRICS_ALLOWED_IPS = config.env_list("METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
# Storage limitation (GDPR Art. 5(1)(e)), applied by `rundbrief retention` and the worker's daily housekeeping.
RETENTION_DELIVERY_MONTHS = config.env_int("RETENTION_DELIVERY_MONTHS", 13)
RETENTION_EVIDENCE_DAYS = config.env_int("RETENTION_EVIDENCE_DAYS", 1095)
