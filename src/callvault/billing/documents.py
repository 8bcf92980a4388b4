"""Invoice documents: CSV (for the institution's accounting systems) and PDF (to file and forward).

The PDF embeds a subset of Noto Sans CJK when the system has it (institution names and descriptions may be
Chinese); without it, the standard Helvetica font is used and non-Latin-1 characters are replaced.
"""

from __future__ import annotations

import csv
import io
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Final

from fpdf import FPDF
from fpdf.enums import TextEmphasis, XPos, YPos
from fpdf.fonts import FontFace

from callvault.billing.schemas import InvoiceDetail

CJK_FONTS: Final = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
)
# Index of "Noto Sans CJK SC" (simplified Chinese) inside the collection.
_SC_IN_COLLECTION: Final = 2
CSV_HEADER: Final = ("invoice", "month", "position", "kind", "description", "quantity", "unit", "unit_price", "amount")


def money(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def invoice_csv(invoice: InvoiceDetail, institution_name: str) -> bytes:
    """UTF-8 with BOM (Excel opens it with the right encoding); exact amounts; a final total row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for line in invoice.lines:
        writer.writerow(
            (
                invoice.number,
                invoice.month,
                line.position,
                line.kind,
                _safe_cell(line.description),
                line.quantity.normalize(),
                line.unit,
                line.unit_price,
                line.amount,
            )
        )
    writer.writerow(
        (invoice.number, invoice.month, "", "total", _safe_cell(institution_name), "", "", "", money(invoice.total))
    )
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _safe_cell(text: str) -> str:
    """Neutralise spreadsheet formulas (CSV injection): a cell must not start with = + - @."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _font(pdf: FPDF) -> str:
    for path in CJK_FONTS:
        if path.exists():
            pdf.add_font("noto", fname=str(path), collection_font_number=_SC_IN_COLLECTION)
            return "noto"
    return "helvetica"


def invoice_pdf(invoice: InvoiceDetail, institution_name: str, operator_name: str) -> bytes:
    pdf = FPDF(orientation="portrait", unit="mm", format="A4")
    pdf.set_title(f"Invoice {invoice.number}")
    pdf.set_creator("CallVault")
    pdf.add_page()
    family = _font(pdf)

    def text(value: str) -> str:
        return value if family != "helvetica" else value.encode("latin-1", "replace").decode("latin-1")

    pdf.set_font(family, size=16)
    pdf.cell(0, 10, text(f"Invoice {invoice.number}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(family, size=10)
    for label, value in (
        ("From", operator_name),
        ("To", institution_name),
        ("Month", invoice.month),
        ("Issued", invoice.created_at.strftime("%Y-%m-%d")),
        ("Currency", invoice.currency),
        ("Rated legs", str(invoice.legs)),
    ):
        pdf.cell(0, 6, text(f"{label}: {value}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    # One face only (headings shaded, not bold): embedding a second CJK face doubles the time to write the PDF.
    headings = FontFace(emphasis=TextEmphasis.NONE, fill_color=(230, 230, 230))
    with pdf.table(
        headings_style=headings,
        col_widths=(8, 80, 22, 14, 26, 30),
        text_align=("RIGHT", "LEFT", "RIGHT", "LEFT", "RIGHT", "RIGHT"),
    ) as table:
        table.row(("#", "Description", "Quantity", "Unit", "Unit price", "Amount"))
        for line in invoice.lines:
            table.row(
                (
                    str(line.position),
                    text(line.description),
                    str(line.quantity.normalize()),
                    line.unit,
                    str(line.unit_price.normalize()),
                    str(line.amount.quantize(Decimal("0.0001"))),
                )
            )
    pdf.ln(4)
    pdf.set_font(family, size=12)
    pdf.cell(0, 8, text(f"Total due: {money(invoice.total)} {invoice.currency}"), align="R")
    return bytes(pdf.output())


def write_documents(invoice: InvoiceDetail, institution_name: str, operator_name: str, out_dir: Path) -> list[Path]:
    """Write `<number>.csv` and `<number>.pdf` into `out_dir` (atomically: a reader never sees half a file)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for suffix, body in (
        (".csv", invoice_csv(invoice, institution_name)),
        (".pdf", invoice_pdf(invoice, institution_name, operator_name)),
    ):
        target = out_dir / f"{invoice.number}{suffix}"
        partial = target.with_suffix(suffix + ".partial")
        partial.write_bytes(body)
        partial.replace(target)
        written.append(target)
    return written
