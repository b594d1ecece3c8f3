"""The page shell (CSS and HTML skeleton) shared by report.html and ablation.html.

Kept apart from `build` so a page can be rendered where only the training stack is installed.
"""

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#2e3436;color:#fff;padding:14px 28px}header h1{margin:0;font-size:20px}
nav a{color:#cfe0f5;margin-right:14px;font-size:13px}
main{max-width:1000px;margin:0 auto;padding:8px 28px 40px}
section{background:#fff;border:1px solid #e3e3e3;border-radius:6px;padding:8px 18px 14px;margin:16px 0}
h2{font-size:17px;border-bottom:1px solid #eee;padding-bottom:4px}h3{font-size:14px;margin:14px 0 4px}
.cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #e3e3e3;border-radius:6px;padding:8px 14px;min-width:120px}
.card .k{color:#666;font-size:12px}.card .v{font-size:18px;font-weight:600}
.meta,.note{color:#555;font-size:12.5px}.warn{color:#a40000}.empty{color:#888;font-style:italic}
svg.chart{display:block;max-width:100%;height:auto;margin:6px 0}
svg .label,svg .value,svg .legend,svg .tick{font:12px system-ui,sans-serif;fill:#333}svg .tick{fill:#555;font-size:11px}
svg .label.bad{fill:#a40000;font-weight:600}svg .track{fill:#f0f0f0}svg .axis{stroke:#888}svg .grid{stroke:#eee}
table{border-collapse:collapse;margin:8px 0;font-size:13px}td,th{border-bottom:1px solid #eee;padding:3px 10px;text-align:right}
td:first-child,th:first-child{text-align:left}
.doc{border-left:3px solid #3465a4;padding:4px 10px;margin:8px 0;background:#f6f8fb}
.doc .id{font-size:12px;color:#555}.doc .text{white-space:pre-wrap;word-break:break-word;font-size:12.5px;max-height:14em;overflow:auto}
details{margin:4px 0}summary{cursor:pointer}li.kept{color:#4e9a06}li.dropped{color:#a40000}
.turn{margin:2px 0}.role{font-size:11px;font-weight:600;color:#555;text-transform:uppercase;margin-right:4px}
.prompt{white-space:pre-wrap;word-break:break-word;font-size:12.5px;margin:4px 0}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:10px}.side{white-space:pre-wrap;word-break:break-word;font-size:12.5px;
max-height:14em;overflow:auto;padding:4px 8px;border-radius:4px}.side .k{font-size:11px;font-weight:600;text-transform:uppercase}
.side.chosen{background:#eef6e8}.side.chosen .k{color:#4e9a06}.side.rejected{background:#fbeeee}.side.rejected .k{color:#a40000}
.ids{font-family:monospace;color:#555}
pre{background:#f4f4f4;padding:8px;overflow:auto;font-size:12px}.cut{color:#a40000}
"""  # noqa: E501

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>{title}</title><style>{css}</style></head>
<body><header><h1>{title}</h1><nav>{nav}</nav></header>
<main>
{body}
<p class="meta">written by curate {version} · self-contained: no scripts, no network</p>
</main></body></html>
"""  # noqa: E501
