"""Back office part: import and export of stations and sites (``/admin/files``).

Export, for every member of staff: a layer as XLSX or CSV with Chinese or English headers
(:func:`geoservice.store.catalog.export_file` into a temporary file, sent as a download).

Import, for admins and editors only: a town_editor may not, as an import changes many towns
at once. The uploaded file is kept in the instance folder (``UPLOAD_DIR``, by default
``uploads`` beside the store) under a random token, bound to the session that uploaded it:
no other user or login can see or apply it, and no path ever comes from the client. The
import always runs as a dry run first and shows its report, or every row error as the CLI
lists them; "应用" then imports exactly that file with exactly those options, all or
nothing, as the logged-in user by ``page``, so that the audit log records every change. An
upload is removed once applied or cancelled, and after `UPLOAD_TTL`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import re
import secrets
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from flask import Response, current_app, flash, redirect, request, send_file, session, url_for
from werkzeug.datastructures import FileStorage

from geoservice import maps
from geoservice import params as p
from geoservice.admin import User
from geoservice.errors import (
    AccessError,
    BudgetError,
    MovesNeedConfirmationError,
    ParameterError,
    excerpt,
)
from geoservice.hours import TZ
from geoservice.store import catalog
from geoservice.store.tables import FORMATS, MAX_FILE_BYTES, MAX_REPORTED_ERRORS, FileFormatError
from geoservice.store.validate import ValidationError
from geoservice.web import get_store
from geoservice.web.admin import as_page, bp, page, staff_required, user
from geoservice.web.admin.log import LAYER_LABELS

#: Seconds an uploaded file waits to be applied; it is removed after.
UPLOAD_TTL = 3600
#: Most uploads one session keeps waiting (the oldest goes first).
MAX_PENDING = 5
#: Roles that may import (imports change many towns at once: not a town_editor).
IMPORT_ROLES = ("admin", "editor")
EXPORT_FORMATS = {"xlsx": "Excel（XLSX）", "csv": "CSV（UTF-8）"}
HEADER_LABELS = {"zh": "中文表头", "en": "英文表头"}
MODE_LABELS = {
    "append": "追加：只新增记录（编号已存在的行报错）",
    "upsert": "更新或追加：编号已存在的记录按文件更新，其余新增",
    "replace": "替换：文件成为整个图层，文件中没有的记录将被删除",
}
#: Longest file name kept (characters), for display and in the upload folder.
MAX_NAME_CHARS = 100

_SESSION_KEY = "geoservice_uploads"
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{32}")
_META, _CLAIMED = "upload.json", "upload.claimed"
_UNSAFE_NAME_RE = re.compile(r"[^\w.()\- ]")
_STORED_STEM_CHARS = 60  # at most 4 bytes each in UTF-8
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What errors name.
_FILE, _TOKEN, _ROLE = "file", "token", "role"


@dataclass(frozen=True)
class ExportQuery:
    """What ``/admin/files/export`` writes."""

    layer: str = p.param(p.read_choice(LAYER_LABELS), "stations or sites", default="stations")
    format: str = p.param(p.read_choice(EXPORT_FORMATS), "xlsx or csv", default="xlsx")
    headers: str = p.param(p.read_choice(HEADER_LABELS), "zh or en headers", default="zh")
    crs: str = p.param(p.read_crs(), "the coordinates written", default="wgs84")


@dataclass(frozen=True)
class ImportForm:
    """The options of an import as the upload form sends them."""

    layer: str = p.param(p.read_choice(LAYER_LABELS), "stations or sites")
    mode: str = p.param(p.read_choice(MODE_LABELS), "append, upsert or replace", default="append")
    # None: the CRS its headers name (经度(GCJ02)), else WGS84; a conflicting one is refused.
    crs: str | None = p.param(p.read_crs(), "the file's coordinates", default=None)
    allow_outside: bool = p.param(p.read_flag(), "accept points outside", default=False)
    allow_duplicates: bool = p.param(p.read_flag(), "import likely duplicates", default=False)


@dataclass(frozen=True)
class Upload:
    """A file waiting to be imported: its folder, its name and its options."""

    token: str
    folder: Path
    filename: str
    user_id: int
    created: float
    form: ImportForm

    @property
    def path(self) -> Path:
        """The stored file (named after the user's file, so that messages name it)."""
        return self.folder / _stored_name(self.filename)

    @property
    def created_at(self) -> str:
        """When it was uploaded, 北京时间."""
        return dt.datetime.fromtimestamp(self.created, TZ).strftime("%Y-%m-%d %H:%M")


@dataclass
class Outcome:
    """What an import did or would do: its report, or why it imports nothing."""

    report: catalog.ImportReport | None = None
    problem: str = ""
    #: Row errors as the CLI lists them (at most MAX_REPORTED_ERRORS), and how many more.
    errors: list[str] = field(default_factory=list)
    more: int = 0
    status: int = 200


# -- the library calls (one place each, so that new options are added in one place) ----------


def _export(query: ExportQuery, path: Path) -> int:
    """Write the layer to ``path`` (the format from its extension); the row count."""
    return catalog.export_file(get_store(), query.layer, path, headers=query.headers, crs=query.crs)


def _import(upload: Upload, *, dry_run: bool, confirm: bool) -> catalog.ImportReport:
    """Import (or, with ``dry_run``, check) the uploaded file with its options;
    ``confirm``: the moves were checked."""
    form = upload.form
    options = catalog.ImportOptions(
        mode=form.mode,
        source_crs=form.crs,
        allow_outside=form.allow_outside,
        allow_duplicates=form.allow_duplicates,
        dry_run=dry_run,
        confirm_moves=confirm,
    )
    return catalog.import_file(get_store(), form.layer, upload.path, options)


def _run(upload: Upload, *, dry_run: bool, confirm: bool = False) -> Outcome:
    try:
        report = _import(upload, dry_run=dry_run, confirm=confirm)
    except MovesNeedConfirmationError as exc:
        return Outcome(report=exc.report, problem=str(exc), status=409)
    except ValidationError as exc:
        return Outcome(
            problem=str(exc),
            errors=[str(e) for e in exc.errors[:MAX_REPORTED_ERRORS]],
            more=max(0, len(exc.errors) - MAX_REPORTED_ERRORS),
            status=422,
        )
    except (FileFormatError, BudgetError, ValueError) as exc:
        return Outcome(problem=str(exc), status=422)
    return Outcome(report=report)


# -- uploads ----------------------------------------------------------------------------------


def _uploads() -> Path:
    folder = Path(
        current_app.config.get("UPLOAD_DIR")
        or Path(current_app.config["STORE_PATH"]).parent / "uploads"
    )
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def _display_name(raw: str) -> str:
    """The user's file name as shown: no folders, no control characters, cut."""
    name = _CONTROL_RE.sub("", raw.replace("\\", "/").rsplit("/", 1)[-1]).strip()
    suffix = Path(name).suffix
    if len(name) > MAX_NAME_CHARS:
        name = name[: MAX_NAME_CHARS - len(suffix)] + suffix
    return name


def _stored_name(name: str) -> str:
    """The file name in the upload folder: the user's, with only safe characters, short
    enough in bytes for any file system (255)."""
    suffix = Path(name).suffix.lower()
    stem = _UNSAFE_NAME_RE.sub("_", Path(name).stem).strip(" .")[:_STORED_STEM_CHARS]
    return (stem or "upload") + suffix


def _size(stream: IO[bytes]) -> int:
    """The uploaded file's size (Werkzeug keeps uploads in seekable files)."""
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def _checked_file(file: FileStorage | None) -> tuple[FileStorage, str]:
    """The uploaded file and its display name; ParameterError when it cannot be imported."""
    if file is None or not file.filename:
        raise ParameterError(_FILE, "请选择要导入的文件", "choose a file to import")
    name = _display_name(file.filename)
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        kinds = "、".join(sorted(FORMATS))
        raise ParameterError(
            _FILE,
            f"不支持的文件类型 {excerpt(suffix or name)}：请上传 {kinds} 文件",
            f"unsupported file type {excerpt(suffix or name)}: upload a {', '.join(FORMATS)} file",
            status=415,
        )
    size = _size(file.stream)
    limit = MAX_FILE_BYTES // 2**20
    if size > MAX_FILE_BYTES:
        raise ParameterError(
            _FILE,
            f"文件「{name}」有 {size / 2**20:.1f} MB，超过 {limit} MB 上限；请拆分后分批导入",
            f"the file is {size / 2**20:.1f} MB, over the {limit} MB limit; split it",
            status=413,
        )
    if size == 0:
        raise ParameterError(_FILE, "文件是空的", "the file is empty")
    return file, name


def _save(file: FileStorage | None, form: ImportForm, owner: User) -> Upload:
    """Keep an upload under a new token, bound to this session."""
    file, name = _checked_file(file)
    _sweep()
    token = secrets.token_urlsafe(24)
    upload = Upload(token, _uploads() / token, name, owner.id, time.time(), form)
    upload.folder.mkdir(mode=0o700)
    file.save(upload.path)
    meta = {
        "user_id": owner.id,
        "filename": name,
        "created": upload.created,
        "options": asdict(form),
    }
    # Written last and atomically: a folder without it is no upload (a crash mid-way).
    partial = upload.folder / f"{_META}.tmp"
    partial.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, upload.folder / _META)
    tokens = [t for t in _session_tokens() if (_uploads() / t).is_dir()]
    for old in tokens[: max(0, len(tokens) - MAX_PENDING + 1)]:
        _remove(old)
    session[_SESSION_KEY] = [*tokens[-(MAX_PENDING - 1) :], token]
    return upload


