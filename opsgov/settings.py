"""opsgov settings: one module, read from the environment (12-factor).

Every value has a safe development default (SQLite under var/, Celery on
kombu's filesystem transport, local-memory cache, mail written to files), so
`make run` needs no servers. With DEBUG off the process refuses to start
unless SECRET_KEY, ALLOWED_HOSTS and a PostgreSQL DATABASE_URL are set.
Parsing is strict: a boolean that is neither true nor false, or a number that
is not a number, stops start-up with the variable's name. A secret may also
come from a file named by `<NAME>_FILE` (Docker/Kubernetes secrets).
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from environs import Env, EnvError

from opsgov.schedules import PolicyCrontab

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("OPSGOV_VAR_DIR") or BASE_DIR / "var")

env = Env(eager=True)


def _read(parser: Any, name: str, **kwargs: Any) -> Any:
    """Parse one variable, turning a parse failure into a message naming it."""
    try:
        return parser(name, **kwargs)
    except EnvError as exc:
        raise ImproperlyConfigured(f"Environment variable {name}: {exc}") from exc


def envsecret(name: str, default: str | None = None) -> str | None:
    """Read a secret from NAME, or from the file named by NAME_FILE."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE: cannot read {file_name}: {exc}") from exc
    return os.environ.get(name, default)


DEBUG: bool = _read(env.bool, "DEBUG", default=True)

# --- Production guards -------------------------------------------------------
_secret = envsecret("SECRET_KEY")
if not DEBUG:
    _missing = [
        name
        for name in ("SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL")
        if not (_secret if name == "SECRET_KEY" else os.environ.get(name))
    ]
    if _missing:
        raise ImproperlyConfigured("DEBUG is off, so these environment variables are required: " + ", ".join(_missing))
SECRET_KEY = _secret or "django-insecure-development-only-key-never-used-with-debug-off"

#: The secret of GitHub's Dependabot webhook (security): GitHub signs each delivery with it
#: (X-Hub-Signature-256); empty: the webhook refuses every delivery.
DEPENDABOT_WEBHOOK_SECRET: str = envsecret("DEPENDABOT_WEBHOOK_SECRET") or ""

ALLOWED_HOSTS: list[str] = _read(
    env.list, "ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS: list[str] = _read(env.list, "CSRF_TRUSTED_ORIGINS", default=[])

# --- Applications -------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "csp",
    "auditlog",
    "axes",
    "opsgov.apps.OpsgovConfig",
    "monitoring.apps.MonitoringConfig",
    "incidents.apps.IncidentsConfig",
    "maintenance.apps.MaintenanceConfig",
    "security.apps.SecurityConfig",
    "compliance.apps.ComplianceConfig",
    "support.apps.SupportConfig",
    "backups.apps.BackupsConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "opsgov.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "opsgov.prometheus.RequestCounterMiddleware",
    "opsgov.middleware.AuditActorMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    # After the login redirect of pages: a NUL in a URL argument or query parameter is a 400, not a 500.
    "opsgov.middleware.RefuseNullCharactersMiddleware",
    # Last, as django-axes asks: turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "opsgov.urls"
WSGI_APPLICATION = "opsgov.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "opsgov.context_processors.navigation",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------
_default_db_url = f"sqlite:///{VAR_DIR / 'opsgov.sqlite3'}"
_db_url: str = os.environ.get("DATABASE_URL") or _default_db_url
if not DEBUG and not _db_url.startswith(("postgres://", "postgresql://", "pgsql://")):
    raise ImproperlyConfigured(
        "DATABASE_URL: production needs PostgreSQL (postgresql://...), not " + _db_url.split(":")[0]
    )
try:
    _db: dict[str, Any] = dict(env.dj_db_url("DATABASE_URL", default=_default_db_url))
except EnvError as exc:  # pragma: no cover - message path
    raise ImproperlyConfigured(f"Environment variable DATABASE_URL: {exc}") from exc
_db["CONN_MAX_AGE"] = _read(env.int, "CONN_MAX_AGE", default=600)
_db["CONN_HEALTH_CHECKS"] = True
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # The embedded default runs web, worker and beat against one file: WAL lets
    # readers proceed during a write and IMMEDIATE avoids upgrade deadlocks.
    _db["CONN_MAX_AGE"] = 0
    _db.setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # A file, not memory, so a real Celery worker started by the integration
    # tests can open the test database too.
    _db["TEST"] = {"NAME": str(VAR_DIR / "test-opsgov.sqlite3")}
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ---------------------------------------------------------------------
_cache_url = os.environ.get("CACHE_URL") or os.environ.get("REDIS_URL")
if _cache_url:
    CACHES = {"default": env.dj_cache_url("CACHE_URL", default=_cache_url)}
    if CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache":
        # The rate limits (opsgov.ratelimit) ask the cache on requests and fail open when it is down: a
        # blackholed Redis must cost a request a second at most, not the operating system's TCP timeout.
        CACHES["default"].setdefault("OPTIONS", {}).update({"socket_connect_timeout": 1, "socket_timeout": 1})
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "opsgov"}}

