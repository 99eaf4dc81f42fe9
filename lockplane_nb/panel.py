"""The review panel: read a plan, prove it on the shadow, then apply it, in one widget.

Everything the panel knows lives in widget traits (`status.value`, `apply_button.disabled`,
`progress.value`, ...) and is changed synchronously inside the click handlers, so a test or an
nbval notebook can drive it with `panel.validate_button.click()` and assert on the traits with no
browser. It never uses `with out:` or `clear_output()`: outside a frontend those print to stdout
instead of into the widget (see the project's Jupyter research notes, section 2).

The panel adds no safety logic of its own. Apply calls `lockplane.apply_plan`, which takes the
advisory lock, checks drift and proves the plan on the shadow again before touching the database;
the Validate button only lets the reviewer see that proof before committing to it.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets
from traitlets import Unicode

from lockplane import (
    ApplyResult,
    LockplaneError,
    Plan,
    PreflightReport,
    SafetyReport,
    Shadow,
    ShadowReport,
    apply_plan,
    introspect_url,
    prove,
    resume_run,
)

# Not `from lockplane import diff`: once the submodule `lockplane.diff` is imported, that name
# resolves to the module, not the function (the package's lazy exports share names with modules).
from lockplane.diff import diff as schema_diff
from lockplane.errors import PreflightFailed, RunInterrupted
from lockplane.executor import check_drift  # not exported yet; apply_plan runs the same check
from lockplane.progress import Progress

from .render import (
    css,
    diff_html,
    plan_html,
    preflight_frame,
    preflight_html,
    rollback_html,
    safety_html,
    shadow_html,
)

if TYPE_CHECKING:
    import pandas as pd

STATES = (
    "reviewing",
    "validating",
    "validated",
    "failed",
    "applying",
    "interrupted",
    "applied",
)


class StepBar(widgets.HBox):
    """Progress of a long step (a backfill's rows, an index build's blocks or tuples): a bar
    and a label with the numbers, rate and ETA. Hidden until a step reports progress."""

    def __init__(self, **kwargs: Any) -> None:
        self.bar = widgets.IntProgress(value=0, min=0, max=1, description="", bar_style="info")
        self.label = widgets.Label()
        super().__init__(children=[self.bar, self.label], **kwargs)
        self.layout.display = "none"

    def update(self, number: int, progress: Progress) -> None:
        self.layout.display = "flex"
        total = progress.rows_total or max(progress.rows_done, 1)
        self.bar.max = max(total, 1)
        self.bar.value = min(progress.rows_done, self.bar.max)
        self.bar.description = f"Step {number}"
        self.label.value = progress.text()


# Panel-only styles. render.css() styles the tab contents: the panel emits it once, at the top,
# and asks each render helper for its HTML without a style block (style=False). Colours come
# from JupyterLab theme variables (with fallbacks for classic Notebook, VS Code and nbconvert)
# so the status line stays readable in dark themes; every selector is scoped under `lp-`.
PANEL_CSS = """
<style>
.lp-status, .lp-outcome { font-family: var(--jp-ui-font-family, sans-serif);
  color: var(--jp-ui-font-color1, inherit); padding: 4px 8px; border-radius: 4px;
  border-left: 4px solid var(--jp-border-color2, #bbb); line-height: 1.4; }
.lp-status-validating, .lp-status-applying {
  border-left-color: var(--jp-info-color1, #1976d2); background: rgba(33,150,243,.12); }
.lp-status-validated, .lp-status-applied {
  border-left-color: var(--jp-success-color1, #388e3c); background: rgba(46,160,67,.18); }
.lp-status-failed {
  border-left-color: var(--jp-error-color1, #d32f2f); background: rgba(248,81,73,.18); }
.lp-status-interrupted {
  border-left-color: var(--jp-warn-color1, #f57c00); background: rgba(245,124,0,.15); }
.lp-status .lp-state { font-weight: 600; text-transform: uppercase; margin-right: .5em; }
.lp-outcome pre { white-space: pre-wrap; margin: 4px 0 0 0;
  font-family: var(--jp-code-font-family, monospace); font-size: var(--jp-code-font-size, 12px); }
.lp-outcome-applied { border-left-color: var(--jp-success-color1, #388e3c); }
.lp-outcome-failed { border-left-color: var(--jp-error-color1, #d32f2f); }
.lp-outcome-interrupted { border-left-color: var(--jp-warn-color1, #f57c00); }
</style>
"""


def _text(text: str) -> str:
    """Escape for an HTML text node; quotes stay readable (Postgres messages are full of them)."""
    return html.escape(text, quote=False)


def _note(text: str) -> str:
    return f'<div class="lp-root"><div class="lp-empty">{_text(text)}</div></div>'


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def confirmation_text(plan: Plan) -> str | None:
    """What the reviewer must acknowledge before a destructive apply, or None when nothing is.

    Built from the plan's error-severity hazards (the ones `apply_plan` refuses without
    allow_destructive), so the checkbox names exactly what will be lost: "I understand this
    drops column users.email and all the data in it".
    """
    phrases = []
    for step in plan.steps:
        for h in step.hazards:
            if h.severity != "error":
                continue
            phrase = h.message[:1].lower() + h.message[1:] if h.code == "DATA_LOSS" else h.message
            if phrase not in phrases:
                phrases.append(phrase)
    if not phrases:
        return None
    return "I understand this " + "; ".join(phrases)


class ReviewPanel(widgets.VBox):
    """Review a plan (diff, steps, safety, rollback), prove it on the shadow, then apply it.

    A VBox subclass, so `panel = %lockplane apply p` displays the panel and `panel.apply_button`
    is the real button. `state` mirrors the status word: reviewing, validating, validated,
    failed, applying, applied.
    """

    state = Unicode(
        "reviewing", help="reviewing | validating | validated | failed | applying | applied"
    )

    def __init__(
        self,
        plan: Plan,
        *,
        database_url: str,
        shadow_url: str,
        on_applied: Callable[[ApplyResult], None] | None = None,
        apply_options: dict[str, Any] | None = None,
        shadow_sample: int = 0,
        preflight_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        """`on_applied` is called once after a successful apply, so the magic can remember the
        applied plan (for `%lockplane rollback`) without the panel knowing about the magic.
        `apply_options` go to apply_plan as they are (lock_timeout, statement_timeout,
        retry_budget). `shadow_sample` rows per table of the database are copied into the shadow
        before each proof; `preflight_url` is a replica the data preflight reads instead."""
        self.plan = plan
        self.shadow_sample = shadow_sample
        self.preflight_url = preflight_url
        self.preflight_report: PreflightReport | None = None  # set by Apply
        self.preflight_frame: pd.DataFrame | None = None  # its failing checks, when it failed
        self.on_applied = on_applied
        self.apply_options = dict(apply_options or {})
        self.database_url = database_url
        self.shadow_url = shadow_url
        self.result: ApplyResult | None = None
        self.shadow_report: ShadowReport | None = None
        self.confirm_text = confirmation_text(plan)

        self.diff_tab = widgets.HTML(self._diff_html())
        self.plan_tab = widgets.HTML(plan_html(plan, style=False))
        self.safety_tab = widgets.HTML(safety_html(SafetyReport(plan), style=False))
        self.shadow_tab = widgets.HTML(
            _note("Not run yet: click “Validate on shadow” to rehearse the plan and its rollback.")
        )
        self.rollback_tab = widgets.HTML(rollback_html(plan, style=False))
        self.tabs = widgets.Tab(
            children=[
                self.diff_tab,
                self.plan_tab,
                self.safety_tab,
                self.shadow_tab,
                self.rollback_tab,
            ],
            titles=("Diff", "Plan", "Safety", "Shadow run", "Rollback"),
        )

        self.validate_button = widgets.Button(
            description="Validate on shadow",
            button_style="primary",
            icon="flask",
            tooltip="Rehearse the plan and its rollback on the shadow database",
            layout=widgets.Layout(width="auto"),  # the default fixed width cuts the label
        )
        self.apply_button = widgets.Button(
            description="Apply",
            button_style="danger" if self.confirm_text else "success",
            icon="check",
            disabled=True,
            tooltip="Enabled after a green shadow run",
            layout=widgets.Layout(width="auto"),
        )
        self.confirm = widgets.Checkbox(
            value=False,
            description=self.confirm_text or "",
            indent=False,
            layout=widgets.Layout(width="auto", display="flex" if self.confirm_text else "none"),
        )
        steps = len(plan.steps)
        self.progress = widgets.IntProgress(
            value=0, min=0, max=steps, description="Steps", bar_style=""
        )
        self.step_bar = StepBar()
        self.resume_button = widgets.Button(
            description="Resume",
            button_style="warning",
            icon="play",
            tooltip="Continue the interrupted run where it stopped, from its journal",
            layout=widgets.Layout(width="auto", display="none"),
        )
        self.run_id: int | None = None  # the run to resume, once one was interrupted
        self.status = widgets.HTML()
        self.outcome = widgets.HTML()

        self.validate_button.on_click(self._on_validate)
        self.apply_button.on_click(self._on_apply)
        self.resume_button.on_click(self._on_resume)
        self.confirm.observe(self._on_confirm, names="value")

        controls: list[widgets.Widget] = [
            self.validate_button,
            self.apply_button,
            self.resume_button,
        ]
        children: list[widgets.Widget] = [
            widgets.HTML(css() + PANEL_CSS),
            self.tabs,
        ]
        if self.confirm_text:
            children.append(self.confirm)
        children += [
            widgets.HBox(controls),
            self.progress,
            self.step_bar,
            self.status,
            self.outcome,
        ]
        super().__init__(children=children, **kwargs)
        self.add_class("lp-panel")
        self._set_state("reviewing", f"{steps} step{'s' if steps != 1 else ''} to review")

    def __repr__(self) -> str:
        """Short and stable: nbval compares a displayed widget's text/plain, which is this."""
        n = len(self.plan.steps)
        return f"ReviewPanel({n} step{'s' if n != 1 else ''}, status={self.state!r})"

    # --- state -------------------------------------------------------------------------------

    @property
    def needs_confirm(self) -> bool:
        """True when applying drops data, so the reviewer must tick `confirm` first."""
        return self.confirm_text is not None

    def _set_state(self, state: str, detail: str = "") -> None:
        """Set the status word and line; the class and data attribute give tests stable selectors."""
        assert state in STATES, state
        self.state = state
        self.status.value = (
            f'<div class="lp-status lp-status-{state}" data-lp-state="{state}">'
            f'<span class="lp-state">{state}</span>{_text(detail)}</div>'
        )
        self._refresh_buttons()

    def _refresh_buttons(self) -> None:
        """Apply only after a green shadow run and, for destructive plans, a ticked confirm."""
        busy = self.state in ("validating", "applying")
        done = self.state in ("applied", "interrupted")
        self.resume_button.layout.display = "flex" if self.state == "interrupted" else "none"
        self.resume_button.disabled = self.state != "interrupted"
        self.validate_button.disabled = busy or done
        self.confirm.disabled = busy or done
        self.apply_button.disabled = not self._can_apply()

    def _can_apply(self) -> bool:
        return self.state == "validated" and (not self.needs_confirm or self.confirm.value)

    def _on_confirm(self, _change: dict[str, Any]) -> None:
        self._refresh_buttons()

    # --- actions -----------------------------------------------------------------------------

    def _on_validate(self, _button: widgets.Button | None = None) -> None:
        """Introspect the database, check it has not drifted, and prove the plan on the shadow.

        apply_plan repeats all of this under its lock; doing it here first shows the reviewer
        the proof (and any drift) before they decide.
        """
        if self.state in ("validating", "applying", "applied"):
            return
        self._set_state("validating", "introspecting the database and rehearsing on the shadow…")
        self.outcome.value = ""
        self.progress.value, self.progress.bar_style = 0, ""
        try:
            current = introspect_url(self.database_url)
            check_drift(self.plan, current)
            report = prove(
                self.plan,
                current,
                Shadow(self.shadow_url, target_url=self.database_url),
                sample_from=self.database_url if self.shadow_sample else None,
                sample_rows=self.shadow_sample,
            )
        except LockplaneError as exc:
            self.shadow_report = None
            self.shadow_tab.value = (
                f'<div class="lp-root"><div class="lp-head lp-fail">✗ Validation failed</div>'
                f'<div class="lp-detail">{_text(str(exc))}</div></div>'
            )
            self._fail(str(exc))
            return
        except Exception as exc:  # a bug: say so in the panel, keep the traceback
            self._fail(f"unexpected error: {type(exc).__name__}: {exc}")
            raise
        self.shadow_report = report
        self.shadow_tab.value = shadow_html(report, style=False)
        # the Safety tab now also shows what each step really did on the shadow
        self.safety_tab.value = safety_html(SafetyReport(self.plan, report), style=False)
        if self.needs_confirm and not self.confirm.value:
            detail = "shadow run passed; tick the confirmation to enable Apply"
        else:
            detail = "shadow run passed; ready to apply"
        self._set_state("validated", detail)

    def _on_apply(self, _button: widgets.Button | None = None) -> None:
        """Apply for real; a click while Apply is not allowed (e.g. `.click()` in code) does nothing."""
        if not self._can_apply():
            return
        self.progress.value, self.progress.bar_style = 0, "info"
        self._set_state("applying", "taking the lock, checking drift, proving on the shadow…")
        self._run(
            lambda: apply_plan(
                self.plan,
                self.database_url,
                shadow_url=self.shadow_url,
                allow_destructive=self.needs_confirm and self.confirm.value,
                progress=self._on_progress,
                on_retry=self._on_retry,
                on_progress=self.step_bar.update,
                preflight_url=self.preflight_url,
                shadow_sample=self.shadow_sample,
                **self.apply_options,
            )
        )

    def _on_resume(self, _button: widgets.Button | None = None) -> None:
        """Continue the interrupted run from its journal (no new shadow proof: the run passed
        one before its first step)."""
        if self.state != "interrupted":
            return
        self.progress.bar_style = "info"
        self._set_state("applying", f"resuming run {self.run_id}…")
        self._run(
            lambda: resume_run(
                self.database_url,
                run_id=self.run_id,
                progress=self._on_progress,
                on_retry=self._on_retry,
                on_progress=self.step_bar.update,
                **self.apply_options,
            )
        )

    def _run(self, apply: Callable[[], ApplyResult]) -> None:
        """Apply or resume, and show how it ended: applied, interrupted or failed."""
        try:
            result = apply()
        except PreflightFailed as exc:
            self._fail(str(exc))
            self._show_preflight(exc.report)
            return
        except RunInterrupted as exc:
            self._interrupted(exc)
            return
        except LockplaneError as exc:
            self._fail(str(exc))
            return
        except Exception as exc:
            self._fail(f"unexpected error: {type(exc).__name__}: {exc}")
            raise
        self._applied(result)

    def _interrupted(self, exc: RunInterrupted) -> None:
        """Stopped with durable work kept: the journal knows where, Resume goes on from there."""
        self.run_id = exc.run_id
        self.progress.bar_style = "warning"
        self.outcome.value = (
            f'<div class="lp-outcome lp-outcome-interrupted"><pre>{_text(str(exc))}</pre></div>'
        )
        self._set_state("interrupted", _first_line(str(exc)))

    def _applied(self, result: ApplyResult) -> None:
        total = len(self.plan.steps)
        self.result = result
        self.shadow_report = result.shadow
        self.preflight_report = result.preflight
        if result.shadow.checks:
            self.shadow_tab.value = shadow_html(result.shadow, style=False)
        self.progress.value, self.progress.bar_style = self.progress.max, "success"
        ledger = (
            f"ledger entry #{result.ledger_id}"
            if result.ledger_id is not None
            else "nothing recorded in the ledger"
        )
        self.outcome.value = (
            f'<div class="lp-outcome lp-outcome-applied" data-ledger-id="{result.ledger_id or ""}">'
            f"{_text(result.message)} · {ledger}"
            + ("" if result.verified else " · ⚠ the result differs from the shadow run")
            + "</div>"
        )
        self._set_state("applied", f"{result.steps_applied} of {total} steps applied · {ledger}")
        if self.on_applied is not None:
            self.on_applied(result)

    def _on_retry(self, retry: Any) -> None:
        """A step is waiting for a lock: say who is in the way while the apply waits."""
        self._set_state("applying", retry.text())

    def _on_progress(self, number: int, total: int, description: str) -> None:
        """apply_plan reports each step before running it, so `number - 1` steps are done."""
        self.progress.value = min(number - 1, self.progress.max)
        self._set_state("applying", f"step {number}/{total}: {description}")

    def _show_preflight(self, report: object) -> None:
        """Below the failure message, the rows in the way as a table; the same rows stay
        available as a DataFrame in `panel.preflight_frame`."""
        if not isinstance(report, PreflightReport):
            return
        self.preflight_report = report
        self.preflight_frame = preflight_frame(report)
        self.outcome.value += preflight_html(report, style=False)

    def _fail(self, message: str) -> None:
        """Failed: one line in the status, the whole message in the outcome; Apply stays off
        until a new validation (the database is unchanged: apply runs in one transaction)."""
        self.progress.bar_style = "danger" if self.state == "applying" else ""
        self.outcome.value = (
            f'<div class="lp-outcome lp-outcome-failed"><pre>{_text(message)}</pre></div>'
        )
        self._set_state("failed", _first_line(message))

    def _diff_html(self) -> str:
        if self.plan.source is None or self.plan.target is None:
            return _note(
                "This plan carries no source and target schemas (a hand-written or seed-format "
                "plan), so there is no diff to show; the Plan tab lists its steps."
            )
        try:
            return diff_html(schema_diff(self.plan.source, self.plan.target), style=False)
        except LockplaneError as exc:
            return (
                f'<div class="lp-root"><div class="lp-detail lp-fail">{_text(str(exc))}</div></div>'
            )
