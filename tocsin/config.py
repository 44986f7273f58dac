"""Typed settings for every Tocsin process.

Values come from command-line options first, then ``TOCSIN_*`` environment
variables, then the defaults below. Each field documents what it sets and its
unit; a value that does not parse is rejected with the setting's name.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(Exception):
    """A setting has an invalid value; the message names the setting."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TOCSIN_", extra="forbid", frozen=True)

    home: Path = Field(
        default=Path("~/.tocsin"),
        description="Data directory: the embedded SQLite database and the secret key file.",
    )
    database_url: str | None = Field(
        default=None,
        description=(
            "SQLAlchemy URL of the database, for example "
            "postgresql+psycopg://postgres@127.0.0.1:5432/tocsin. "
            "Empty means the embedded SQLite database HOME/tocsin.db."
        ),
    )
    host: str = Field(default="127.0.0.1", description="Address the HTTP endpoint listens on.")
    port: int = Field(default=4590, ge=0, le=65535, description="TCP port of the HTTP endpoint.")
    secret_key: str | None = Field(
        default=None,
        description=(
            "Fernet key that encrypts secret access keys at rest and signs pagination tokens. "
            "Empty means the key file HOME/secret.key, created on first start."
        ),
    )
    max_body_bytes: int = Field(
        default=2 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted, in bytes; larger requests get HTTP 413.",
    )
    body_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Maximum time a client may take to send a request body, in seconds.",
    )
    webhook_max_per_minute: int = Field(
        default=600,
        ge=1,
        le=1_000_000,
        description=(
            "Maximum posts per minute to one inbound alerting webhook that sets no "
            "--max-per-minute of its own. Posts over it get HTTP 429 with Retry-After until "
            "the minute ends. Alertmanager sends one post per alert group per group_interval "
            "(5 minutes by default), so the default leaves room for hundreds of groups."
        ),
    )
    clock_speed: float = Field(
        default=1.0,
        gt=0,
        le=3600,
        description=(
            "How many seconds of product time pass per real second. Values above 1 make "
            "escalations and rotations run faster for demonstrations; keep 1 in production. "
            "Product time starts from the wall clock at every start of the server, so after a "
            "restart it is earlier than the times already stored, and timers set before the "
            "restart fire late."
        ),
    )
    workers: int = Field(
        default=2, ge=0, le=64, description="Job engine threads in this process; 0 disables them."
    )
    job_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a claimed job stays with its worker before another may retake it.",
    )
    job_poll_seconds: float = Field(
        default=1.0,
        gt=0,
        description="Maximum wait between checks for due jobs when no wake-up arrives, in seconds.",
    )
    job_max_attempts: int = Field(
        default=10, ge=1, description="Attempts before a failing job is given up as dead."
    )
    job_overdue_seconds: float = Field(
        default=60.0,
        gt=0,
        description="A due job not finished this many seconds after its due time is reported.",
    )
    smtp_url: str | None = Field(
        default=None,
        description=(
            "SMTP server for email pages and activation codes: "
            "smtp://[USER:PASSWORD@]HOST[:PORT] (port 25 by default), with ?starttls=true to "
            "upgrade the connection before logging in, or smtps://... (port 465 by default) for "
            "TLS from the start. Credentials need TLS unless the host is a loopback address. "
            "Empty means email goes to the development outbox table in the database."
        ),
    )
    smtp_sender: str | None = Field(
        default=None,
        description="From address of email that Tocsin sends; empty means tocsin@localhost.",
    )
    sms_url: str | None = Field(
        default=None,
        description=(
            "Provider for SMS pages and activation codes: webhook+https://HOST/PATH[?secret=S] "
            "(or webhook+http://) posts JSON to that endpoint, signed with HMAC-SHA256 when a "
            "secret is given; outbox: writes the development outbox table; any other scheme is "
            "an apprise URL with {to} where the phone number goes, such as "
            "twilio://SID:TOKEN@+12065550100/{to}. Empty means the development outbox."
        ),
    )
    voice_url: str | None = Field(
        default=None,
        description=(
            "Provider for voice pages and activation codes, in the form of TOCSIN_SMS_URL, "
            "such as twilio://SID:TOKEN@+12065550100/{to}?method=call. Empty means the "
            "development outbox."
        ),
    )
    delivery_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=600,
        description=(
            "Maximum wait for the SMTP server or a webhook to connect or answer, in seconds. "
            "Apprise URLs set their own timeouts with their cto and rto parameters."
        ),
    )
    delivery_ca_file: Path | None = Field(
        default=None,
        description=(
            "PEM file of CA certificates that SMTP and webhook servers' TLS certificates are "
            "verified against. Empty means the system's certificate store. Certificates and "
            "host names are always verified."
        ),
    )
    public_url: str | None = Field(
        default=None,
        pattern=r"^(https?://[^/\s]+\S*)?$",
        description=(
            "Base URL at which people reach this server, such as https://tocsin.example.com; "
            "pages carry acknowledgement links under it. Empty means http://HOST:PORT."
        ),
    )
    sns_trusted_certificate_hosts: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9.\-]*(,[A-Za-z0-9.\-]+)*$",
        description=(
            "Comma-separated host names, such as sns.us-east-1.amazonaws.com, whose HTTPS "
            "certificate URLs sns webhooks accept in SigningCertURL and fetch to verify a "
            "message signature. Empty means only this server's own SNS certificates."
        ),
    )
    allow_cross_account_escalation: bool = Field(
        default=False,
        description=(
            "Let escalation plans name contacts of other accounts. AWS rejects them, and so "
            "does Tocsin unless this is true."
        ),
    )
    allow_cross_account_notification_targets: bool = Field(
        default=False,
        description=(
            "Let an incident's notification targets and chat channel name SNS topics of "
            "accounts other than the incident's. AWS rejects them, and so does Tocsin unless "
            "this is true."
        ),
    )
    put_events_aws_sources: str | None = Field(
        default=None,
        pattern=r"^(aws\.[a-z0-9.\-]+)?(,aws\.[a-z0-9.\-]+)*$",
        description=(
            "Comma-separated sources starting with aws., such as "
            "aws.codedeploy,aws.cloudformation, that PutEvents accepts from callers, so a "
            "deployment pipeline can report its deployments for incident findings. AWS "
            "accepts none, and neither does Tocsin by default."
        ),
    )
    findings_window_minutes: int = Field(
        default=60,
        ge=1,
        le=1440,
        description=(
            "How long before an incident's creation a CodeDeploy deployment or CloudFormation "
            "stack update may have run to be one of the incident's findings, in minutes. AWS "
            "documents no such window."
        ),
    )
    deployment_event_retention_days: int = Field(
        default=30,
        ge=3,
        description=(
            "How long CodeDeploy and CloudFormation events are kept for incident findings, in "
            "days; incidents older than this lose the findings of the deleted events."
        ),
    )
    chat_webhooks_file: Path | None = Field(
        default=None,
        description=(
            "JSON file of the chat webhooks that response plans may name in their "
            'tocsin:chat-webhooks tag: {ACCOUNT_ID: {NAME: {"kind": "slack" | "teams" | '
            '"mattermost" | "webhook", "url": URL, "secret": optional signing secret}}}. '
            "It is read at every delivery, so edits apply without a restart. Empty means no "
            "chat webhooks."
        ),
    )
    automation_script_timeout_seconds: float = Field(
        default=60.0,
        gt=0,
        description=(
            "Time an aws:executeScript step may run when it sets no timeoutSeconds, in seconds."
        ),
    )
    automation_script_timeout_max_seconds: float = Field(
        default=600.0,
        gt=0,
        description=(
            "Upper bound on the run time of an aws:executeScript step, in seconds; a larger "
            "timeoutSeconds is cut to it. AWS stops scripts after 600 seconds."
        ),
    )
    automation_script_memory_mib: int = Field(
        default=512,
        ge=32,
        description=(
            "Address-space limit of the process that runs an aws:executeScript step, in MiB; "
            "a script that needs more fails its step."
        ),
    )
    automation_script_accounts: str = Field(
        default="*",
        pattern=r"^(\*|(\d{12}(,\d{12})*)?)$",
        description=(
            "Accounts whose runbooks may run aws:executeScript steps: * for every account, "
            "comma-separated account ids, or empty for none. Scripts run as the server's "
            "operating-system user and can read its data directory, so list only accounts "
            "whose runbook authors you trust with the server."
        ),
    )
    automation_aws_endpoint_url: str | None = Field(
        default=None,
        pattern=r"^(https?://[^/\s]+\S*)?$",
        description=(
            "Endpoint that automation steps call for services and operations Tocsin does not "
            "implement, such as EC2, for example a moto server at http://127.0.0.1:5000. "
            "Empty means such steps fail with a message that names this setting."
        ),
    )
    console_session_hours: float = Field(
        default=12.0,
        gt=0,
        le=720,
        description=(
            "Lifetime of a console session after sign-in, in hours. A user's login profile "
            "may set a shorter MaxSigninSessionDuration."
        ),
    )
    console_plain_http: bool = Field(
        default=False,
        description=(
            "The console is served over plain HTTP, so its cookies are not marked Secure. "
            "Browsers that treat http://127.0.0.1 and http://localhost as secure, such as "
            "Chromium, keep Secure cookies there, so leave this false unless a browser "
            "drops the session cookie; never set it for a non-loopback address."
        ),
    )
    console_region: str = Field(
        default="us-east-1",
        pattern=r"^[a-z]{2}(-[a-z]+)+-\d$",
        description="Region of the AWS operations that the console calls, such as us-east-1.",
    )
    console_sign_in_max_failures: int = Field(
        default=5,
        ge=1,
        description=(
            "Failed console sign-ins for one account and user name within "
            "TOCSIN_CONSOLE_SIGN_IN_WINDOW_SECONDS after which sign-in answers HTTP 429."
        ),
    )
    console_sign_in_max_failures_per_client: int = Field(
        default=20,
        ge=1,
        description=(
            "Failed console sign-ins from one client address within "
            "TOCSIN_CONSOLE_SIGN_IN_WINDOW_SECONDS after which sign-in answers HTTP 429."
        ),
    )
    console_sign_in_window_seconds: float = Field(
        default=900.0,
        gt=0,
        description="Period over which failed console sign-ins are counted, in seconds.",
    )
    log_level: str = Field(
        default="INFO",
        pattern=r"^(DEBUG|INFO|WARNING|ERROR)$",
        description="Lowest level of log records written to standard error.",
    )
    console_poll_seconds: float = Field(
        default=2.0,
        ge=0.1,
        le=60,
        description=(
            "How often the console's live incident list and details pages read the incidents "
            "again for changes to send to the browser, in seconds."
        ),
    )

    @field_validator("home")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("delivery_ca_file")
    @classmethod
    def _expand_ca_file(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @property
    def embedded_database_path(self) -> Path:
        """Return the file of the embedded SQLite database in the home folder."""
        return self.home / "tocsin.db"

    @property
    def effective_database_url(self) -> str:
        """Return the configured database URL, or the embedded SQLite file in the home folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.embedded_database_path}"

    @property
    def effective_public_url(self) -> str:
        """Return the public base URL without a trailing slash, or http://HOST:PORT."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


def settings_help() -> str:
    """Return one paragraph per setting: its variable, default and description."""
    paragraphs = []
    for name, field in Settings.model_fields.items():
        default = field.default if field.default is not None else "unset"
        paragraphs.append(f"TOCSIN_{name.upper()} (default {default}): {field.description}")
    return "\n\n".join(paragraphs)


def load_settings(**overrides: object) -> Settings:
    """Build settings from command-line overrides, then the environment, then defaults.

    Overrides whose value is None are left out, so an option the user did not
    give falls through to the environment.
    """
    given = {key: value for key, value in overrides.items() if value is not None}
    try:
        return Settings(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"])
            problems.append(
                f"TOCSIN_{name.upper()} (--{name.replace('_', '-')}): {error['msg']}, "
                f"got {error.get('input')!r}"
            )
        raise SettingsError("invalid setting: " + "; ".join(problems)) from exc
