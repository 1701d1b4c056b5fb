"""The console's accounts (the `adminuser` table): add, find, list, change a password, remove, record a login;
and the one thing the console's overview asks of the editions: which dates have some.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from digest.models import AdminUser, Edition


def add_user(session: Session, *, email: str, role: str, password_hash: str, now: datetime) -> AdminUser | None:
    """A new account; None when the address has one already."""
    if find_user(session, email=email) is not None:
        return None
    row = AdminUser(email=email, role=role, password_hash=password_hash, created_at=now, updated_at=now)
    try:
        with session.begin_nested():  # two adds of one address at once: the unique index decides
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def find_user(session: Session, *, email: str) -> AdminUser | None:
    return session.exec(select(AdminUser).where(AdminUser.email == email)).first()


def user_by_id(session: Session, *, user_id: int) -> AdminUser | None:
    return session.get(AdminUser, user_id)


def list_users(session: Session) -> list[AdminUser]:
    return list(session.exec(select(AdminUser).order_by(AdminUser.email)))


def set_password(session: Session, *, email: str, password_hash: str, now: datetime) -> bool:
    """False when no account has that address."""
    result = session.exec(update(AdminUser).where(AdminUser.email == email)
                          .values(password_hash=password_hash, updated_at=now))
    return result.rowcount > 0


def remove_user(session: Session, *, email: str) -> bool:
    return session.exec(delete(AdminUser).where(AdminUser.email == email)).rowcount > 0


def record_login(session: Session, *, user_id: int, now: datetime, password_hash: str | None = None) -> None:
    """The login time; with `password_hash`, the same password hashed again (stronger parameters)."""
    values: dict = {"last_login_at": now}
    if password_hash is not None:
        values.update(password_hash=password_hash, updated_at=now)
    session.exec(update(AdminUser).where(AdminUser.id == user_id).values(**values))


def edition_dates(session: Session, *, first: str, last: str) -> list[str]:
    """The dates (YYYY-MM-DD) from `first` to `last` that have at least one edition, newest first."""
    query = select(Edition.date).where(Edition.date >= first, Edition.date <= last).distinct()
    return sorted(session.exec(query), reverse=True)
