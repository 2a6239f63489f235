"""The soak's two charts as PNG: messages per second, and each worker's RSS, over time, kills marked.

matplotlib is a benchmark-only dependency (the `bench` extra, `make bench-deps`), never the product's.
"""

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402


def _mark_kills(axes, kills):
    for i, (t, name) in enumerate(kills):
        axes.axvline(t, color="#c0392b", linewidth=0.8, linestyle="--", label="SIGKILL" if i == 0 else None)
        axes.annotate(name, (t, 1), xycoords=("data", "axes fraction"), fontsize=6, rotation=90, va="top", ha="right")


def draw(samples, kills, out_prefix, title):
    """samples: [{"t": s, "rate": msgs/s, "rss": {worker: MB}}]; kills: [(t, worker)].
    Writes OUT_PREFIX-rate.png and OUT_PREFIX-rss.png; returns their paths."""
    times = [s["t"] for s in samples]
    paths = []

    figure, axes = plt.subplots(figsize=(8, 3.2), dpi=110)
    axes.plot(times, [s["rate"] for s in samples], color="#1f4e79", linewidth=1)
    _mark_kills(axes, kills)
    axes.set_xlabel("seconds since the campaign was scheduled")
    axes.set_ylabel("messages/s at the sink")
    axes.set_title(f"{title}: sending rate", fontsize=10)
    axes.set_ylim(bottom=0)
    axes.legend(loc="lower right", fontsize=7)
    figure.tight_layout()
    paths.append(f"{out_prefix}-rate.png")
    figure.savefig(paths[-1])
    plt.close(figure)

    figure, axes = plt.subplots(figsize=(8, 3.2), dpi=110)
    workers = sorted({w for s in samples for w in s["rss"]})
    for worker in workers:
        axes.plot(
            [s["t"] for s in samples if worker in s["rss"]],
            [s["rss"][worker] for s in samples if worker in s["rss"]],
            linewidth=1,
            label=worker,
        )
    _mark_kills(axes, kills)
    axes.set_xlabel("seconds since the campaign was scheduled")
    axes.set_ylabel("RSS (MB, VmRSS)")
    axes.set_title(f"{title}: worker memory", fontsize=10)
    axes.set_ylim(bottom=0)
    axes.legend(loc="lower right", fontsize=7, ncol=3)
    figure.tight_layout()
    paths.append(f"{out_prefix}-rss.png")
    figure.savefig(paths[-1])
    plt.close(figure)
    return paths
