"""The HTML audit report: chart data (``charts``), SVG drawing (``svg``), the page (``page``)."""

from chainledger.report_html.page import render_page, render_refusal

__all__ = ["render_page", "render_refusal"]
