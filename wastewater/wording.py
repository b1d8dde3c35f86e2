"""Plain-language sentences the core returns to its users, in Swedish and English.

The statistics compute numbers; this module turns them into the sentences shown in the API
(``sentence_sv`` / ``sentence_en``) and quoted in reports. The templates live in one table,
:data:`SENTENCES`, next to each other per language, so a translator edits them in one place.
(Dashboard and report texts are in ``dashboards/i18n.py``; the core cannot import the edges.)

>>> print(effect_sentence("sv", -0.25, -0.4, -0.05, 0.012, 0.05, 56, 56, "AR(1)-regression",
...                       sensitive=False))  # doctest: +NORMALIZE_WHITESPACE
Efter insatsen var belastningen 25 % lägre (95 % KI: 5–40 % lägre; p = 0,012) än förväntat
utifrån perioden före, justerat för veckodag och trend (56 dagar före, 56 efter;
AR(1)-regression). Förändringen är statistiskt säkerställd på nivån 5 %. En förändring i
avloppet visar inte ensam en förändring i bruket (t.ex. dumpning, befolkningsförändring).
"""

from __future__ import annotations

import math

__all__ = ["METHOD_NAMES", "NOT_ESTIMABLE", "POSSIBLE_METHOD_CHANGE", "SENTENCES", "alert_sentence",
           "effect_pending_sentence", "effect_sentence", "excluded_sentence", "method_change_sentence",
           "not_estimable_sentence"]

SENTENCES: dict[str, dict[str, str]] = {
    "sv": {
        "effect": ("Efter insatsen var belastningen {change} ({level} KI: {ci}; {p}) än förväntat "
                   "utifrån perioden före, justerat för {adjusted} ({n_before} dagar före, "
                   "{n_after} efter; {method}). "),
        "adjusted_trend": "veckodag och trend",
        "adjusted": "veckodag",
        "significant": "Förändringen är statistiskt säkerställd på nivån {alpha}.",
        "not_significant": "Förändringen kan vara slumpmässig (inte statistiskt säkerställd).",
        "censoring_sensitive": " Resultatet beror på hur värden under kvantifieringsgränsen hanteras.",
        "caveat": (" En förändring i avloppet visar inte ensam en förändring i bruket (t.ex. "
                   "dumpning, befolkningsförändring)."),
        "excluded": " {n} dag(ar) uteslöts ur skattningen ({why}).",
        "method_change": (" Ett nivåskifte vid metodbyte ({dates}) ingår i modellen, så bytet "
                          "räknas inte som en förändring."),
        "lower": "lägre",
        "higher": "högre",
        "range_to": "till",
        "p_missing": "p saknas",
        "effect_pending": ("Resultatet publiceras {release}. Uppföljningen efter insatsen pågår till och "
                           "med {last_day}, och fram till dess ändras skattningen med varje nytt provdygn: "
                           "två avläsningar med ett dygns mellanrum skulle tillsammans visa det dygnets "
                           "värde."),
        "alert_high": ("Ovanligt högt värde: {ratio:.1f} gånger medianen för samma veckodag de senaste "
                       "{n_weeks} veckorna (falsklarmrisk {false_alarm_rate:.0%})."),
    },
    "en": {
        "effect": ("After the operation the load was {change} ({level} CI: {ci}; {p}) than expected "
                   "from the period before, adjusted for {adjusted} ({n_before} days before, "
                   "{n_after} after; {method}). "),
        "adjusted_trend": "weekday and trend",
        "adjusted": "weekday",
        "significant": "The change is statistically significant at the {alpha} level.",
        "not_significant": "The change may be due to chance (not statistically significant).",
        "censoring_sensitive": (" The result depends on how values below the limit of "
                                "quantification are handled."),
        "caveat": (" A change in wastewater loads alone does not prove a change in use (e.g. "
                   "dumping, population change)."),
        "excluded": " {n} day(s) were excluded from the estimate ({why}).",
        "method_change": (" A level shift at the marked method change ({dates}) is in the model, "
                          "so the change of method is not counted as an effect."),
        "lower": "lower",
        "higher": "higher",
        "range_to": "to",
        "p_missing": "p not available",
        "effect_pending": ("The result is published on {release}. The follow-up after the operation runs "
                           "until {last_day}, and until then the estimate changes with every new day "
                           "sampled: two readings a day apart would together show that day's value."),
        "alert_high": ("Unusually high: {ratio:.1f} times the median of the same weekday over the last "
                       "{n_weeks} weeks (false-alarm rate {false_alarm_rate:.0%})."),
    },
}
"""Sentence templates per language (``sv``, ``en``); placeholders in braces."""

METHOD_NAMES: dict[str, dict[str, str]] = {
    "sv": {"ar1_noise": "AR(1)+mätbrus-regression", "ar1": "AR(1)-regression", "hac": "HAC-regression",
           "ols": "OLS"},
    "en": {"ar1_noise": "AR(1) + measurement-noise regression", "ar1": "AR(1)-regression",
           "hac": "HAC-regression", "ols": "OLS"},
}
"""Short name of each operation-effect method (``wastewater.stats.METHODS``) inside a sentence."""

