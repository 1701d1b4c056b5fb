"""`digest admin`: the console's accounts (`operations.admin`). A password is never an argument (it would stay
in the shell's history and in `ps`): it is read from DIGEST_ADMIN_PASSWORD, else one line of standard input,
prompted for without echo when standard input is a terminal."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from digest.cli.base import app, DigestGroup, emit_json, lazy, now_utc
from digest.errors import InputError
ops = lazy("digest.operations.admin")

PASSWORD_VARIABLE = "DIGEST_ADMIN_PASSWORD"

admin_app = typer.Typer(cls=DigestGroup, no_args_is_help=True,
                        help="The operator's console (/admin of `digest serve`): its accounts.")
app.add_typer(admin_app, name="admin")

Email = Annotated[str, typer.Argument(help="The account's email address.")]


def read_password() -> str:
    """DIGEST_ADMIN_PASSWORD, else one line of standard input (a terminal: typed twice, not shown)."""
    if PASSWORD_VARIABLE in os.environ:
        return os.environ[PASSWORD_VARIABLE]
    if sys.stdin is not None and sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat it: ") != first:
            raise InputError("password: the two entries differ")
        return first
    line = sys.stdin.readline() if sys.stdin is not None else ""
    if not line:
        raise InputError(f"password: none given (pipe one line on standard input or set {PASSWORD_VARIABLE})")
    return line.rstrip("\r\n")


@admin_app.command("add-user")
def add_user(ctx: typer.Context, email: Email,
             role: Annotated[str, typer.Option("--role", help="viewer (looks), editor (steers editions) or "
                                                              "admin (manages readers and accounts).")] = "viewer"):
    """Add a console account; its password comes from standard input or DIGEST_ADMIN_PASSWORD."""
    ops.check_role(role)
    added = ops.add_user(ctx.obj.settings, email, role=role, password=read_password(), now=now_utc())
    typer.echo(f"added {added.email} ({added.role})")


@admin_app.command("set-password")
def set_password(ctx: typer.Context, email: Email):
    """Change an account's password (from standard input or DIGEST_ADMIN_PASSWORD); its sessions end."""
    address = ops.set_password(ctx.obj.settings, email, password=read_password(), now=now_utc())
    typer.echo(f"password changed for {address}; its sessions have ended")


@admin_app.command("remove-user")
def remove_user(ctx: typer.Context, email: Email):
    """Remove a console account; its sessions end."""
    typer.echo(f"removed {ops.remove_user(ctx.obj.settings, email)}")


@admin_app.command("list-users")
def list_users(ctx: typer.Context,
               json_out: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False):
    """List the console's accounts: email, role, last login."""
    users = ops.list_users(ctx.obj.settings)
    if json_out:
        emit_json([u.doc() for u in users])
        return
    for user in users:
        last = user.last_login_at.strftime("%Y-%m-%d %H:%M UTC") if user.last_login_at else "never"
        typer.echo(f"{user.email}\t{user.role}\tlast login {last}")
