"""The parts pane: the highlighted upload's parts, flagged as the commit plan flags them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from rich.style import Style
from rich.text import Text

from mputui.formatting import age_text, format_size, one_line, part_flag_text
from mputui.s3.commit import CommitPlan, plan_commit
from mputui.s3.models import Part, PartFlags, Upload
from mputui.tui.widgets.virtual_table import VirtualTable


class PartsTable(VirtualTable):
    """Number, size, last modified, ETag and flag of each part."""

    def __init__(self, clock: Callable[[], datetime], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.clock = clock
        self.upload: Upload | None = None
        self.plan: CommitPlan | None = None
        self.rows: tuple[PartFlags, ...] = ()

    def row_count(self) -> int:
        return len(self.rows)

    def show(self, upload: Upload | None, parts: list[Part] | None, message: str = "") -> None:
        """Show ``parts`` of ``upload`` (``None`` with a ``message``: loading, error, nothing selected)."""
        self.upload = upload
        if upload is None or parts is None:
            self.plan = None
        else:
            self.plan = plan_commit(
                upload.bucket,
                upload.key,
                upload.upload_id,
                parts,
                checksum_algorithm=upload.checksum_algorithm,
                checksum_type=upload.checksum_type,
            )
        self.rows = self.plan.flags if self.plan else ()
        self.empty_message = message if parts is None else "no parts uploaded"
        self.cursor = 0
        self.scroll_to(y=0, animate=False)
        self.rows_changed()

    def _widths(self, width: int) -> tuple[int, int, int, int, int]:
        number, size, age, flag = 5, 10, 4, 10
        etag = max(4, width - number - size - age - flag - 4)
        return number, size, age, etag, flag

    def render_header(self, width: int) -> Text:
        n, s, a, e, f = self._widths(width)
        return Text(f"{'#':>{n}} {'size':>{s}} {'mod':>{a}} {'flag':<{f}} {'etag':<{e}}")

    def render_row(self, index: int, line: int, width: int, base: Style) -> Text:
        n, s, a, e, f = self._widths(width)
        row = self.rows[index]
        part = row.part
        flag = part_flag_text(row)
        etag = one_line(part.etag.strip('"'))
        etag = etag if len(etag) <= e else etag[: e - 1] + "…"
        text = Text(style=base)
        text.append(f"{part.part_number:>{n}} {format_size(part.size):>{s}} ")
        text.append(f"{age_text(part.last_modified, self.clock()):>{a}} ", style=self.style("dim"))
        text.append(f"{flag[:f]:<{f}} ", style=self.style("warning"))
        text.append(etag, style=self.style("dim"))
        return text
