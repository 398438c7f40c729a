"""Draws docs/architecture.png: the parts with their import arrows, and a Sync click's path.

    .venv/bin/python docs/architecture_png.py

Needs matplotlib (requirements-dev.txt). Redraw it when docs/architecture.md changes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

OUT = Path(__file__).with_name("architecture.png")

INK = "#1f2933"
OFFICE = "#dbeafe"  # workorders
SPECTORA = "#dcfce7"  # spectora_integration
SHARED = "#f3f4f6"  # attik, data stores
OUTSIDE = "#fef3c7"  # Spectora, the sandbox
WORKER = "#ede9fe"  # what runs on a Celery worker
NO = "#b91c1c"


def box(ax, x, y, w, h, title, body="", color=SHARED, size=10.5, title_size=None):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.25,rounding_size=0.8",
                                facecolor=color, edgecolor=INK, linewidth=1.1))
    if body:
        ax.text(x + w / 2, y + h - 1.1, title, ha="center", va="top",
                fontsize=title_size or size + 0.5, fontweight="bold", color=INK)
        below = 2.5 + 1.6 * title.count("\n")
        ax.text(x + w / 2, y + h - 1.1 - below, body, ha="center", va="top", fontsize=size,
                color=INK, linespacing=1.35)
    else:
        ax.text(x + w / 2, y + h / 2, title, ha="center", va="center",
                fontsize=title_size or size + 0.5, fontweight="bold", color=INK)


def arrow(ax, start, end, text="", color=INK, style="-|>", dashed=False, rad=0.0,
          text_at=0.5, size=9.5, offset=(0, 0)):
    ax.add_patch(FancyArrowPatch(
        start, end, arrowstyle=style, mutation_scale=16, color=color, linewidth=1.5,
        linestyle=(0, (4, 3)) if dashed else "-", connectionstyle=f"arc3,rad={rad}",
        shrinkA=2, shrinkB=2,
    ))
    if text:
        x = start[0] + (end[0] - start[0]) * text_at + offset[0]
        y = start[1] + (end[1] - start[1]) * text_at + offset[1]
        ax.text(x, y, text, ha="center", va="center", fontsize=size, color=color,
                bbox={"facecolor": "white", "edgecolor": "none", "pad": 1.2})


def panel(ax, title):
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.axis("off")
    ax.set_title(title, loc="left", fontsize=15, fontweight="bold", color=INK, pad=8)


def parts(ax):
    panel(ax, "1. The parts. An arrow means \"imports\"; import-linter fails the build "
              "on any other arrow.")
    box(ax, 2, 91, 81, 7.5, "attik/  (the project)",
        "settings · urls (routes each app's urls) · the Celery app and its beat schedule")

    # workorders: the office
    ax.add_patch(FancyBboxPatch((1, 2), 25, 85, boxstyle="round,pad=0.3,rounding_size=1.2",
                                facecolor="none", edgecolor="#2563eb", linewidth=1.6))
    ax.text(13.5, 85.6, "workorders/  (the office)", ha="center", fontsize=12.5,
            fontweight="bold", color="#1d4ed8")
    box(ax, 3, 74, 21, 8, "urls · api_urls", color=OFFICE)
    box(ax, 3, 61, 21, 10, "views · api", "pages and REST API;\nthin", color=OFFICE)
    box(ax, 3, 45, 21, 13, "services · selectors",
        "services.py writes,\nselectors.py reads;\nforms · access · api_scoping",
        color=OFFICE, size=9.5)
    box(ax, 3, 30, 21, 12, "integrations.py",
        "the hook: announces\ncreated, changed,\nconfirmed, cancelled", color=OFFICE,
        size=9.5)
    box(ax, 3, 4, 21, 23, "models · permissions",
        "Company, Employee,\nService, ReportType,\nWorkorder, Activity;\nroles · errors",
        color=OFFICE, size=9.5)
    for y in (74, 61, 45, 30):
        arrow(ax, (13.5, y), (13.5, y - 3))

    # spectora_integration
    ax.add_patch(FancyBboxPatch((33, 2), 50, 85, boxstyle="round,pad=0.3,rounding_size=1.2",
                                facecolor="none", edgecolor="#15803d", linewidth=1.6))
    ax.text(58, 85.6, "spectora_integration/  (everything Spectora)", ha="center",
            fontsize=12.5, fontweight="bold", color="#15803d")
    box(ax, 35, 74, 46, 8, "urls · api_urls  (the only importers of views)", color=SPECTORA)
    box(ax, 35, 61, 46, 10, "views",
        "setup/views · sync/views · inbound/views\ninbound/webhooks · api", color=SPECTORA,
        size=10)
    box(ax, 35, 45, 11, 13, "integration\n.py", "joins the\nhook", color=SPECTORA, size=9.5,
        title_size=10)
    box(ax, 47.5, 45, 12, 13, "inbound/", "deliveries\nimporter\ndrift", color=SPECTORA,
        size=9.5)
    box(ax, 61, 45, 10, 13, "setup/", "services\nforms", color=SPECTORA, size=9.5)
    box(ax, 72.5, 45, 8.5, 13, "tasks.py", "thin;\ncall sync\n& inbound", color=WORKER,
        size=9)
    box(ax, 35, 30, 34, 12, "sync/",
        "runs (request, retry, sweep) · engine (claim,\nlease, execute, finish) · planner ·"
        " executor\neligibility (the sync rules) · backoff · selectors", color=SPECTORA,
        size=9.2)
    box(ax, 71.5, 30, 9.5, 12, "queueing", "the one\nenqueue", color=SPECTORA, size=9.5,
        title_size=10.5)
    box(ax, 35, 16, 46, 11, "client/",
        "http (SpectoraClient: timeouts, no redirects) · errors\n(transient / permanent) · "
        "ratelimit (shared pace)\nredaction · addresses (SSRF check)", color=SPECTORA,
        size=9.2)
    box(ax, 35, 4, 46, 9, "models · crypto",
        "SpectoraConnection, SpectoraLink, SyncRun, SyncOutbox,\nSyncCall, InboundWebhook, "
        "RateLimitSlot · Fernet at rest", color=SPECTORA, size=9)
    arrow(ax, (58, 74), (58, 71))
    arrow(ax, (50, 61), (53, 58))
    arrow(ax, (64, 61), (66, 58))
    arrow(ax, (40.5, 45), (42, 42))
    arrow(ax, (53.5, 45), (55, 42))
    arrow(ax, (66, 45), (74, 27.3), rad=0.2)
    arrow(ax, (74, 45), (66, 42))
    arrow(ax, (69.2, 36), (71.3, 36))
    arrow(ax, (78.5, 42.2), (78.5, 44.8), dashed=True, color="#7c3aed")
    ax.text(83.8, 47, "lazy: the\none allowed\ncycle", fontsize=8.5, color="#7c3aed",
            ha="left", va="center")
    arrow(ax, (52, 30), (52, 27))
    arrow(ax, (45, 16), (45, 13))
    ax.text(64, 14.5, "only ratelimit → models (its slot table)", fontsize=8.5, color=INK,
            ha="center")
    ax.text(58, 2.6, "each layer imports only layers below it", fontsize=9, color="#15803d",
            ha="center", style="italic")

    # across the apps
    arrow(ax, (26.6, 66), (34.6, 66), "✗", color=NO, size=13, offset=(0, 2.4))
    arrow(ax, (34.6, 42), (24.4, 42), "✓", color="#15803d", size=13, offset=(0, 2.4))
    ax.text(29.6, 22, "the\nintegration\nimports the\noffice:\nmodels,\nservices,\n"
            "access,\nthe hook;\n\nthe office\nnever\nimports an\nintegration",
            ha="center", va="center", fontsize=8.3, color=INK)
    arrow(ax, (13.5, 91), (13.5, 82.5))
    arrow(ax, (58, 91), (58, 82.5))

    # outside
    box(ax, 86.5, 56, 12.5, 27, "Spectora",
        "its API: JSON:API\nover HTTPS, one\nkey per company;\nwebhooks to\nAttik",
        color=OUTSIDE, size=8.8)
    arrow(ax, (81.3, 24), (90, 55.8), "HTTPS", color="#b45309", size=9, rad=0.2,
          text_at=0.35, offset=(3, 0))
    arrow(ax, (86.3, 70), (81.3, 68), "webhooks", color="#b45309", size=8.5,
          offset=(0, 2.3))
    box(ax, 86.5, 4, 12.5, 27, "spectora_\nsandbox/",
        "a Spectora\nstand-in for\ntests, demo\nand soak", color=OUTSIDE, size=8.8,
        title_size=10)
    arrow(ax, (81.3, 19), (86.3, 17), dashed=True, color="#b45309")
    ax.text(92.75, 8.5, "✗ imported by\nnothing in\nthe product", ha="center",
            va="center", fontsize=9, color=NO)


def click(ax):
    panel(ax, "2. A click's path: Sync on a workorder, until Spectora matches it")
    row_a, row_b, row_c = 74, 44, 11
    h = 19
    web = [
        (1, "Browser", "Actions → Sync\n(POST)", SHARED),
        (21, "view", "sync/views.\nworkorder_sync:\npermission,\neligibility", SPECTORA),
        (41, "service", "sync/runs.sync_request:\none transaction =\nSyncRun + outbox\nrow "
                        "(joins a\nqueued run)", SPECTORA),
        (61, "on commit", "queueing.enqueue\n(\"run_sync\");\nbroker down →\nlogged, "
                          "swept later", SPECTORA),
        (81, "Celery queue", "Redis (production)\nor filesystem\nbroker", SHARED),
    ]
    worker = [
        (81, "task", "tasks.run_sync\n(time-limited,\nacks late)", WORKER),
        (61, "engine", "sync/engine.\nsync_execute:\nclaim the run,\nlease the workorder,"
                       "\neligibility again", WORKER),
        (41, "planner", "desired (workorder)\nvs one GET of the\nremote job →\n"
                        "operations", WORKER),
        (21, "executor", "applies them in\norder; create is\nidempotent (key,\n"
                         "external_ref)", WORKER),
        (1, "client", "rate limiter, (3.05 s,\n15 s) timeouts,\nredaction →\nSpectora", WORKER),
    ]
    for x, title, body, color in web:
        box(ax, x, row_a, 18, h, title, body, color=color, size=9.5)
    for x, title, body, color in worker:
        box(ax, x, row_b, 18, h, title, body, color=color, size=9.5)
    ax.text(1, row_a + h + 3, "web process: one request, no call to Spectora", fontsize=10.5,
            color=INK, style="italic")
    ax.text(1, row_b + h + 2.5, "Celery worker", fontsize=10.5, color="#6d28d9",
            style="italic")
    for x in (19.5, 39.5, 59.5, 79.5):
        arrow(ax, (x, row_a + h / 2), (x + 1.6, row_a + h / 2))
        arrow(ax, (x + 1.6, row_b + h / 2), (x, row_b + h / 2))
    arrow(ax, (90, row_a), (90, row_b + h))
    box(ax, 1, row_c, 38, 21, "finish (one transaction)",
        "SyncRun succeeded / failed / skipped · SpectoraLink\nsync_state, remote id, "
        "last error · activity feed\nentry · a failure emails the admins and lists\n"
        "it on Failed syncs (retry, dismiss)", color=SPECTORA, size=9.5)
    arrow(ax, (10, row_b), (10, row_c + 21))
    box(ax, 43, row_c, 24, 21, "the sync chip",
        "the workorder page polls\nsync_chip every second\nwhile queued or syncing,\n"
        "then settles", color=OFFICE, size=9.5)
    arrow(ax, (39.5, row_c + 10), (42.5, row_c + 10))
    box(ax, 71, row_c, 28, 21, "when it goes wrong",
        "transient (5xx, 423, timeout): back\nto the queue, capped jittered backoff\n"
        "429 / no slot: deferred, no attempt\nused · beat sweeps lost messages\n"
        "and dead workers' runs (30 s)", color=SHARED, size=9)
    arrow(ax, (85, row_c + 21), (87, row_a), dashed=True, color="#6b7280", rad=-0.35)


def main() -> None:
    plt.rcParams["font.family"] = "DejaVu Sans"
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(16, 21),
                                      gridspec_kw={"height_ratios": [1.35, 1]})
    parts(top)
    click(bottom)
    fig.tight_layout(h_pad=2.5)
    fig.savefig(OUT, dpi=100, facecolor="white")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
