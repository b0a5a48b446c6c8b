"""The staff side of the service: accounts, the audit log of every change, worker reports.

All of it lives in one SQLite database beside the store (``instance/admin.sqlite``, see
:mod:`geoservice.admin.db`), or in tables of their own in the PostgreSQL database of
``STORE_URL``, never in the store's layers: a login or a report must not change
the store's revision, which clears the answer caches and makes the engines re-read.
Framework-free; the Flask adapter is :mod:`geoservice.web.auth` and :mod:`geoservice.web.admin`.
"""

from geoservice.admin.accounts import ROLES, Accounts, User
from geoservice.admin.audit import SYSTEM_USER, Actor, Journal, acting
from geoservice.admin.db import Database, PgDatabase, open_database
from geoservice.admin.reports import PROBLEMS, Report, Reports

__all__ = [
    "PROBLEMS",
    "ROLES",
    "SYSTEM_USER",
    "Accounts",
    "Actor",
    "Database",
    "Journal",
    "PgDatabase",
    "Report",
    "Reports",
    "User",
    "acting",
    "open_database",
]
