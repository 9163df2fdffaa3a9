"""What a self-check returns: a :class:`Report`, readable as text and in Jupyter."""

from dataclasses import dataclass, field
from html import escape

from ..mistakes import mistake

# What the error numbers in a report mean (shown under every table of errors).
ERROR_MEANING = (
    "error: largest |yours - correct| / largest |correct| within each feature "
    "(each example for layer and group norm), worst one shown; < 1e-12 is round-off"
)


def format_error(value):
    """An error for display: two significant digits; anything below 1e-12 is round-off."""
    if value is None:
        return "-"
    if value != value:  # NaN
        return "nan"
    if value == float("inf"):
        return "inf"
    if value < 1e-12:
        return "< 1e-12"
    return f"{value:.2g}"


@dataclass
class Finding:
    """One recognised mistake: its catalogue id and what the check saw.

    id : str, a :mod:`cs231n_norm.mistakes` id
    seen : str, the evidence, with the numbers measured on your functions
    """

    id: str
    seen: str

    @property
    def entry(self):
        return mistake(self.id)

    @property
    def title(self):
        return self.entry.title

    @property
    def cause(self):
        return self.entry.cause

    @property
    def hint(self):
        return self.entry.hint


@dataclass
class Report:
    """The result of one self-check.

    Attributes
    ----------
    exercise : str, what was checked, e.g. 'batchnorm_forward'
    status : 'passed', 'failed' or 'not implemented'
    findings : list of Finding, most likely first
    errors : dict quantity -> {probe label -> error}: the measured errors (see ERROR_MEANING);
        None where the quantity could not be compared on that probe
    notes : list of str, anything else worth saying (an unnamed mismatch, what was
        not checked because something before it failed, the classic check's number)
    tolerance : float, the largest error that passes (errors above it are highlighted)
    """

    exercise: str
    status: str
    findings: list = field(default_factory=list)
    errors: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    tolerance: float = 1.2e-4

    @property
    def passed(self):
        return self.status == "passed"

    @property
    def mistakes(self):
        """The catalogue ids of the mistakes found, most likely first."""
        return [f.id for f in self.findings]

    def __bool__(self):
        return self.passed

    # -------------------------------------------------------------- plain text

    def _headline(self):
        if self.status == "passed":
            return f"{self.exercise}: passed. Every output and gradient matches the reference."
        if self.status == "not implemented":
            return f"{self.exercise}: not implemented yet."
        if self.findings:
            count = len(self.findings)
            return f"{self.exercise}: not yet right. {count} likely mistake{'s' if count > 1 else ''} found:"
        return f"{self.exercise}: not yet right, and the symptoms match no mistake in the catalogue."

    def _error_rows(self):
        """Header (input, then one column per quantity) and one row per probe input."""
        probes = []
        for by_probe in self.errors.values():
            for label in by_probe:
                if label not in probes:
                    probes.append(label)
        quantities = list(self.errors)
        rows = [[label] + [self.errors[q].get(label, "") for q in quantities] for label in probes]
        return ["input"] + quantities, rows

    def _cell_text(self, value):
        return value if isinstance(value, str) else format_error(value)

    def __str__(self):
        lines = [self._headline()]
        for number, finding in enumerate(self.findings, 1):
            lines += [
                f"  {number}. [{finding.id}] {finding.title}",
                f"     seen:          {finding.seen}",
                f"     likely cause:  {finding.cause}",
                f"     where to look: {finding.hint}",
            ]
        for note in self.notes:
            lines.append(f"  note: {note}")
        if self.errors:
            header, rows = self._error_rows()
            lines.append("  measured errors:")
            rows = [[self._cell_text(cell) for cell in row] for row in rows]
            widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
            for row in [header] + rows:
                lines.append("    " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
            lines.append(f"    ({ERROR_MEANING})")
        return "\n".join(lines)

    def __repr__(self):
        return str(self)

    # -------------------------------------------------------------- Jupyter

    def _repr_html_(self):
        colour = {"passed": "#1a7f37", "not implemented": "#6e7781", "failed": "#b35900"}[self.status]
        mark = {"passed": "&#10004;", "not implemented": "&#8230;", "failed": "&#10008;"}[self.status]
        parts = [
            f'<div style="border-left: 4px solid {colour}; padding: 0.3em 0.8em; margin: 0.3em 0;">',
            f'<p style="margin: 0.2em 0;"><b style="color: {colour};">{mark} {escape(self._headline())}</b></p>',
        ]
        if self.findings:
            parts.append('<ol style="margin: 0.2em 0;">')
            for finding in self.findings:
                parts.append(
                    f"<li><b>{escape(finding.title)}</b> <code>{escape(finding.id)}</code>"
                    '<ul style="margin: 0.1em 0;">'
                    f"<li><i>seen:</i> {escape(finding.seen)}</li>"
                    f"<li><i>likely cause:</i> {escape(finding.cause)}</li>"
                    f"<li><i>where to look:</i> {escape(finding.hint)}</li>"
                    "</ul></li>"
                )
            parts.append("</ol>")
        for note in self.notes:
            parts.append(f'<p style="margin: 0.2em 0;"><i>note:</i> {escape(note)}</p>')
        if self.errors:
            header, rows = self._error_rows()
            parts.append("<details><summary>measured errors</summary>")
            parts.append('<table style="font-size: 0.9em;"><tr>')
            parts += [f'<th style="padding: 0 0.8em;">{escape(h)}</th>' for h in header]
            parts.append("</tr>")
            for row in rows:
                cells = [f'<td style="text-align: left; padding: 0 0.8em 0 0;">{escape(row[0])}</td>']
                for value in row[1:]:
                    wrong = not isinstance(value, str) and not value <= self.tolerance  # NaN counts as wrong
                    style = "text-align: right; padding: 0 0.8em;" + (" color: #cf222e; font-weight: bold;" if wrong else "")
                    cells.append(f'<td style="{style}">{escape(self._cell_text(value))}</td>')
                parts.append("<tr>" + "".join(cells) + "</tr>")
            parts.append(f"</table><p style='font-size: 0.85em;'>{escape(ERROR_MEANING)}; "
                         f"above {self.tolerance:.1e} in red</p></details>")
        parts.append("</div>")
        return "".join(parts)