# --- Auth ----------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# django-axes' gatekeeper first (opsgov.lockout): it refuses locked accounts before a password is checked.
AUTHENTICATION_BACKENDS = ["opsgov.lockout.LockoutBackend", "django.contrib.auth.backends.ModelBackend"]

# --- Login lockout (django-axes; opsgov.lockout) --------------------------------------
# LOGIN_FAILURE_LIMIT failed logins for one username lock the account (from any address) until
# LOGIN_LOCKOUT_MINUTES after the last failure; a successful login before that clears the count.
LOGIN_FAILURE_LIMIT: int = _read(env.int, "LOGIN_FAILURE_LIMIT", default=20)
if LOGIN_FAILURE_LIMIT < 1:
    raise ImproperlyConfigured(f"LOGIN_FAILURE_LIMIT: must be 1 or more failed logins, not {LOGIN_FAILURE_LIMIT}")
LOGIN_LOCKOUT_MINUTES: int = _read(env.int, "LOGIN_LOCKOUT_MINUTES", default=60)
if LOGIN_LOCKOUT_MINUTES < 1:
    raise ImproperlyConfigured(f"LOGIN_LOCKOUT_MINUTES: must be 1 or more minutes, not {LOGIN_LOCKOUT_MINUTES}")
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
# The account, not the address: behind a proxy or NAT every user shares one address, and an address
# lock would let one person's typos (or an attacker) lock everybody out. Hence axes.W006 is silenced.
AXES_LOCKOUT_PARAMETERS = ["username"]
SILENCED_SYSTEM_CHECKS = ["axes.W006"]
AXES_RESET_ON_SUCCESS = True
# Failures while locked neither extend the lockout nor count again: it ends when the page says.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_CALLABLE = "opsgov.lockout.lockout_response"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
# axes logs its start and every attempt at INFO; opsgov's audit trail records logins, failures and
# lockouts already, and the start line would open the output of every manage.py command.
AXES_VERBOSE = False

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Every page needs a login (LoginRequiredMiddleware); the exceptions are marked
# @login_not_required: /healthz, /readyz, /metrics (own bearer token), login.

# --- Internationalisation ------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE: str = _read(env.str, "TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files --------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT") or VAR_DIR / "staticfiles")
if DEBUG:
    # whitenoise warns about a missing STATIC_ROOT even while it serves from the finders.
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Uploaded files (compliance evidence) ---------------------------------------
# Never served directly: downloads go through authenticated views as attachments.
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT") or VAR_DIR / "media")

