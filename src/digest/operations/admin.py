"""The operator's console: its accounts (`digest admin add-user | remove-user | list-users | set-password`),
what its login asks (a password checked, an account by id), and its overview of the editions, whose figures are
`day_status`'s (what `digest status` shows).

Passwords are hashed with argon2id (`argon2-cffi`'s defaults); the store keeps the hash only. Each account
has a `stamp`, the hash's last characters: the console signs it into its session cookies, so a new password
(a new salt, a new hash) or a removed account ends every session made before.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from digest import store
from digest.config import Settings
from digest.errors import DigestError, InputError, UsageError
from digest.models import ADMIN_ROLES, AdminUser
from digest.operations.common import engine_for
from digest.operations.status import EditionSummary, day_status

MIN_PASSWORD = 12  # characters
MAX_PASSWORD = 1024  # longer input is not a password: refused before argon2 reads it
STAMP_CHARS = 16  # of the hash, in the session cookie's MAC (not the cookie: the cookie carries a MAC only)
HASHER = PasswordHasher()  # argon2id, time_cost 3, 64 MiB: about 0.2 s per hash or check on one core


@dataclass(frozen=True)
class AdminAccount:
    id: int
    email: str
    role: str
    created_at: datetime
    updated_at: datetime
    last_login_at: datetime | None
    stamp: str = field(default="", repr=False)  # the password hash's last characters

    def doc(self) -> dict:
        """What `digest admin list-users --json` prints (no hash, no stamp)."""
        return {"id": self.id, "email": self.email, "role": self.role, "created_at": self.created_at,
                "updated_at": self.updated_at, "last_login_at": self.last_login_at}

    def may(self, role: str) -> bool:
        """Whether this account's role is `role` or above it (viewer < editor < admin)."""
        return ADMIN_ROLES.index(self.role) >= ADMIN_ROLES.index(role)


def _account(row: AdminUser) -> AdminAccount:
    return AdminAccount(row.id, row.email, row.role, row.created_at, row.updated_at, row.last_login_at,
                        row.password_hash[-STAMP_CHARS:])


def check_password(password: str) -> str:
    """The password as given, when it can be one; InputError (one line) otherwise."""
    if len(password) < MIN_PASSWORD:
        raise InputError(f"password: must be at least {MIN_PASSWORD} characters, got {len(password)}")
    if len(password) > MAX_PASSWORD:
        raise InputError(f"password: must be at most {MAX_PASSWORD} characters, got {len(password)}")
    return password


def check_role(role: str) -> str:
    if role not in ADMIN_ROLES:
        raise UsageError(f"--role: expected {', '.join(ADMIN_ROLES)}, got {role!r}")
    return role


def account_email(value: str) -> str:
    from digest.ingest.subscribers import normalize_email

    try:
        return normalize_email(value)
    except ValueError as exc:
        raise UsageError(f"EMAIL: {exc}") from None


def add_user(settings: Settings, email: str, *, role: str, password: str, now: datetime,
             engine: Engine | None = None) -> AdminAccount:
    address, role = account_email(email), check_role(role)
    hashed = HASHER.hash(check_password(password))
    with store.session_scope(engine or engine_for(settings)) as session:
        row = store.admin.add_user(session, email=address, role=role, password_hash=hashed, now=now)
        if row is None:
            raise InputError(f"{address}: has an account already (change its password with set-password)")
        return _account(row)


def set_password(settings: Settings, email: str, *, password: str, now: datetime,
                 engine: Engine | None = None) -> str:
    """A new password (the account's address returned): every session of the account made before ends."""
    address = account_email(email)
    hashed = HASHER.hash(check_password(password))
    with store.session_scope(engine or engine_for(settings)) as session:
        if not store.admin.set_password(session, email=address, password_hash=hashed, now=now):
            raise InputError(f"{address}: no such account")
    return address


def remove_user(settings: Settings, email: str, *, engine: Engine | None = None) -> str:
    """The account removed (its address returned): its sessions end."""
    address = account_email(email)
    with store.session_scope(engine or engine_for(settings)) as session:
        if not store.admin.remove_user(session, email=address):
            raise InputError(f"{address}: no such account")
    return address


def list_users(settings: Settings, *, engine: Engine | None = None) -> list[AdminAccount]:
    with store.read_session(engine or engine_for(settings, readonly=True)) as session:
        return [_account(row) for row in store.admin.list_users(session)]


