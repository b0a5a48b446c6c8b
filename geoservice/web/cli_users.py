"""``flask --app app users ...``: staff accounts and their API tokens on the command line.

Passwords are read from a hidden prompt (asked twice) or, with ``--password-stdin``, from
the first line of standard input (for scripts); they never appear in the arguments.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click
from flask.cli import AppGroup

from geoservice.admin import ROLES
from geoservice.errors import ParameterError
from geoservice.store.towns import Towns
from geoservice.web import get_store
from geoservice.web.auth import get_staff

users_cli = AppGroup("users", help="工作人员账号与 API 令牌 / Staff accounts and API tokens.")


@contextmanager
def _refused() -> Iterator[None]:
    """A refused command: its bilingual message and exit status 1, nothing changed."""
    try:
        yield
    except ParameterError as exc:
        raise click.ClickException(exc.message) from exc


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(
        click.prompt("密码 / Password", hide_input=True, confirmation_prompt="再输入一次 / Repeat")
    )


def _towns(values: tuple[str, ...]) -> tuple[str, ...]:
    """Town codes from codes or names (the one town resolver)."""
    if not values:
        return ()
    codes = Towns.from_frame(get_store().read("towns")).codes(list(values), "--town")
    return tuple(codes or ())


_town_option = click.option(
    "--town",
    "towns",
    multiple=True,
    help="乡镇编辑负责的乡镇（代码或名称，可重复）/ a town_editor's town (code or name; repeat).",
)
_stdin_option = click.option(
    "--password-stdin", is_flag=True, help="从标准输入读取密码 / Read the password from stdin."
)


def _command(name: str, help_: str) -> Callable[[Callable[..., Any]], Any]:
    return users_cli.command(name, help=help_)


@_command("create", "新建账号 / Create an account.")
@click.argument("name")
@click.option("--role", type=click.Choice(list(ROLES)), required=True)
@_town_option
@_stdin_option
def create(name: str, role: str, towns: tuple[str, ...], password_stdin: bool) -> None:
    with _refused():
        codes = _towns(towns)
        password = _password(password_stdin)
        user = get_staff().accounts.create(name, role, password, codes)
    click.echo(f"已创建 {user.name}（{user.role_label}）/ created {user.name} ({user.role})")


@_command("list", "列出账号 / List the accounts.")
def list_() -> None:
    for user in get_staff().accounts.all():
        d = user.to_dict()
        state = "停用 disabled" if d["disabled"] else ("锁定 locked" if d["locked"] else "正常 ok")
        towns = ",".join(d["towns"]) or "-"
        click.echo(f"{user.name}\t{user.role}\t{towns}\t{state}\t{user.created_at}")


@_command("disable", "停用账号（会话与令牌随即失效）/ Disable an account.")
@click.argument("name")
def disable(name: str) -> None:
    with _refused():
        get_staff().accounts.update(name, disabled=True)
    click.echo(f"已停用 {name} / disabled {name}")


@_command("enable", "重新启用账号 / Enable an account again.")
@click.argument("name")
def enable(name: str) -> None:
    with _refused():
        get_staff().accounts.update(name, disabled=False)
    click.echo(f"已启用 {name} / enabled {name}")


@_command("set", "修改角色或乡镇 / Change an account's role or towns.")
@click.argument("name")
@click.option("--role", type=click.Choice(list(ROLES)))
@_town_option
def set_(name: str, role: str | None, towns: tuple[str, ...]) -> None:
    with _refused():
        user = get_staff().accounts.update(name, role=role, towns=_towns(towns) or None)
    click.echo(f"{user.name}：{user.role_label} {','.join(user.towns)}")


@_command("reset", "重设密码（解除锁定，结束会话）/ Set a new password.")
@click.argument("name")
@_stdin_option
def reset(name: str, password_stdin: bool) -> None:
    with _refused():
        get_staff().accounts.get(name)
        get_staff().accounts.set_password(name, _password(password_stdin))
    click.echo(f"已重设 {name} 的密码 / new password set for {name}")


@_command("token", "生成 API 令牌（只显示这一次）/ Print a new API token, once.")
@click.argument("name")
@click.option("--label", default="", help="令牌用途 / What the token is for.")
def token(name: str, label: str) -> None:
    with _refused():
        secret = get_staff().accounts.issue_token(name, label)
    click.echo(
        "新令牌只显示这一次，请妥善保存 / the token is shown this once; keep it safe:", err=True
    )
    click.echo(secret)


@_command("tokens", "列出账号的令牌 / List an account's tokens.")
@click.argument("name")
def tokens(name: str) -> None:
    with _refused():
        rows = get_staff().accounts.tokens(name)
    for t in rows:
        state = f"revoked {t['revoked_at']}" if t["revoked_at"] else "active"
        click.echo(
            f"{t['id']}\t{t['label'] or '-'}\t{t['created_at']}\t{t['last_used'] or '-'}\t{state}"
        )


@_command("revoke", "撤销令牌 / Revoke a token.")
@click.argument("name")
@click.argument("token_id", type=int)
def revoke(name: str, token_id: int) -> None:
    with _refused():
        get_staff().accounts.revoke_token(name, token_id)
    click.echo(f"已撤销令牌 {token_id} / revoked token {token_id}")