# --- Email ---------------------------------------------------------------------
# EMAIL_URL examples: smtp://user:pass@mail.example.com:587/?tls=True, smtp://127.0.0.1:1025
_email: dict[str, Any] = (
    _read(env.dj_email_url, "EMAIL_URL")
    if os.environ.get("EMAIL_URL")
    else {"EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend", "EMAIL_FILE_PATH": str(VAR_DIR / "mail")}
)
EMAIL_BACKEND: str = _email["EMAIL_BACKEND"]
EMAIL_FILE_PATH: str = _email.get("EMAIL_FILE_PATH") or str(VAR_DIR / "mail")
EMAIL_HOST: str = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT: int = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER: str = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD: str = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS: bool = bool(_email.get("EMAIL_USE_TLS"))
EMAIL_USE_SSL: bool = bool(_email.get("EMAIL_USE_SSL"))
EMAIL_TIMEOUT: int | None = _email.get("EMAIL_TIMEOUT") or 30
DEFAULT_FROM_EMAIL: str = _read(env.str, "DEFAULT_FROM_EMAIL", default="opsgov <opsgov@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Security (production) -----------------------------------------------------
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SESSION_COOKIE_HTTPONLY = True
SECURE_SSL_REDIRECT: bool = _read(env.bool, "SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS: int = _read(env.int, "SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = _read(env.bool, "SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD: bool = _read(env.bool, "SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if _read(env.bool, "USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# /healthz and /readyz are probed over plain HTTP from inside the cluster. The ingestion endpoints and the
# heartbeat pings are served over whatever scheme reached them, never redirected: a client re-sends a
# redirected POST as a GET (or not at all), so the redirect would lose the alert or the ping. TLS is the
# proxy's job (USE_X_FORWARDED_PROTO); the printed URLs are https ones when OPSGOV_BASE_URL is (README).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^api/v1/ingest/", r"^ping/"]

# Content-Security-Policy (django-csp) on every response: scripts, styles, images, fonts and
# requests only from opsgov itself. No inline scripts and no inline styles anywhere (our scripts
# live in static/, htmx's indicator CSS is shipped in opsgov.css); img-src also allows data: URIs
# (icons inlined in the admin's and Swagger UI's stylesheets). Pages are never framed and forms
# post only to opsgov. The pages that need more say so themselves, as narrowly as they can
# (opsgov.csp): ReDoc gets a per-response nonce for the <style> elements its bundle inserts and
# blob: workers for its search index; DRF's browsable API gets style="" attributes (its templates
# are full of them). Nothing here is configurable: a deployment that needs another source has a
# code change to review.
CONTENT_SECURITY_POLICY: dict[str, Any] = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# --- REST API ------------------------------------------------------------------


def _rate(name: str, text: str) -> str | None:
    """Variable `name`'s throttle rate such as "600/minute" (opsgov.ratelimit.parse_rate), or None for "off"."""
    # Imported here, not at the top: opsgov.ratelimit imports Django's cache framework, which the
    # settings module must not load while the settings themselves are still being read.
    from opsgov.ratelimit import parse_rate

    text = text.strip()
    if text.lower() in ("off", "none", ""):
        return None
    try:
        parse_rate(text)
    except ValueError as exc:
        raise ImproperlyConfigured(f"Environment variable {name}: {exc}") from None
    return text


# API throttling (opsgov.api.throttling): requests per personal token (or per signed-in session), and per
# user across all their tokens and sessions; over either, 429 with Retry-After. Counted in the cache.
API_THROTTLE_RATE = _rate("API_THROTTLE_RATE", _read(env.str, "API_THROTTLE_RATE", default="3000/minute"))
API_THROTTLE_USER_RATE = _rate(
    "API_THROTTLE_USER_RATE", _read(env.str, "API_THROTTLE_USER_RATE", default="6000/minute")
)
# Ingestion (incidents.ingest.handling): requests refused for their token from one address, past this rate,
# are answered 429 until the window ends; requests with a valid token are never answered 429.
INGEST_BAD_TOKEN_RATE = _rate("INGEST_BAD_TOKEN_RATE", _read(env.str, "INGEST_BAD_TOKEN_RATE", default="30/minute"))
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "opsgov.api.authentication.TokenAuthentication",  # knox's, noting each token's networks
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["opsgov.api.permissions.RoleModelPermissions"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    # DRF's JSON, form and multipart parsers, refusing NUL characters anywhere in a body (a 400 naming the path).
    "DEFAULT_PARSER_CLASSES": [
        "opsgov.api.parsers.JSONParser",
        "opsgov.api.parsers.FormParser",
        "opsgov.api.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "opsgov.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "opsgov.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "opsgov.api.throttling.CredentialRateThrottle",
        "opsgov.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {"api_credential": API_THROTTLE_RATE, "api_user": API_THROTTLE_USER_RATE},
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}
# knox's token model (its default), named so that a ForeignKey to it (opsgov.TokenNetwork) can migrate.
KNOX_TOKEN_MODEL = "knox.AuthToken"  # noqa: S105  (a model name, not a secret)
REST_KNOX = {
    # Tokens are stored hashed; a token is shown once, when it is created.
    "TOKEN_TTL": None,
    "AUTH_HEADER_PREFIX": "Bearer",
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "opsgov API",
    "DESCRIPTION": "Operations governance: services, incidents, SLOs, maintenance, security, "
    "compliance, support, backups and quality gates.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Swagger UI never sends the schema to swagger.io's online validator (nothing leaves the machine).
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "GateStatusEnum": "opsgov.models.GateStatus",
        "WaiverStateEnum": "opsgov.models.WaiverState",
        "IncidentStatusEnum": "incidents.models.IncidentStatus",
        # Integrations list every kind; they are created as one of the external kinds (opsgov.api.schema).
        "IntegrationKindEnum": "incidents.models.IntegrationKind",
        "ExternalIntegrationKindEnum": "incidents.api.serializers.EXTERNAL_KIND_CHOICES",
        "ChangeStateEnum": "maintenance.models.ChangeState",
        "ChangeOutcomeEnum": "maintenance.models.ChangeOutcome",
        "ChangeRiskEnum": "maintenance.models.ChangeRisk",
        "ApprovalReasonEnum": "maintenance.models.ApprovalReason",
        "MaintenanceLogOutcomeEnum": "maintenance.models.LogOutcome",
        "MaintenanceWindowKindEnum": "maintenance.models.RecurrenceKind",
        "FreezeKindEnum": "maintenance.models.windows.FREEZE_KINDS",
        # The seed's support tiers (opsgov.policy's default); a policy with other tiers gets a generated name.
        "TicketPriorityEnum": ["P1", "P2", "P3", "P4"],
        "TicketStatusEnum": "support.models.TicketStatus",
        "AssetKindEnum": "security.models.AssetKind",
        "VulnerabilitySeverityEnum": "security.models.findings.Severity",
        "AccessReviewDecisionEnum": "security.models.AccessDecision",
        "AccessReviewStatusEnum": "security.models.CampaignStatus",
        "SecurityAssessmentKindEnum": "security.models.AssessmentKind",
        "TrainingCompletionSourceEnum": "security.models.CompletionSource",
        "SecurityFindingStatusEnum": "security.models.FindingStatus",
        "RegulatoryChangeStatusEnum": "compliance.models.ChangeStatus",
    },
    # drf-spectacular's default hook, then the ingestion endpoints (plain Django views, which it does not see).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "incidents.ingest.openapi.add_ingest_endpoints",
    ],
}

# --- Audit trail ---------------------------------------------------------------
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_DISABLE_REMOTE_ADDR = False

# --- Celery --------------------------------------------------------------------
CELERY_BROKER_URL: str = _read(env.str, "CELERY_BROKER_URL", default="filesystem://")
# A blackholed broker must not hang a request in its on-commit publish: fail
# fast; what was stored is re-enqueued by the sweepers.
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"socket_connect_timeout": 2, "socket_timeout": 10}
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport needs its folders to exist before a worker
    # or a producer touches them.
    _queue_dir = VAR_DIR / "celery" / "queue"
    _processed_dir = VAR_DIR / "celery" / "processed"
    _control_dir = VAR_DIR / "celery" / "control"
    for _folder in (_queue_dir, _processed_dir, _control_dir):
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_processed_dir),
        "control_folder": str(_control_dir),
        "store_processed": False,
    }