def _gone() -> ParameterError:
    return ParameterError(
        _TOKEN,
        "找不到待导入的文件：它已应用或已取消，上传已超过 1 小时，或不是在本次登录中上传的。"
        "请重新上传",
        "no such upload: it was applied or cancelled, is over an hour old, or was uploaded "
        "in another login; upload it again",
        status=404,
    )


def _read_meta(folder: Path) -> dict[str, Any] | None:
    try:
        meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) else None


def _pending(token: str) -> Upload:
    """The upload ``token`` of this session and user, waiting (else ParameterError)."""
    if token not in _session_tokens():
        raise _gone()
    folder = _uploads() / token
    meta = _read_meta(folder)
    if meta is None:
        if (folder / _CLAIMED).exists():
            zh, en = "这个文件正在导入，请稍候查看修改记录", "this file is being imported"
            raise ParameterError(_TOKEN, zh, en, status=409)
        raise _gone()
    if meta.get("user_id") != user().id:
        raise _gone()
    created = float(meta.get("created", 0))
    if time.time() - created > UPLOAD_TTL:
        _remove(token)
        raise _gone()
    form = p.parse_values(ImportForm, meta.get("options") or {})
    return Upload(token, folder, str(meta.get("filename", "")), user().id, created, form)


def _claim(upload: Upload) -> None:
    """Hold the upload for one apply, so that a second apply of it (a double click) finds it
    gone; :func:`_release` gives it back when the apply imported nothing."""
    try:
        os.rename(upload.folder / _META, upload.folder / _CLAIMED)
    except FileNotFoundError as exc:
        raise _gone() from exc


