"""The progress of a road network import on stderr (``flask network import``, and the
rebuild after ``flask district set``)."""

from __future__ import annotations

import sys
import time

import click
from tqdm import tqdm

from geoservice.network import MODE_LABELS

#: What each step of a network import does (NetworkLibrary.import_file), by step id; a
#: mode's steps are ``build:<mode>`` and ``simplify:<mode>``.
_IMPORT_STEPS = {
    "copy": "复制文件 / copying the file",
    "read": "读取道路 / reading the roads",
    "graph": "建立道路图 / building the road graph",
    "build": "建立{zh}路网 / building the {mode} network",
    "simplify": "简化{zh}路网 / simplifying the {mode} network",
    "save": "写入路网文件 / writing the network files",
}


class ImportProgress:
    """A network import's steps on stderr: one line as each step starts (with the time
    since the start) and the count of ways read at the end of reading; on a terminal, also
    a running count of the ways while the file is read (a tqdm counter)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.step = ""
        self.bar: tqdm | None = None

    def __call__(self, step: str, done: int, total: int) -> None:
        if step != self.step:
            self.close()
            self.step = step
            self.echo(self.describe(step) + " …")
            if step == "read":
                # disable=None: no counter when stderr is not a terminal (a log, a pipe).
                self.bar = tqdm(
                    desc="  已读道路 / ways read",
                    unit="",
                    unit_scale=True,
                    file=sys.stderr,
                    disable=None,
                    leave=False,
                    mininterval=0,  # (told only every 100,000 ways: each is drawn)
                    miniters=1,
                )
        if step == "read" and self.bar is not None:
            self.bar.update(done - self.bar.n)
        if step == "read" and total and done == total:
            self.close()
            self.echo(f"  {done:,} 条道路 / ways")

    @staticmethod
    def describe(step: str) -> str:
        kind, _, mode = step.partition(":")
        text = _IMPORT_STEPS.get(kind, step)
        return text.format(zh=MODE_LABELS.get(mode, mode), mode=mode) if mode else text

    def echo(self, text: str) -> None:
        click.echo(f"[{time.perf_counter() - self.started:6.1f} s] {text}", err=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
