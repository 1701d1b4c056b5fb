"""`digest api-keys`: the REST API's keys (`operations.api_keys`). `create` prints the key once, alone on its
last line (`KEY=$(digest api-keys create ... | tail -1)`); the store keeps only its hash."""

from __future__ import annotations

from typing import Annotated

import typer

from digest.cli.base import app, DigestGroup, emit_json, lazy, now_utc
ops = lazy("digest.operations.api_keys")

keys_app = typer.Typer(cls=DigestGroup, no_args_is_help=True,
                       help="The REST API's keys (/api/v1 of `digest serve`).")
app.add_typer(keys_app, name="api-keys")


@keys_app.command("create")
def create(ctx: typer.Context,
           name: Annotated[str, typer.Option("--name", help="A name for the key (who uses it).")],
           scopes: Annotated[str, typer.Option("--scopes", help="Comma-separated: subscribers:read, "
                                               "subscribers:write, subscribers:confirmed, events:write, "
                                               "editions:read, deliveries:read.")]):
    """Make a key; it is printed once, on the last line, and cannot be shown again."""
    made = ops.create_key(ctx.obj.settings, name=name, scopes=scopes, now=now_utc())
    typer.echo(f"created API key {made.info.name} ({','.join(made.info.scopes)}); it is shown once, below:")
    typer.echo(made.key)


@keys_app.command("list")
def list_keys(ctx: typer.Context,
              json_out: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False):
    """List the keys: name, scopes, created, last used, revoked (never the key)."""
    keys = ops.list_keys(ctx.obj.settings)
    if json_out:
        emit_json([k.doc() for k in keys])
        return
    for key in keys:
        used = key.last_used_at.strftime("%Y-%m-%d %H:%M UTC") if key.last_used_at else "never"
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M UTC}" if key.revoked_at else "active"
        typer.echo(f"{key.name}\t{','.join(key.scopes)}\tlast used {used}\t{state}")


@keys_app.command("revoke")
def revoke(ctx: typer.Context, name: Annotated[str, typer.Argument(help="The key's name.")]):
    """Revoke a key: requests with it are refused (401) from now on."""
    typer.echo(f"revoked API key {ops.revoke_key(ctx.obj.settings, name, now=now_utc())}")
