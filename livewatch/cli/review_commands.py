"""``livewatch serve`` (the review server) and ``livewatch review hash-password`` (for its accounts)."""

from __future__ import annotations

import sys

import click

from livewatch.cli.invocation import CliState, pass_state


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; behind a reverse proxy keep 127.0.0.1 (docs/operations.md).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
@pass_state
def serve(state: CliState, host: str, port: int) -> None:
    """Serve the reports and let reviewers confirm, dismiss and escalate findings in the browser
    (accounts in [review]; sessions signed with $LIVEWATCH_SERVER_SECRET). See docs/review.md."""
    import uvicorn

    from livewatch.review_server import create_app

    settings = state.settings
    if not settings.review.accounts and not settings.review.trusted_header:
        click.echo("warning: no [review] accounts and no trusted_header: nobody can sign in "
                   "(see `livewatch review hash-password`)", err=True)
    click.echo(f"serving {settings.data_dir} on http://{host}:{port}/", err=True)
    # An open page keeps its event stream open: on shutdown, wait for those a few seconds, not forever.
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info", proxy_headers=False,
                timeout_graceful_shutdown=5)


@click.group()
def review() -> None:
    """Reviewer accounts of the review server (livewatch serve)."""


@review.command("hash-password")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (one line).")
def hash_password_command(password_stdin: bool) -> None:
    """Print a salted scrypt hash of a password, for a [[review.accounts]] password_hash."""
    from livewatch.review_server.passwords import hash_password

    if password_stdin:
        line: str = sys.stdin.readline()
        password = line.rstrip("\r\n")
    else:
        password = str(click.prompt("Password", hide_input=True, confirmation_prompt=True))
    if len(password) < 8:
        raise click.UsageError("use a password of at least 8 characters")
    click.echo(hash_password(password))