CELERY_RESULT_BACKEND: str | None = _read(env.str, "CELERY_RESULT_BACKEND", default=None)
CELERY_TASK_IGNORE_RESULT = CELERY_RESULT_BACKEND is None
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# The whole beat schedule, in one place.
CELERY_BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    "worker-heartbeat": {"task": "opsgov.tasks.record_heartbeat", "schedule": 60.0},
    "evaluate-gates": {"task": "opsgov.tasks.evaluate_gates", "schedule": 300.0},
    "retry-gate-notifications": {"task": "opsgov.gate_tasks.retry_gate_notifications", "schedule": 60.0},
    "compute-metrics": {"task": "opsgov.tasks.compute_metrics", "schedule": 300.0},
    "prune-snapshots": {"task": "opsgov.tasks.prune_snapshots", "schedule": 6 * 3600.0},
    "sweep-raw-events": {"task": "incidents.tasks.sweep_raw_events", "schedule": 30.0},
    # Owners hear of dead-lettered alert events (incidents.ingest.dead_letters). Task names are the ones the
    # tasks were first registered under (their modules moved since): queued messages and old schedules use them.
    "notify-dead-letters": {"task": "incidents.dead_letter_tasks.notify_dead_letters", "schedule": 60.0},
    # Escalations live in the database (next_escalation_at); this scan steps the due ones.
    "escalate-due-incidents": {"task": "incidents.notify_tasks.escalate_due_incidents", "schedule": 60.0},
    "retry-due-notifications": {"task": "incidents.notify_tasks.retry_due_notifications", "schedule": 60.0},
    # Synthetic checks: claim due HTTP check runs, take late heartbeats down, bound their history.
    "enqueue-due-http-checks": {"task": "monitoring.check_tasks.enqueue_due_http_checks", "schedule": 15.0},
    "detect-late-heartbeats": {"task": "monitoring.check_tasks.detect_late_heartbeats", "schedule": 30.0},
    "prune-check-history": {"task": "monitoring.check_tasks.prune_check_history", "schedule": 3600.0},
    # Backups: runs that did not arrive within their grace are missed; opsgov backs itself up when due
    # (OPSGOV_BACKUP_DIR set; on the policy's database frequency).
    "reconcile-backup-schedules": {"task": "backups.reconcile_schedules", "schedule": 60.0},
    # Pings are accepted with one INSERT and applied to runs by this task (also enqueued by the pings).
    "apply-backup-pings": {"task": "backups.apply_pings", "schedule": 10.0},
    "backup-self": {"task": "backups.backup_self_if_due", "schedule": 300.0},
    # Access review campaigns past their deadline with undecided rows: one e-mail to the Security Leads.
    "escalate-access-reviews": {"task": "security.tasks.escalate_access_reviews", "schedule": 900.0},
    # The owner's e-mail about a failed or missed run (backups.notices): what a broker outage left, retries.
    "retry-backup-failure-notices": {"task": "backups.retry_failure_notices", "schedule": 60.0},
    # Email reports at 07:00 in the policy's time zone (opsgov.schedules), for the period that just ended.
    "weekly-operations-report": {
        "task": "opsgov.report_tasks.send_scheduled_report",
        "schedule": PolicyCrontab(minute=0, hour=7, day_of_week="mon"),
        "args": ("weekly",),
    },
    "monthly-governance-report": {
        "task": "opsgov.report_tasks.send_scheduled_report",
        "schedule": PolicyCrontab(minute=0, hour=7, day_of_month=1),
        "args": ("monthly",),
    },
    # SLI data of SLOs pulled from Prometheus (does nothing while PROMETHEUS_URL is empty); a run
    # left queued while no worker serves is dropped: the next one catches up from the last bucket.
    "pull-prometheus-slis": {
        "task": "monitoring.tasks.pull_prometheus_slis",
        "schedule": 60.0,
        "options": {"expires": 55},
    },
    # SLO error budgets, burn rates and burn-rate alerts (monitoring.slos.engine); a cycle still running skips it.
    "evaluate-slos": {"task": "monitoring.tasks.evaluate_slos", "schedule": 60.0},
    # Overdue compliance findings are escalated once each (compliance.tasks).
    "escalate-overdue-findings": {"task": "compliance.tasks.escalate_overdue_findings", "schedule": 900.0},
    # Regulatory tasks due soon remind their owners once; compliance e-mails retried through the outbox.
    "remind-regulatory-tasks": {"task": "compliance.tasks.remind_regulatory_tasks", "schedule": 3600.0},
    "send-compliance-notices": {"task": "compliance.tasks.send_due_notices", "schedule": 60.0},
    # Support: the mailbox (does nothing while SUPPORT_IMAP_URL is empty), breaches, auto-close, e-mail retries.
    "fetch-support-mail": {"task": "support.fetch_mail", "schedule": 60.0, "options": {"expires": 55}},
    "support-sla-cycle": {"task": "support.sla_cycle", "schedule": 60.0},
    "support-auto-close": {"task": "support.auto_close", "schedule": 3600.0},
    "support-retry-emails": {"task": "support.retry_emails", "schedule": 60.0},
    # Security: a risk acceptance that ran out while its finding is open joins the alert queue once (security.tasks).
    "security-expired-acceptances": {"task": "security.tasks.note_expired_acceptances", "schedule": 3600.0},
}

