"""Staff accounts: roles, argon2 password hashes, lockout after failed logins, API tokens.

Three roles: ``admin`` manages users (and edits everything), ``editor`` edits everything,
``town_editor`` edits only the stations and sites of its towns (:meth:`User.may_edit`, the
one permission rule of every write path). Passwords are hashed with argon2id
(argon2-cffi); API tokens are 256 random bits, stored as their SHA-256 (a slow hash adds
nothing to a secret that cannot be guessed, and a token is checked on every request).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import argon2

from geoservice.admin.db import Connection, StaffDatabase, now
from geoservice.errors import LoginError, ParameterError, excerpt

#: Role → (Chinese label, what it may do).
ROLES: dict[str, str] = {
    "admin": "管理员",
    "editor": "编辑",
    "town_editor": "乡镇编辑",
}
#: Failed logins in a row that lock an account, and for how long (seconds).
MAX_FAILURES = 5
LOCK_SECONDS = 15 * 60
MIN_PASSWORD = 10
MAX_PASSWORD = 256
_NAME_RE = re.compile(r"^[A-Za-z0-9_.@\-\u4e00-\u9fff]{2,40}$")
_TOKEN_PREFIX = "gs_"
# The parameters errors name.
_NAME, _ROLE, _TOWN, _TOKEN = "name", "role", "town", "token"
#: argon2id at RFC 9106's second recommended cost (64 MiB, 3 passes, 4 lanes).
HASHER = argon2.PasswordHasher.from_parameters(argon2.profiles.RFC_9106_LOW_MEMORY)
_hasher = HASHER
# Verified against when the name is unknown, so that the answer takes as long either way;
# made on first use (a hash costs a tenth of a second of every process's start otherwise).
_DUMMY_HASH = ""


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if not _DUMMY_HASH:
        _DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
    return _DUMMY_HASH


@dataclass(frozen=True)
class User:
    """A staff account as the web layer and the write paths see it."""

    id: int
    name: str
    role: str
    towns: tuple[str, ...] = ()
    disabled: bool = False
    locked_until: float = 0.0
    epoch: int = 0
    created_at: str = ""

    @property
    def role_label(self) -> str:
        """The role in Chinese."""
        return ROLES.get(self.role, self.role)

    @property
    def is_admin(self) -> bool:
        """Whether the user manages accounts."""
        return self.role == "admin"

    def may_edit(self, town_code: str) -> bool:
        """Whether the user may change a record of ``town_code`` (the one rule)."""
        if self.disabled:
            return False
        if self.role in ("admin", "editor"):
            return True
        return bool(town_code) and town_code in self.towns

    def to_dict(self) -> dict:
        """JSON-ready, without secrets."""
        return {
            "name": self.name,
            "role": self.role,
            "role_label": self.role_label,
            "towns": list(self.towns),
            "disabled": self.disabled,
            "locked": self.locked_until > time.time(),
            "created_at": self.created_at,
        }


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        name=row["name"],
        role=row["role"],
        towns=tuple(t for t in row["towns"].split(",") if t),
        disabled=bool(row["disabled"]),
        locked_until=float(row["locked_until"]),
        epoch=int(row["epoch"]),
        created_at=row["created_at"],
    )


def check_password(password: str) -> None:
    """Refuse a password that is too short or too long (ParameterError)."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        parameter = "password"
        zh = f"密码长度应为 {MIN_PASSWORD}–{MAX_PASSWORD} 个字符"
        en = f"a password has {MIN_PASSWORD}–{MAX_PASSWORD} characters"
        raise ParameterError(parameter, zh, en)


