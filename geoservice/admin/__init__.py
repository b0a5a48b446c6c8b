"""The staff side of the service: accounts, the audit log of every change, worker reports.

All of it lives in one SQLite database beside the store (``instance/admin.sqlite``, see
:mod:`geoservice.admin.db`), never in the GeoPackage: a login or a report must not change
the store's revision, which clears the answer caches and makes the engines re-read.
Framework-free; the Flask adapter is :mod:`geoservice.web.auth` and :mod:`geoservice.web.admin`.
"""

from geoservice.admin.accounts import ROLES, Accounts, User
from geoservice.admin.audit import SYSTEM_USER, Actor, Journal, acting
from geoservice.admin.db import Database
from geoservice.admin.reports import PROBLEMS, Report, Reports

__all__ = [
    "PROBLEMS",
    "ROLES",
    "SYSTEM_USER",
    "Accounts",
    "Actor",
    "Database",
    "Journal",
    "Report",
    "Reports",
    "User",
    "acting",
]