def _release(upload: Upload) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.rename(upload.folder / _CLAIMED, upload.folder / _META)


def _session_tokens() -> list[str]:
    """The tokens of this session's uploads (only well-formed ones: each names a folder)."""
    tokens = session.get(_SESSION_KEY)
    if not isinstance(tokens, list):
        return []
    return [t for t in tokens if isinstance(t, str) and _TOKEN_RE.fullmatch(t)]


def _remove(token: str) -> None:
    """Delete an upload's folder and forget it in the session."""
    if _TOKEN_RE.fullmatch(token):
        shutil.rmtree(_uploads() / token, ignore_errors=True)
    session[_SESSION_KEY] = [t for t in _session_tokens() if t != token]


def _sweep() -> None:
    """Remove the uploads of every session that waited longer than UPLOAD_TTL."""
    folder = _uploads()
    deadline = time.time() - UPLOAD_TTL
    for entry in folder.iterdir():
        if not (entry.is_dir() and _TOKEN_RE.fullmatch(entry.name)):
            continue
        meta = _read_meta(entry)
        created = float(meta.get("created", 0)) if meta else entry.stat().st_mtime
        if created < deadline:
            shutil.rmtree(entry, ignore_errors=True)


def _waiting() -> list[Upload]:
    """This session's uploads still waiting, newest first."""
    found = []
    for token in _session_tokens():
        with contextlib.suppress(ParameterError):
            found.append(_pending(token))
    return found[::-1]


# -- pages ------------------------------------------------------------------------------------


def may_import(who: User) -> bool:
    """Whether ``who`` may import files (not a town_editor: an import changes any town)."""
    return who.role in IMPORT_ROLES and not who.disabled


def _refusal() -> AccessError:
    return AccessError(
        _ROLE,
        "乡镇编辑不能导入文件：导入会同时修改多个乡镇的数据。请在“驿站”页逐条修改，"
        "或请管理员、编辑导入",
        "a town editor may not import files (an import changes many towns at once)",
        status=403,
    )


