"""The truth in plain words: what the site says about a commitment or a delivery, computed
from the index's dicts (the same ones the JSON API serves; docs/LEDGER.md names the fields).

Nothing here decides a status: the statuses come from ``ledger/status.py`` through the data
layer. This module only chooses the words and the tone a reader sees, in one place, so that
the list, the commitment page, the municipality overview and the feeds say the same thing:

- a commitment with no recorded delivery is never a bare red "overdue": it reads "no proof
  recorded yet" (no recorded proof is not the same as not done), and when its source records no
  follow-up at all (a source of promises only) the status carries "no follow-up recorded by the
  source" beside it (:func:`follow_up_note`);
- the two clocks are shown apart: promised on (stated), registered on chain (block time),
  due, delivered on (as stated), recorded on (as proven);
- a record made long after the fact says so ("recorded 3 years after the date it states"),
  a commitment entered after its due date is a historical record, and a deadline moved after
  it was missed is named;
- the verdict against the original promise is shown beside the current one when they differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from frontend.i18n import Lang
from ledger.status import RECORDED_LATE_AFTER_SECONDS

TONES = ("ok", "warn", "bad", "neutral", "info")
"""CSS tones of a badge or note: ``ok`` green, ``warn`` amber, ``bad`` red, ``neutral``
grey, ``info`` blue. Text always says the same thing: colour is never the only cue."""

STATUS_ORDER = ("overdue", "in_progress", "pending", "delivered_late", "delivered", "withdrawn")
"""Order in which statuses are listed in overviews: what needs attention first."""


@dataclass(frozen=True)
class Badge:
    """A short verdict: ``text`` (in the reader's language), ``tone`` (:data:`TONES`),
    ``key`` (the status or flag it stands for, for CSS and tests), ``hint`` (one sentence
    that explains it, or ``""``)."""

    key: str
    text: str
    tone: str
    hint: str = ""


def status_badge(c: dict[str, Any], lang: Lang, field: str = "status") -> Badge:
    """The badge of commitment ``c`` for status ``field`` (``status``, ``status_on_record``,
    ``status_original_terms``, ``status_confirmed``...). Without any counted delivery, an
    overdue or pending commitment reads "no proof recorded yet", never a bare red verdict."""
    status = c[field]
    delivered = int(c["confirmed_quantity"] if field == "status_confirmed" else c["delivered_quantity"])
    if field == "status_confirmed" and delivered == 0 and status in ("overdue", "pending"):
        return Badge("no_confirmed_proof", lang.t("verdict.noConfirmedProof"), "neutral")
    if status == "overdue" and delivered == 0:
        return Badge("overdue_no_proof", lang.t("verdict.overdueNoProof"), "warn", lang.t("verdict.noProofHint"))
    if status == "pending" and delivered == 0:
        return Badge("pending_no_proof", lang.t("verdict.pendingNoProof"), "neutral")
    if status == "overdue":
        return Badge("overdue", lang.t("verdict.overduePartly"), "bad")
    tone = {"delivered": "ok", "delivered_late": "warn", "in_progress": "info", "pending": "neutral", "withdrawn": "neutral"}[status]
    return Badge(status, lang.t(f"status.{status}"), tone)


def follow_up_note(c: dict[str, Any], lang: Lang) -> Badge | None:
    """The note shown beside the status of ``c`` when its sources record no follow-up
    (``c["follow_up"]["tracked"]`` false, ``ledger.sources.follow_up_of``): "no follow-up
    recorded by the source", so that an overdue badge does not alone read as a broken promise;
    ``None`` otherwise (also for a dict without ``follow_up``). The status is not changed."""
    follow_up = c.get("follow_up")
    if not follow_up or follow_up["tracked"]:
        return None
    return Badge("no_follow_up", lang.t("followUp.none"), "info", lang.t("followUp.hint"))


def progress_text(c: dict[str, Any], lang: Lang, *, original: bool = False) -> str:
    """"40 of 100 homes (40%)": delivered against the current (or original) target."""
    target = c["original_target_quantity"] if original else c["target_quantity"]
    bps = c["progress_bps_original_terms"] if original else c["progress_bps"]
    return lang.t("progress.ofUnit", done=lang.number(c["delivered_quantity"]), target=lang.number(target),
                  unit=c["unit"], pct=lang.percent_bps(bps))


def lag_text(seconds: int, lang: Lang) -> str:
    """"recorded 3 years after the date it states" (or "on the date it states" below a day)."""
    if seconds < 86_400:
        return lang.t("lag.sameDay")
    return lang.t("lag.recordedAfter", lag=lang.duration(seconds))


def recorded_late(delivery: dict[str, Any]) -> bool:
    """Recorded more than 30 days after the date it states (docs/LEDGER.md "Two clocks")."""
    return int(delivery.get("recording_lag_seconds") or 0) > RECORDED_LATE_AFTER_SECONDS


def commitment_flags(c: dict[str, Any], lang: Lang, tz: str | None = None) -> list[Badge]:
    """What a reader should know before trusting the status of ``c`` (a summary or detail
    dict), in order of weight: historical record, met only under relaxed terms, deadline moved
    after it was missed, target lowered, deliveries recorded late, proof not confirmed."""
    flags: list[Badge] = []
    if c["historical_record"]:
        flags.append(Badge("historical", lang.t("flag.historical"), "info", lang.t("historical.explain",
            promised=lang.date(c["promised_at"], tz), recorded=lang.date(c["registered"]["block_time"], tz),
            due=lang.date(c["original_due_date"], tz))))
    if c["met_only_under_relaxed_terms"]:
        flags.append(Badge("relaxed", lang.t("flag.relaxed"), "bad", relaxed_hint(c, lang, tz)))
    if c["amended_after_due_date"]:
        moved = c["due_date"] != c["original_due_date"]
        flags.append(Badge("amended_after_due", lang.t("flag.amendedAfterDue" if moved else "flag.amendedAfterDueOther"), "warn"))
    if c["target_lowered"]:
        flags.append(Badge("target_lowered", lang.t("flag.targetLowered"), "warn"))
    if c["recorded_late_count"]:
        flags.append(Badge("recorded_late", lang.plural("flag.recordedLate", c["recorded_late_count"]), "warn",
                           lang.t("flag.recordedLateHint")))
    delivered = int(c["delivered_quantity"])
    if delivered and not c["withdrawn"]:
        confirmed = int(c["confirmed_quantity"])
        if int(c["disputed_quantity"]):
            flags.append(Badge("disputed", lang.t("list.disputed", quantity=f'{lang.number(c["disputed_quantity"])} {c["unit"]}'), "bad"))
        elif confirmed >= delivered:
            flags.append(Badge("confirmed", lang.t("flag.allConfirmed"), "ok"))
        else:
            flags.append(Badge("unconfirmed", lang.t("flag.unconfirmed", quantity=lang.number(delivered - confirmed),
                                                     unit=c["unit"]), "neutral"))
    return flags


def relaxed_hint(c: dict[str, Any], lang: Lang, tz: str | None = None) -> str:
    """Why "met only under relaxed terms": the verdict against the terms first promised."""
    return lang.t("relaxed.explain", target=f'{lang.number(c["original_target_quantity"])} {c["unit"]}',
                  due=lang.date(c["original_due_date"], tz), status=lang.t(f'status.{c["status_original_terms"]}'))


def dates(c: dict[str, Any], lang: Lang, tz: str | None = None) -> list[dict[str, Any]]:
    """The dates of ``c`` in reading order, each ``{key, label, text, iso, note}``: promised
    on (stated), registered on chain (block time), due (and the original due date if moved),
    delivered on as stated (``met_at``), recorded on chain (``met_on_record_at``)."""
    rows = [
        {"key": "promised", "label": lang.t("when.promised"), "text": lang.date(c["promised_at"], tz), "iso": lang.iso(c["promised_at"]),
         "note": lang.t("when.stated")},
        {"key": "registered", "label": lang.t("when.registered"), "text": lang.date(c["registered"]["block_time"], tz),
         "iso": lang.iso(c["registered"]["block_time"]), "note": lang.t("when.proven")},
        {"key": "due", "label": lang.t("when.due"), "text": lang.date(c["due_date"], tz), "iso": lang.iso(c["due_date"]),
         "note": lang.t("when.originalDue", date=lang.date(c["original_due_date"], tz)) if c["due_date"] != c["original_due_date"] else ""},
    ]
    if c["met_at"] is not None:
        rows.append({"key": "met", "label": lang.t("when.met"), "text": lang.date(c["met_at"], tz), "iso": lang.iso(c["met_at"]),
                     "note": lang.t("when.stated")})
    if c["met_on_record_at"] is not None:
        rows.append({"key": "met_on_record", "label": lang.t("when.metOnRecord"), "text": lang.date(c["met_on_record_at"], tz),
                     "iso": lang.iso(c["met_on_record_at"]), "note": lang.t("when.proven")})
    return rows


def verdicts(c: dict[str, Any], lang: Lang) -> list[dict[str, Any]]:
    """The four verdicts (two clocks × two sets of terms) plus the confirmed-only one, each
    ``{key, label, badge}``; the first is the headline."""
    rows = [("status", "field.statusClaimed"), ("status_on_record", "field.statusOnRecord"),
            ("status_original_terms", "field.statusOriginal"), ("status_confirmed", "field.statusConfirmed")]
    return [{"key": key, "label": lang.t(label), "badge": status_badge(c, lang, key)} for key, label in rows]


def delivery_title(d: dict[str, Any], lang: Lang) -> str:
    """"Delivery 3" for a recorded one, "Delivery in batch, leaf 0x1234…" for a batched one."""
    if d["kind"] == "batched":
        return lang.t("delivery.batched", hash=short_hash(d["leaf_hash"]))
    return lang.t("delivery.number", id=d["delivery_number"])


def delivery_state(d: dict[str, Any], lang: Lang) -> Badge:
    """Whether a delivery counts, in words: revoked, refused (double count, refused leaf),
    or counted (with its review by a second party)."""
    if d.get("revocation"):
        return Badge("revoked", lang.t("delivery.revoked"), "bad")
    if d.get("double_counted"):
        return Badge("double_counted", lang.t("asset.doubleCounted"), "bad")
    if d["kind"] == "batched" and not d.get("counted", True):
        return Badge("refused", lang.t(f'leaf.refused.{d["refused_reason"]}'), "bad")
    review = d.get("review") or "unconfirmed"
    return Badge(review, lang.t(f"review.{review}"), {"confirmed": "ok", "disputed": "bad"}.get(review, "neutral"))


def short_hash(value: str | None, keep: int = 10) -> str:
    """``0x1234abcd…`` (the first ``keep`` characters after 0x, then an ellipsis)."""
    if not value:
        return ""
    return value if len(value) <= keep + 2 else f"{value[:keep + 2]}…"


def timeline(c: dict[str, Any], lang: Lang) -> list[dict[str, Any]]:
    """Every on-chain fact of commitment detail ``c`` in chain order (block number, log
    index): the index's timeline (registered, amended, delivered, revoked, withdrawn) plus
    what it does not hold: the anchor of each batch that delivers to it, batched revocations,
    and each confirmer's latest verdict on each of its deliveries. Each entry is ``{"kind",
    "chain", ...}``; ``kind`` is also the text key ``tl.<kind>``."""
    entries: list[dict[str, Any]] = [dict(e) for e in c["timeline"]]
    anchors: dict[str, dict[str, Any]] = {}
    for d in c["deliveries"]:
        label = delivery_title(d, lang)
        if d["kind"] == "batched":
            anchor = anchors.setdefault(d["batch_root"], {"kind": "anchored", "chain": d["recorded"], "root": d["batch_root"],
                                                          "labels": [], "quantity": 0})
            anchor["labels"].append(label)
            anchor["quantity"] += int(d["quantity"])
            if d["revocation"]:
                entries.append({"kind": "revoked_batched", "chain": d["revocation"]["chain"], "label": label,
                                "reason": d["revocation"]["reason"]})
        for r in d.get("confirmations") or []:
            entries.append({"kind": "confirmed", "chain": r["chain"], "label": label, "confirmer": r["confirmer"],
                            "evidence_hash": r.get("evidence_hash")})
        for r in d.get("disputes") or []:
            entries.append({"kind": "disputed", "chain": r["chain"], "label": label, "confirmer": r["confirmer"],
                            "reason": r["reason"]})
    entries += anchors.values()
    return sorted(entries, key=lambda e: (e["chain"]["block_number"], e["chain"]["log_index"]))