NOT_ESTIMABLE: dict[str, dict[str, str]] = {
    "sv": {
        "design_degenerate": ("perioden efter kan inte skiljas från modellens övriga delar (t.ex. ett metodbyte "
                              "första dagen efter insatsen); ange bytet en annan dag eller korta fönstret"),
        "too_few_days": ("perioden {period} {first}–{last}: {n} mätning(ar), minst {min_obs} behövs (lägg till "
                         "prover eller vidga fönstret)"),
        "all_censored": ("alla värden i fönstret ligger under kvantifieringsgränsen; de ersatta värdena säger "
                         "inget om en förändring"),
        "mostly_censored": ("{share:.0%} av värdena {period} insatsen ligger under kvantifieringsgränsen; "
                            "en förändring går inte att skilja från hur de värdena ersätts"),
        "constant": ("mätvärdena varierar inte (konstant serie); kontrollera uppladdningen (ett "
                     "platshållarvärde som upprepats?)"),
        "before": "före",
        "after": "efter",
    },
    "en": {
        "design_degenerate": ("the after period cannot be separated from the other terms (e.g. a method change "
                              "on the first day after the event); mark the change on another day or shorten "
                              "the window"),
        "too_few_days": ("{period} period {first}–{last}: {n} observation(s), at least {min_obs} needed (fix: "
                         "widen the window or add samples)"),
        "all_censored": ("every value in the window is below the limit of quantification; the substituted "
                         "values carry no information about a change"),
        "mostly_censored": ("{share:.0%} of the values {period} the event are below the limit of "
                            "quantification; a change cannot be told from the substitution rule"),
        "constant": ("the measured values do not vary (constant series); check the upload (a placeholder "
                     "value repeated?)"),
        "before": "before",
        "after": "after",
    },
}
"""Why an operation effect cannot be estimated, per reason code (``NotEstimableError.code``);
``{period}`` is the word ``before`` or ``after`` of the same table."""

POSSIBLE_METHOD_CHANGE: dict[str, str] = {"sv": "möjligt metodbyte – markera det eller förklara det",
                                          "en": "possible method change — mark it or explain it"}
"""Shown with every level shift found that the marked method changes do not explain."""


def _pct(x: float) -> str:
    return f"{abs(x) * 100:.0f} %"


def _direction(x: float, lang: str) -> str:
    return SENTENCES[lang]["lower" if x < 0 else "higher"]


def _ci_text(low: float, high: float, lang: str) -> str:
    if (low < 0) == (high < 0):
        a, b = sorted([abs(low), abs(high)])
        return f"{a * 100:.0f}–{b * 100:.0f} % {_direction(low, lang)}"
    join = SENTENCES[lang]["range_to"]
    return f"{_pct(low)} {_direction(low, lang)} {join} {_pct(high)} {_direction(high, lang)}"


def _p_text(p: float, lang: str) -> str:
    if not math.isfinite(p):
        return SENTENCES[lang]["p_missing"]
    txt = "p < 0.001" if p < 0.001 else f"p = {p:.3f}"
    return txt.replace(".", ",") if lang == "sv" else txt


def effect_sentence(lang: str, relative_change: float, ci_low: float, ci_high: float,
                    p_value: float, alpha: float, n_before: int, n_after: int, method: str, *,
                    sensitive: bool, trend: bool = True) -> str:
    """The result of an operation-effect test as one paragraph in ``lang`` (``sv`` or ``en``).

    ``relative_change``, ``ci_low``, ``ci_high`` are fractions (−0.25 = 25 % lower) of the
    after-period level against the pre-period prediction; ``sensitive``: the estimate depends
    on how censored values are substituted.
    """
    s = SENTENCES[lang]
    text = s["effect"].format(
        change=f"{_pct(relative_change)} {_direction(relative_change, lang)}",
        level=f"{(1 - alpha) * 100:g} %", ci=_ci_text(ci_low, ci_high, lang), p=_p_text(p_value, lang),
        adjusted=s["adjusted_trend" if trend else "adjusted"], n_before=n_before, n_after=n_after,
        method=method)
    text += (s["significant"].format(alpha=f"{alpha * 100:g} %") if p_value < alpha
             else s["not_significant"])
    if sensitive:
        text += s["censoring_sensitive"]
    return text + s["caveat"]


def excluded_sentence(lang: str, n_excluded: int, why: str) -> str:
    """Sentence appended when days were left out of the estimate (e.g. suspected dumping)."""
    return SENTENCES[lang]["excluded"].format(n=n_excluded, why=why)


def method_change_sentence(lang: str, dates: list[str]) -> str:
    """Sentence appended when marked method changes got a level shift in the model."""
    return SENTENCES[lang]["method_change"].format(dates=", ".join(dates))


def not_estimable_sentence(lang: str, code: str, *, period: str | None = None,
                           **fields: object) -> str:
    """Why no effect can be estimated (reason ``code`` of :data:`NOT_ESTIMABLE`) in ``lang``.

    ``period`` (``"before"`` or ``"after"``) is translated; the other ``fields`` fill the template.

    >>> not_estimable_sentence("sv", "mostly_censored", period="after", share=0.75)[:40]
    '75% av värdena efter insatsen ligger und'
    """
    table = NOT_ESTIMABLE[lang]
    words = {"period": table[period]} if period is not None else {}
    return table[code].format(**words, **fields)


def effect_pending_sentence(lang: str, last_day: str, release: str) -> str:
    """Why the public does not yet get an operation's effect: its follow-up period runs until
    ``last_day`` and the effect is published on ``release`` (ISO dates;
    :func:`wastewater.access.operation_effect_release`).

    >>> effect_pending_sentence("sv", "2026-03-01", "2026-03-15")[:38]
    'Resultatet publiceras 2026-03-15. Uppf'
    """
    return SENTENCES[lang]["effect_pending"].format(last_day=last_day, release=release)


def alert_sentence(lang: str, ratio: float, n_weeks: int, false_alarm_rate: float) -> str:
    """Message of a same-weekday alert: the new value is ``ratio`` × the median of ``n_weeks``."""
    return SENTENCES[lang]["alert_high"].format(ratio=ratio, n_weeks=n_weeks,
                                                false_alarm_rate=false_alarm_rate)
