"""The look both HTML pages share (the compare page and the event-study page): one stylesheet, no web fonts."""

PAGE_STYLE = """
body{font:14px/1.45 "DejaVu Sans",Arial,sans-serif;margin:0;color:#111;background:#fff}
main{max-width:1180px;margin:0 auto;padding:8px 20px 40px}
p.sub{color:#555;margin:0 0 10px}
table{border-collapse:collapse;margin:8px 0 4px;font-size:13px}
th,td{padding:3px 9px;text-align:right;border-bottom:1px solid #eee;vertical-align:top}
thead th{background:#f3f3f3;font-weight:600}
figure{margin:8px 0 18px}figure img{width:100%;max-width:1000px;display:block}
figcaption{color:#555;font-size:12.5px;max-width:1000px}
.warnings{background:#fff6d6;border:1px solid #e0c46c;padding:8px 14px;margin:12px 0}
.note{color:#444;font-size:13px;max-width:1000px}
.scroll{overflow-x:auto}
"""