def account(engine: Engine, user_id: int) -> AdminAccount | None:
    """The account with this id, None when there is none (removed)."""
    with store.read_session(engine) as session:
        row = store.admin.user_by_id(session, user_id=user_id)
        return None if row is None else _account(row)


# A hash of a random password nobody kept, made with HASHER's parameters: checked for an unknown address. Made
# once here, not at the first login (a first unknown address would otherwise take twice as long).
DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$dzQOdH8QbKt/lSgQ900JZw$+JQiB69Lg0ViCjkZBJcJ5lE6wNmo8jF6POL6NgwfRiU"


@lru_cache(maxsize=4)
def _dummy_hash(hasher: PasswordHasher) -> str:
    """DUMMY_HASH, or (another hasher's parameters) a hash made with them, so that both checks cost the same."""
    return DUMMY_HASH if not hasher.check_needs_rehash(DUMMY_HASH) else hasher.hash("not the password of anyone")


def authenticate(engine: Engine, email: str, password: str, *, now: datetime) -> AdminAccount | None:
    """The account when the password is its own (its login time recorded), else None. An unknown address costs
    an argon2 check too (of a dummy hash): how long the answer takes does not tell which addresses exist."""
    try:
        from digest.ingest.subscribers import normalize_email

        address = normalize_email(email)
    except ValueError:
        address = ""
    with store.session_scope(engine) as session:
        row = store.admin.find_user(session, email=address) if address and len(password) <= MAX_PASSWORD else None
        if not _verified(row.password_hash if row else _dummy_hash(HASHER), password) or row is None:
            return None
        rehash = HASHER.hash(password) if HASHER.check_needs_rehash(row.password_hash) else None
        store.admin.record_login(session, user_id=row.id, now=now, password_hash=rehash)
        session.refresh(row)
        return _account(row)


def _verified(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password[:MAX_PASSWORD])
    except (VerificationError, InvalidHashError):
        return False


# ── the overview ─────────────────────────────────────────────────────────────────────────────────────────────

OVERVIEW_DAYS = 30
SHOWN = ("edition", "newsletter", "status", "held", "deadline", "counts", "total")  # of an EditionSummary


@dataclass(frozen=True)
class DueEdition:
    """An edition the schedule has today that is not planned yet."""

    edition: str
    date: str
    send_at: str  # the newsletter's default local send time (each reader may have their own)
    status: str = "due"


@dataclass
class LetterOverview:
    key: str
    name: str
    editions: list[tuple[str, EditionSummary]] = field(default_factory=list)  # (date, summary), newest first
    due: list[DueEdition] = field(default_factory=list)

    def doc(self) -> dict:
        return {"key": self.key, "name": self.name, "due": [asdict(d) for d in self.due],
                "editions": [{"date": day, **{k: getattr(e, k) for k in SHOWN}} for day, e in self.editions]}


@dataclass
class Overview:
    today: str
    since: str
    newsletters: list[LetterOverview]

    def doc(self) -> dict:
        """What `GET /admin/overview.json` answers."""
        return {"today": self.today, "since": self.since, "newsletters": [n.doc() for n in self.newsletters]}


def overview(settings: Settings, today: date, *, engine: Engine, days: int = OVERVIEW_DAYS, brief: bool = False
             ) -> Overview:
    """Per newsletter, its editions of the `days` days up to `today` (each as `day_status` sums it up; `brief`:
    without failure reasons and problem rows) and today's editions that are due but not planned yet."""
    since = today - timedelta(days=days - 1)
    with store.read_session(engine) as session:
        dates = store.admin.edition_dates(session, first=since.isoformat(), last=today.isoformat())
    letters = {n.key: LetterOverview(n.key, n.name) for n in settings.newsletters}
    for when in dates:
        try:
            summaries = day_status(settings, date.fromisoformat(when), engine=engine, brief=brief).editions
        except DigestError:  # pruned in the meantime
            continue
        for summary in summaries:  # a newsletter no longer configured is shown under its key
            letters.setdefault(summary.newsletter, LetterOverview(summary.newsletter, summary.newsletter))
            letters[summary.newsletter].editions.append((when, summary))
    for letter in settings.newsletters:
        key = letter.edition_key(today, "daily")
        planned = {e.edition for _, e in letters[letter.key].editions}
        if letter.sends_on(today, settings.tz) and key not in planned:
            letters[letter.key].due.append(DueEdition(key, today.isoformat(), letter.send_at))
    return Overview(today.isoformat(), since.isoformat(), list(letters.values()))