def _check_name(name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        zh = f"用户名 {excerpt(name)} 无效：2–40 个字母、数字、汉字或 _ . @ -"
        en = f"invalid user name {excerpt(name)}: 2–40 letters, digits, Han characters, _ . @ -"
        raise ParameterError(_NAME, zh, en)


def _check_role(role: str, towns: tuple[str, ...]) -> None:
    if role not in ROLES:
        zh = f"角色应为 {'、'.join(ROLES)}，而不是 {excerpt(role)}"
        en = f"role must be one of {', '.join(ROLES)}, not {excerpt(role)}"
        raise ParameterError(_ROLE, zh, en)
    if role == "town_editor" and not towns:
        zh, en = "乡镇编辑至少需要一个乡镇（--town）", "a town_editor needs at least one town"
        raise ParameterError(_TOWN, zh, en)
    if role != "town_editor" and towns:
        zh, en = "只有乡镇编辑可以指定乡镇", "only a town_editor has towns"
        raise ParameterError(_TOWN, zh, en)


def _keep_an_admin(con: Connection, leaving: User) -> None:
    """Refuse (409) to let the last enabled admin stop being one."""
    others = con.execute(
        "SELECT count(*) FROM users WHERE role = 'admin' AND disabled = 0 AND id != ?",
        (leaving.id,),
    ).fetchone()[0]
    if not others:
        zh = "至少要保留一个启用的管理员：请先让另一位用户成为管理员"
        en = "at least one enabled admin must remain: make another user an admin first"
        raise ParameterError(_ROLE, zh, en, status=409)


def _unknown(name: str) -> ParameterError:
    return ParameterError(
        "name", f"没有用户 {excerpt(name)}", f"no user named {excerpt(name)}", status=404
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Accounts:
    """The accounts of one staff database.

    Parameters
    ----------
    db : Database or PgDatabase
    """

    def __init__(self, db: StaffDatabase) -> None:
        self.db = db

    # -- users ------------------------------------------------------------------------
    def create(self, name: str, role: str, password: str, towns: tuple[str, ...] = ()) -> User:
        """Add a user; town codes must already be resolved by the caller.

        Raises
        ------
        ParameterError
            A bad name, role, towns or password; 409 when the name is taken.
        """
        _check_name(name)
        _check_role(role, towns)
        check_password(password)
        hashed = _hasher.hash(password)
        try:
            with self.db.connect() as con:
                con.execute(
                    "INSERT INTO users(name, role, towns, password, created_at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (name, role, ",".join(towns), hashed, now()),
                )
        except self.db.IntegrityError as exc:
            zh, en = f"用户名 {excerpt(name)} 已存在", f"user {excerpt(name)} already exists"
            raise ParameterError(_NAME, zh, en, status=409) from exc
        return self.get(name)

    def get(self, name: str) -> User:
        """The user named ``name`` (any case); 404 ParameterError when there is none."""
        with self.db.connect() as con:
            row = con.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise _unknown(name)
        return _user(row)

    def by_id(self, user_id: int) -> User | None:
        """The user with ``user_id``, or None."""
        with self.db.connect() as con:
            row = con.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
        return None if row is None else _user(row)

    def all(self) -> list[User]:
        """Every user, by name."""
        with self.db.connect() as con:
            rows = con.execute("SELECT * FROM users ORDER BY name").fetchall()
        return [_user(r) for r in rows]

    def update(
        self,
        name: str,
        *,
        role: str | None = None,
        towns: tuple[str, ...] | None = None,
        disabled: bool | None = None,
    ) -> User:
        """Change a user's role, towns or disabled flag. Disabling (or a new role) ends the
        user's sessions and keeps its tokens from working.

        Raises
        ------
        ParameterError
            A bad role or towns; 404 for an unknown user; 409 when the change would leave
            no enabled admin (the back office's users could no longer be managed).
        """
        user = self.get(name)
        role = user.role if role is None else role
        towns = (user.towns if role == "town_editor" else ()) if towns is None else towns
        _check_role(role, towns)
        flag = user.disabled if disabled is None else disabled
        with self.db.connect() as con:
            if user.is_admin and not user.disabled and (role != "admin" or flag):
                _keep_an_admin(con, user)
            con.execute(
                "UPDATE users SET role = ?, towns = ?, disabled = ?, epoch = epoch + 1,"
                " failures = CASE WHEN ? != 0 THEN failures ELSE 0 END,"
                " locked_until = CASE WHEN ? != 0 THEN locked_until ELSE 0 END WHERE id = ?",
                (role, ",".join(towns), int(flag), int(flag), int(flag), user.id),
            )
        return self.get(name)

    def set_password(self, name: str, password: str) -> User:
        """Give a user a new password; its sessions end and a lock is lifted."""
        check_password(password)
        user = self.get(name)
        with self.db.connect() as con:
            con.execute(
                "UPDATE users SET password = ?, epoch = epoch + 1, failures = 0,"
                " locked_until = 0 WHERE id = ?",
                (_hasher.hash(password), user.id),
            )
        return self.get(name)

    # -- logins -----------------------------------------------------------------------
    def authenticate(self, name: str, password: str) -> User:
        """The user whose name and password these are.

        Five failures in a row lock the account for 15 minutes (even the right password is
        then refused); a success clears the count.

        Raises
        ------
        LoginError
            Wrong name or password (one message for both), disabled or locked.
        """
        with self.db.connect() as con:
            row = con.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
        if row is None or len(password) > MAX_PASSWORD:
            _verify(_dummy_hash(), password[:MAX_PASSWORD])
            raise _wrong()
        user = _user(row)
        if user.locked_until > time.time():
            raise _locked(user.locked_until)
        if not _verify(row["password"], password):
            self._failed(user)
        if user.disabled:
            zh, en = "该账号已停用", "this account is disabled"
            raise LoginError(zh, en)
        with self.db.connect() as con:
            con.execute("UPDATE users SET failures = 0 WHERE id = ?", (user.id,))
            if _hasher.check_needs_rehash(row["password"]):
                con.execute(
                    "UPDATE users SET password = ? WHERE id = ?",
                    (_hasher.hash(password), user.id),
                )
        return user

    def _failed(self, user: User) -> None:
        with self.db.connect() as con:
            failures = con.execute(
                "UPDATE users SET failures = failures + 1 WHERE id = ? RETURNING failures",
                (user.id,),
            ).fetchone()[0]
            if failures >= MAX_FAILURES:
                until = time.time() + LOCK_SECONDS
                con.execute(
                    "UPDATE users SET failures = 0, locked_until = ? WHERE id = ?",
                    (until, user.id),
                )
        if failures >= MAX_FAILURES:
            raise _locked(until)
        raise _wrong()

    # -- tokens -----------------------------------------------------------------------
    def issue_token(self, name: str, label: str = "") -> str:
        """A new API token for ``name``: returned once, stored only as its hash."""
        user = self.get(name)
        token = _TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.db.connect() as con:
            con.execute(
                "INSERT INTO tokens(user_id, digest, label, created_at) VALUES (?, ?, ?, ?)",
                (user.id, _digest(token), label[:80], now()),
            )
        return token

    def tokens(self, name: str) -> list[dict]:
        """A user's tokens (never the secret): id, label, created, last used, revoked."""
        user = self.get(name)
        with self.db.connect() as con:
            rows = con.execute(
                "SELECT id, label, created_at, last_used, revoked_at FROM tokens"
                " WHERE user_id = ? ORDER BY id",
                (user.id,),
            ).fetchall()
        return [dict(r) for r in rows]

    def revoke_token(self, name: str, token_id: int) -> None:
        """Revoke one of ``name``'s tokens (404 ParameterError when it has no such token)."""
        user = self.get(name)
        with self.db.connect() as con:
            n = con.execute(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND user_id = ?"
                " AND revoked_at IS NULL",
                (now(), token_id, user.id),
            ).rowcount
        if not n:
            zh, en = f"没有编号为 {token_id} 的有效令牌", f"no active token {token_id}"
            raise ParameterError(_TOKEN, zh, en, status=404)

    def user_for_token(self, token: str) -> User | None:
        """The enabled user a token belongs to, or None (unknown, revoked, disabled)."""
        if not token.startswith(_TOKEN_PREFIX) or len(token) > 100:
            return None
        with self.db.connect() as con:
            row = con.execute(
                "SELECT users.*, tokens.id AS token_id FROM tokens JOIN users"
                " ON users.id = tokens.user_id WHERE digest = ? AND revoked_at IS NULL",
                (_digest(token),),
            ).fetchone()
            if row is None or row["disabled"]:
                return None
            con.execute("UPDATE tokens SET last_used = ? WHERE id = ?", (now(), row["token_id"]))
        return _user(row)


def _verify(hashed: str, password: str) -> bool:
    try:
        return _hasher.verify(hashed, password)
    except (argon2.exceptions.VerificationError, argon2.exceptions.InvalidHashError):
        return False


def _wrong() -> LoginError:
    return LoginError("用户名或密码错误", "wrong user name or password")


def _locked(until: float) -> LoginError:
    minutes = max(1, round((until - time.time()) / 60))
    return LoginError(
        f"连续登录失败 {MAX_FAILURES} 次，账号已锁定，请 {minutes} 分钟后再试",
        f"{MAX_FAILURES} failed logins in a row: the account is locked for {minutes} min",
        locked_until=until,
    )
