"""`python -m lockplane_nb.tutorial`: the getting-started notebook, run headless, for a newcomer's
first minute. It needs no database: the notebook starts the embedded PostgreSQL.

Prints where the executed copy is (open it in JupyterLab to see the rendered plan and panel) and
the plan it made, as text. `--open` starts JupyterLab on the notebook instead, if installed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
GETTING_STARTED = NOTEBOOKS / "01-getting-started.ipynb"


def run(source: Path, output: Path) -> Path:
    import nbformat
    from nbclient import NotebookClient

    book = nbformat.read(source, as_version=4)
    NotebookClient(
        book, timeout=300, resources={"metadata": {"path": str(source.parent)}}
    ).execute()
    output.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(book, output)
    return output


def printed_plan(path: Path) -> str:
    """The plan as the notebook printed it (its golden cell), for the terminal."""
    import nbformat

    book = nbformat.read(path, as_version=4)
    for cell in book.cells:
        if cell.cell_type == "code" and "NBVAL_CHECK_OUTPUT" in cell.source:
            return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lockplane_nb.tutorial", description=__doc__)
    parser.add_argument(
        "--open", action="store_true", help="open the notebook in JupyterLab instead"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=Path(".lockplane") / "01-getting-started.executed.ipynb",
        help="where to write the executed copy",
    )
    args = parser.parse_args(argv)
    if args.open:
        if shutil.which("jupyter") is None:
            sys.stderr.write("JupyterLab is not installed: pip install jupyterlab\n")
            return 2
        return subprocess.call(["jupyter", "lab", str(GETTING_STARTED)])
    from nbclient.exceptions import CellExecutionError

    try:
        path = run(GETTING_STARTED, args.output.resolve())
    except CellExecutionError as exc:
        sys.stderr.write(
            f"the getting-started notebook failed: {str(exc).strip().splitlines()[-1]}\n"
        )
        return 1
    print("The plan Lockplane made and applied (steps, locks, hazards):\n")
    print(printed_plan(path))
    print(f"Executed notebook: {path}")
    print(f"Open it with: jupyter lab {path}   (or run the original: {GETTING_STARTED})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