# --- opsgov --------------------------------------------------------------------
OPSGOV_POLICY: str | None = _read(env.str, "OPSGOV_POLICY", default=None) or None
# Bearer token for /metrics; unset means /metrics is open (scrapers on a private network).
OPSGOV_METRICS_TOKEN: str | None = envsecret("OPSGOV_METRICS_TOKEN")
# Where people and tools reach this instance: links in e-mails, printed ingestion and ping URLs,
# exported runbook_url annotations. Unset, it follows PORT (`make run PORT=N` sets both for
# every process; honcho gives each process its own PORT, so the Makefile passes this one explicitly).
PORT: int = _read(env.int, "PORT", default=8000)
OPSGOV_BASE_URL: str = _read(env.str, "OPSGOV_BASE_URL", default=f"http://127.0.0.1:{PORT}")
# Where `manage.py backup_self` writes opsgov's own backups; empty: beat does not back opsgov up (backups).
OPSGOV_BACKUP_DIR: str = _read(env.str, "OPSGOV_BACKUP_DIR", default="")

# Whether HTTP checks may request loopback, private and other non-public addresses while the policy's
# monitoring.http_checks.allow_private_targets is unset (monitoring.checks.targets): DEBUG as the process started
# (pytest-django turns settings.DEBUG off during tests; this keeps the embedded default's value).
HTTP_CHECKS_ALLOW_PRIVATE_BY_DEFAULT: bool = DEBUG