def _files_page(error: ParameterError | None = None, form: Any = None) -> Response:
    return page(
        "admin/files.html",
        status=error.status if error else 200,
        section="files",
        error=error,
        form=form or {},
        may_import=may_import(user()),
        waiting=_waiting(),
        layers=LAYER_LABELS,
        formats=EXPORT_FORMATS,
        header_labels=HEADER_LABELS,
        modes=MODE_LABELS,
        crs_labels=p.CRS_LABELS,
        accept=",".join(FORMATS),
        max_bytes=MAX_FILE_BYTES,
        max_mb=MAX_FILE_BYTES // 2**20,
        text=maps.text,
    )


@bp.get("/files")
@staff_required
def files() -> Response:
    """Export a layer; upload a file to import (admins and editors)."""
    _sweep()
    return _files_page()


@bp.get("/files/export")
@staff_required
def files_export() -> Response:
    """A layer as an XLSX or CSV download."""
    query = p.parse_query(ExportQuery, request.args.to_dict(flat=False))
    with tempfile.TemporaryDirectory(prefix="geoservice-export-") as folder:
        path = Path(folder) / f"{query.layer}.{query.format}"
        _export(query, path)
        data = path.read_bytes()
    stamp = dt.datetime.now(TZ).strftime("%Y%m%d-%H%M")
    response = send_file(
        io.BytesIO(data),
        as_attachment=True,
        download_name=f"{query.layer}-{query.headers}-{query.crs}-{stamp}.{query.format}",
        max_age=0,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/files/upload")
@staff_required
def files_upload() -> Response:
    """Keep the uploaded file and show its dry run."""
    if not may_import(user()):
        return _files_page(_refusal(), request.form)
    try:
        # An empty choice (the CRS "from the headers") is no value.
        values = {k: v for k, v in request.form.to_dict().items() if v != ""}
        form = p.parse_values(ImportForm, values)
        upload = _save(request.files.get(_FILE), form, user())
    except ParameterError as exc:
        return _files_page(exc, request.form)
    return redirect(url_for("admin.files_check", token=upload.token))  # type: ignore[return-value]


def _report_page(upload: Upload, outcome: Outcome, *, applying: bool) -> Response:
    """The report of a dry run (200, whatever it found: the page is the report), or of an
    apply that imported nothing (its 4xx)."""
    return page(
        "admin/files_report.html",
        status=outcome.status if applying else 200,
        section="files",
        upload=upload,
        outcome=outcome,
        applying=applying,
        layers=LAYER_LABELS,
        modes=MODE_LABELS,
        crs_labels=p.CRS_LABELS,
        shown=MAX_REPORTED_ERRORS,
        text=maps.text,
    )


@bp.get("/files/upload/<token>")
@staff_required
def files_check(token: str) -> Response:
    """The dry run of an upload: what applying it would do, or every problem."""
    if not may_import(user()):
        return _files_page(_refusal())
    try:
        upload = _pending(token)
    except ParameterError as exc:
        return _files_page(exc)
    return _report_page(upload, _run(upload, dry_run=True), applying=False)


@bp.post("/files/upload/<token>/apply")
@staff_required
def files_apply(token: str) -> Response:
    """Import the upload as checked, all or nothing, as the user by page."""
    if not may_import(user()):
        return _files_page(_refusal())
    try:
        upload = _pending(token)
        _claim(upload)
    except ParameterError as exc:
        return _files_page(exc)
    outcome = Outcome(problem="not run", status=500)
    try:
        with as_page():
            outcome = _run(upload, dry_run=False, confirm=request.form.get("confirm_moves") == "1")
    finally:
        if outcome.report is None or not outcome.report.written:
            _release(upload)  # nothing imported: the upload may be tried again
    report = outcome.report
    if report is None or not report.written:  # refused now (or moves not confirmed)
        return _report_page(upload, outcome, applying=True)
    _remove(token)
    flash(
        f"已导入「{upload.filename}」：新增 {len(report.added)}，更新 {len(report.updated)}，"
        f"未变 {len(report.unchanged)}，删除 {len(report.removed)} 条"
        f"{LAYER_LABELS[upload.form.layer]}记录",
        "imported",
    )
    return redirect(url_for("admin.files"))  # type: ignore[return-value]


@bp.post("/files/upload/<token>/cancel")
@staff_required
def files_cancel(token: str) -> Response:
    """Drop an upload of this session."""
    try:
        upload = _pending(token)
    except ParameterError:
        return redirect(url_for("admin.files"))  # type: ignore[return-value]
    _remove(upload.token)
    flash(f"已取消导入「{upload.filename}」，上传的文件已删除", "ok")
    return redirect(url_for("admin.files"))  # type: ignore[return-value]
