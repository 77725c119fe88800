"""The pictures' shared plumbing: matplotlib on its file-only backend, and a figure written to a PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from bertkit.errors import InputError, warn


def pyplot(what: str, required: bool = True) -> Any:
    """matplotlib.pyplot on the Agg backend. Without matplotlib: an InputError (required) or a warning and None."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        if required:
            raise InputError(f"{what} needs matplotlib (pip install matplotlib)") from None
        warn(f"matplotlib is not installed, so no {what} was drawn")
        return None
    return plt


def save_png(fig: Any, png: str | Path) -> Path:
    """Lay out `fig`, write it to `png` (its folder made if needed) and close it."""
    fig.tight_layout()
    png = Path(png)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png)
    fig.clf()
    import matplotlib.pyplot as plt

    plt.close(fig)
    return png
