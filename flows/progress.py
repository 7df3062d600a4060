"""Progress of a streamed run, per page group: one Prefect progress artifact and one run-log line.

The artifact (key `<form>-progress`, e.g. `sal-outstock-progress`) is what the Prefect UI shows while a long
run goes on; the log line is what the CLI prints (on stderr, with the rest of the run log). Jushuitan's
data_count covers only the current time window of a walk, so no total is known ahead: the percent stays 0
while the run goes and reaches 100 when it ends, and the counts carry the news.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.utilities.annotations import quote


class RunProgress:
    """Counts pages and documents as groups arrive, and bills saved and documents held as they are known."""

    def __init__(self, form_id: str) -> None:
        self.form_id = form_id
        self.key = f"{form_id.lower().replace('_', '-')}-progress"
        self.pages = self.documents = self.groups = 0
        self._started = time.monotonic()
        self._log = get_run_logger()
        self._artifact = create_progress_artifact(0.0, key=self.key, description=self._text(saved=0, held=0))

    def counting(self, groups: Iterable[quote[list[list[dict]]]]) -> Iterator[quote[list[list[dict]]]]:
        """`groups`, unchanged, counted as they pass."""
        for group in groups:
            pages = group.unquote()
            self.groups += 1
            self.pages += len(pages)
            self.documents += sum(len(page) for page in pages)
            yield group

    def group_done(self, *, saved: int, held: int) -> None:
        """After a group's bills went to the save: one API call, one log line."""
        text = self._text(saved=saved, held=held)
        update_progress_artifact(self._artifact, 0.0, description=text)
        self._log.info("%s group %d: %s", self.form_id, self.groups, text)

    def finish(self, *, saved: int, held: int) -> None:
        text = self._text(saved=saved, held=held)
        update_progress_artifact(self._artifact, 100.0, description=text)
        self._log.info("%s done: %s", self.form_id, text)

    def _text(self, *, saved: int, held: int) -> str:
        seconds = max(time.monotonic() - self._started, 1e-9)
        return (
            f"{self.pages} pages, {self.documents} documents, {saved} bills saved, {held} held, "
            f"{self.documents / seconds:.1f} docs/s"
        )