# --- Prometheus: SLI data pulled with PromQL (monitoring.slos.prometheus_pull) ---
# Off while PROMETHEUS_URL is empty; then only SLOs with source "prometheus" are pulled.
PROMETHEUS_URL: str = _read(env.str, "PROMETHEUS_URL", default="").strip().rstrip("/")
if PROMETHEUS_URL and not PROMETHEUS_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"PROMETHEUS_URL: {PROMETHEUS_URL!r} is not an http(s) URL, e.g. http://prometheus:9090")
# Seconds one request to Prometheus may take (connect and answer).
PROMETHEUS_TIMEOUT: float = _read(env.float, "PROMETHEUS_TIMEOUT", default=10.0)
if PROMETHEUS_TIMEOUT <= 0:
    raise ImproperlyConfigured(f"PROMETHEUS_TIMEOUT: must be a positive number of seconds, not {PROMETHEUS_TIMEOUT}")
# Seconds after a minute ends before it is pulled: the last scrape of the minute must have landed.
PROMETHEUS_PULL_DELAY: int = _read(env.int, "PROMETHEUS_PULL_DELAY", default=30)
if PROMETHEUS_PULL_DELAY < 0:
    raise ImproperlyConfigured(f"PROMETHEUS_PULL_DELAY: must be 0 or more seconds, not {PROMETHEUS_PULL_DELAY}")

# No log line shows a whole integration token or heartbeat uuid: every handler here carries
# opsgov.redaction.RedactSecretsFilter (the root's console takes django.request's
# "Not Found: /api/v1/ingest/<kind>/<token>/", celery's and opsgov's lines; django.server is the
# development server's access log). Django's own "django" handlers are replaced by propagation to the
# root (its console printed only with DEBUG on, beside the root's; mail_admins had no ADMINS to mail).
# Celery's worker sets up handlers of its own: opsgov.celery filters those. gunicorn: gunicorn.conf.py.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["redact_secrets"],
        },
    },
    "filters": {
        "redact_secrets": {"()": "opsgov.redaction.RedactSecretsFilter"},
        # The ingestion views log their own 4xx/5xx with the token redacted; Django's line would repeat it.
        "ingest_answers_logged": {"()": "incidents.ingest.log_filters.IngestAnswersLoggedFilter"},
    },
    "root": {"handlers": ["console"], "level": _read(env.str, "LOG_LEVEL", default="INFO")},
    # httpx logs every request at INFO (the PromQL pull makes two a minute per SLO).
    "loggers": {
        "django": {"handlers": [], "level": "INFO"},
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
        "django.db.backends": {"level": "INFO"},
        "httpx": {"level": "WARNING"},
        # axes logs every login at INFO; the audit trail records logins, failures and lockouts.
        "axes": {"level": "WARNING"},
        "django.request": {"filters": ["ingest_answers_logged"]},
    },
}

# --- Support (support app) -----------------------------------------------------------
# The support mailbox, fetched every minute: imap://user:password@host:143/INBOX?error_folder=Errors
# (imaps:// for TLS; &done_folder=Processed where handled messages go; &starttls=true). Empty: no fetching.
SUPPORT_IMAP_URL: str = envsecret("SUPPORT_IMAP_URL") or ""
# The sender of support e-mails (replies, acknowledgements, rating links); its domain names Message-IDs.
SUPPORT_FROM_EMAIL: str = _read(env.str, "SUPPORT_FROM_EMAIL", default=DEFAULT_FROM_EMAIL)
# Who hears of breaches and low ratings when a ticket's team has no e-mail address.
SUPPORT_LEAD_EMAIL: str = _read(env.str, "SUPPORT_LEAD_EMAIL", default="")
# Ticket attachments, stored under their SHA-256 and served only to people allowed to see the ticket.
SUPPORT_ATTACHMENT_DIR: str = _read(env.str, "SUPPORT_ATTACHMENT_DIR", default=str(VAR_DIR / "support-attachments"))
