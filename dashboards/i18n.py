"""Swedish-first user-interface strings and number/date formatting for the dashboard.

Swedish public-sector conventions ([Unicode2001]_, [ISO8601]_): dates ``YYYY-MM-DD``, decimal
comma, thousands grouped with a no-break space (``34 324``, ``12,5``), ISO week numbers
shown as ``v. 24``. English is offered with ``?lang=en`` and uses a decimal point and a
thin comma-free grouping (``34,324``, ``12.5``).
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

LANGUAGES = ("sv", "en")
DEFAULT_LANGUAGE = "sv"

#: plotly ``layout.separators``: first character decimal mark, second thousands separator.
PLOTLY_SEPARATORS = {"sv": ", ", "en": ".,"}

_NBSP = "\u00a0"

STRINGS: dict[str, dict[str, str]] = {
    "sv": {
        "app_title": "Avloppsvattenanalys – narkotika",
        "app_subtitle": "Lägesbild från reningsverkets dygnsprov",
        "skip_link": "Hoppa till huvudinnehållet",
        "nav_label": "Huvudmeny",
        "nav_trend": "Trend",
        "nav_weekday": "Veckodagsprofil",
        "nav_operation": "Insatser",
        "nav_riskweekends": "Riskhelger",
        "nav_compare": "Jämförelse med andra städer",
        "nav_upload": "Ladda upp labbresultat",
        "nav_alerts": "Larm",
        "alerts_title": "Larm från uppladdningar",
        "alerts_intro": ("Varje uppladdning kontrolleras för de dagar den lade till eller ändrade. "
                         "Kvittera ett larm när någon tar hand om det, avfärda det om det inte "
                         "behöver åtgärdas. Båda loggas."),
        "alerts_needs_key": "Larm bygger på dygnsvärden och visas bara med en API-nyckel.",
        "alerts_none": "Inga larm för den här platsen.",
        "alerts_caption": "Larm för {site}",
        "alerts_failed_caption": "Misslyckade utskick (bara administratörer)",
        "alert_kind_unusually_high": "Ovanligt högt",
        "alert_kind_outside_history": "Långt utanför tidigare värden",
        "alert_kind_method_change": "Möjligt omärkt metodbyte",
        "alert_kind_possible_dumping": "Möjlig dumpning",
        "alert_status_open": "Öppet",
        "alert_status_acknowledged": "Kvitterat",
        "alert_status_dismissed": "Avfärdat",
        "alert_acknowledge": "Kvittera",
        "alert_dismiss": "Avfärda",
        "alert_reopen": "Öppna igen",
        "alert_done": "Larm {id}: {status}.",
        "col_kind_alert": "Typ",
        "col_reason": "Varför",
        "col_status": "Status",
        "col_action": "Åtgärd",
        "col_upload": "Uppladdning",
        "col_target": "Mottagare",
        "col_attempts": "Försök",
        "col_error": "Senaste fel",
        "report_alerts": "Larm under tertialen",
        "report_alerts_summary": ("{n} larm, varav {ack} kvitterade (åtgärdade), {dis} avfärdade "
                                  "och {open} fortfarande öppna."),
        "report_alerts_none": "Inga larm under tertialen.",
        "nav_report": "Tertialrapport",
        "nav_login": "API-nyckel",
        "language_switch": "English",
        "language_switch_label": "Byt språk till engelska",
        "site": "Plats (reningsverk)",
        "analyte": "Ämne",
        "measure": "Mått",
        "start": "Från och med",
        "end": "Till och med",
        "show": "Visa",
        "measure_load_per_1000": "Belastning per 1000 invånare (mg/dygn/1000 inv.)",
        "measure_concentration": "Koncentration (ng/L)",
        "measure_consumption": "Konsumtion (mg moderämne/dygn/1000 inv.)",
        "unit_load_per_1000": "mg/dygn/1000 inv.",
        "short_load_per_1000": "Belastning (mg/dygn/1000 inv.)",
        "unit_concentration": "ng/L",
        "unit_consumption": "mg/dygn/1000 inv.",
        "axis_date": "Provdatum (dygnsprovets startdag)",
        "axis_weekday": "Veckodag",
        "trace_value": "Uppmätt värde",
        "trace_band": "Osäkerhetsintervall",
        "trace_band_change": "95 % konfidensintervall för förändring (jämför över tid)",
        "trace_band_level": "95 % konfidensintervall för nivå (jämför med andra orter) – klicka för att visa",
        "trace_band_change_day": "95 % konfidensintervall för förändring, dygn",
        "trace_band_level_day": "95 % konfidensintervall för nivå, dygn",
        "trace_weekly_mean": "Veckomedelvärde",
        "trace_daily_light": "Dygnsvärden",
        "band_note_change": ("Bandet runt veckomedelvärdet visar osäkerheten vid jämförelse av "
                             "samma reningsverk över tid (analys, provtagning, dygnsflöde). "
                             "Nivåbandet tar också med befolkning och flödesmätarens fel, som är "
                             "desamma varje dag och tar ut varandra i en jämförelse över tid."),
        "col_change_lower": "Förändring, nedre 95 %-gräns",
        "col_change_upper": "Förändring, övre 95 %-gräns",
        "col_level_lower": "Nivå, nedre 95 %-gräns",
        "col_level_upper": "Nivå, övre 95 %-gräns",
        "trace_below_loq": "Under kvantifieringsgränsen (<LOQ)",
        "trace_median": "Median",
        "event_operation": "Polisinsats",
        "event_campaign": "Kampanj",
        "event_school_search": "Skolsök med hund",
        "event_safety_walk": "Trygghetsvandring",
        "event_risk_weekend": "Riskhelg",
        "event_other": "Händelse",
        "risk_weekend": "Riskhelg",
        "confidential": "sekretessbelagd (OSL 18:1)",
        "figure_data_csv": "Ladda ner figurens data (CSV)",
        "figure_data_csv_sv": "Ladda ner för Excel (semikolon, decimalkomma)",
        "figure_table_caption": "Data i figuren",
        "figure_summary": "Sammanfattning av figuren",
        "table_toggle": "Visa figurens data som tabell",
        "no_data": "Inga data för det här urvalet.",
        "suppressed": "Platsen har färre än 10 000 anslutna invånare och visas inte publikt.",
        "trend_title": "{analyte} vid {site}",
        "weekday_title": "Veckodagsprofil: {analyte} vid {site}",
        "weekday_needs_key": ("Veckodagsprofilen visas bara med API-nyckel: dess medianer är enskilda "
                              "dygns värden. Veckomedelvärdena ovan är öppna för alla."),
        "weekday_caption": "Median per veckodag (dygnsprovets startdag) med kvartilavstånd.",
        "operation_title": "Före och efter: {event}",
        "operation_before": "Före",
        "operation_during": "Under",
        "operation_after": "Efter",
        "operation_estimate": "Skattad förändring",
        "operation_ci": "95 % konfidensintervall",
        "operation_sentence": "Sammanfattning att citera",
        "operation_choose": "Välj insats",
        "operation_none": "Inga insatser registrerade för urvalet.",
        "dumping_warning": (
            "Varning: mönstret kan bero på att narkotika spolats ned (dumpning) i samband med "
            "insatsen, inte på ändrad konsumtion. Dra inga slutsatser om minskat bruk."
        ),
        "riskweekend_title": "Riskhelger: {analyte} vid {site}",
        "riskweekend_ratio": "Kvot mot vanliga helger",
        "riskweekend_axis": "Kvot riskhelg / jämförelsehelger",
        "compare_title": "{analyte}: jämförelse med svenska och europeiska städer",
        "compare_axis": "Dygnsmedel (mg/dygn/1000 inv.)",
        "compare_source": (
            "Källa: EUDA och SCORE-nätverket, Wastewater analysis and drugs – a European "
            "multi-city study (2025)."
        ),
        "compare_year": "År",
        "compare_no_reference": (
            "Inga referensdata från EUDA är importerade. En administratör importerar dem via "
            "API:t (POST /api/v1/reference/euda/import) eller kommandoraden."
        ),
        "this_site": "Vår plats",
        "sweden": "Sverige",
        "europe": "Övriga EUDA-städer",
        "national": "Nationella referensserier",
        "smooth_label": "Utjämning",
        "smooth_none": "Ingen",
        "smooth_median7": "7-dagars glidande median (bakåt)",
        "smooth_mean7": "7-dagars glidande medelvärde (bakåt)",
        "compare_years": "År anges vid varje stapel. EUDA-år {ref_year}; vår plats: {own_year}.",
        "compare_years_differ": "Obs: vår plats har inga data för {ref_year}; den visas för {own_year}.",
        "compare_below_loq": ("{n} svenska städer har alla dagar under LOQ (EUDA skriver 0) och är "
                              "märkta < LOQ; de räknas som 0 i medianen."),
        "stable_band": "Stabil (±10 %, EUDA)",
        "date_hint": "Skriv datum som ÅÅÅÅ-MM-DD.",
        "upload_title": "Ladda upp labbresultat",
        "upload_intro": (
            "Filen kontrolleras först utan att sparas (provkörning). Rättelser visas rad för rad. "
            "När inga fel finns kan du spara."
        ),
        "upload_file": "Fil (CSV eller XLSX)",
        "upload_kind": "Typ av fil",
        "upload_kind_auto": "Känn igen automatiskt",
        "upload_dry_run": "Kontrollera (sparar inget)",
        "upload_commit": "Kontrollera och spara",
        "upload_result": "Resultat av kontrollen",
        "upload_ok": "Inga fel hittades.",
        "upload_errors": "{n} fel och {w} varningar hittades. Inget har sparats.",
        "upload_stored": "{n} rader sparades.",
        "upload_duplicate": "Exakt samma fil är redan uppladdad; inget nytt sparades.",
        "upload_rows": "{accepted} av {total} rader godkända.",
        "upload_needs_key": "Uppladdning kräver en API-nyckel med labbroll.",
        "col_line": "Rad",
        "col_column": "Kolumn",
        "col_severity": "Allvarlighet",
        "col_code": "Kod",
        "col_message": "Meddelande",
        "col_value": "Värde",
        "severity_error": "Fel",
        "severity_warning": "Varning",
        "col_date": "Datum",
        "col_value_num": "Värde",
        "col_lower": "Nedre gräns",
        "col_upper": "Övre gräns",
        "col_censored": "Under LOQ",
        "yes": "ja",
        "no": "nej",
        "login_title": "API-nyckel",
        "login_intro": (
            "Utan nyckel visas publika data (små upptagningsområden döljs, sekretessbelagda "
            "insatser visas inte). Nyckeln sparas i en kaka i den här webbläsaren."
        ),
        "login_key": "API-nyckel",
        "login_save": "Spara nyckel",
        "login_clear": "Glöm nyckeln",
        "role": "Roll",
        "report_title": "Uppföljningsrapport {year} T{tertial}",
        "report_detectable_drop": ("Med den här provtagningen ({n} efter insatsen) kunde en minskning på minst "
                                   "{drop} upptäckas i 4 fall av 5 (80 % styrka, signifikansnivå 5 %)."),
        "report_plan_sentence": ("Vid nästa insats upptäcks, med provtagningen som den är nu, en minskning på "
                                 "minst {drop} med 8 veckors provtagning efter insatsen."),
        "plan_heading": "Planera nästa insats",
        "plan_intro": ("Hur stor minskning av belastningen provtagningen kan visa: den minsta minskning som "
                       "testet upptäcker i 4 fall av 5 (80 % styrka, signifikansnivå 5 %), med platsens "
                       "nuvarande provtagning och dess variation från dag till dag, för en insats på en "
                       "vecka. Fler provdygn efter insatsen ger en mindre minskning."),
        "plan_col_period": "Provtagning efter insatsen",
        "plan_col_drop": "Minsta minskning som upptäcks",
        "plan_col_n": "Provdygn i perioden (som nu)",
        "plan_not_estimable": "för få provdygn",
        "plan_needs_key": "Planeringen av provtagning kräver en API-nyckel.",
        "trend_word_increasing": "ökande",
        "trend_word_decreasing": "minskande",
        "trend_word_no_trend": "ingen säker trend",
        "change_class_increase": "ökning",
        "change_class_decrease": "minskning",
        "change_class_stable": "stabil",
        "change_class_no_previous_data": "ingen jämförelse",
        "change_class_too_little_data": "för lite data",
        "report_period": "Period",
        "report_year": "År",
        "report_tertial": "Tertial",
        "report_make": "Visa rapport",
        "report_download": "Ladda ner rapporten (HTML, fungerar utan internet)",
        "report_what_changed": "Vad har förändrats",
        "report_events": "Händelser under perioden",
        "report_certainty": "Hur säkra är resultaten",
        "report_previous": "föregående tertial",
        "report_certainty_level": (
            "Osäkerheten i ett enskilt dygnsvärde anges på två sätt. Nivå (analys, provtagning, flöde, "
            "flödesmätarens fel och befolkning) är omkring {rsd}\u00a0% (relativ standardavvikelse) och gäller "
            "när orten jämförs med andra orter. Förändring tar bara med det som skiljer sig från dag till "
            "dag (analys, provtagning, dygnsflöde): omkring {rsd_change}\u00a0% för ett dygn och {rsd_week}\u00a0% "
            "för ett veckomedelvärde. Det gäller när samma plats jämförs över tid, eftersom befolknings- "
            "och mätarfelet är desamma varje dag och tar ut varandra. EUDA räknar en förändring under "
            "±{threshold}\u00a0% som stabil."
        ),
        "report_certainty_censored": (
            "{n_censored} av {n_days} provdygn låg under kvantifieringsgränsen och har ersatts med halva "
            "gränsen. En topp under en insats kan bero på att narkotika spolats ned; dra aldrig slutsatsen "
            "att bruket minskat utifrån en enda vecka efter en insats."
        ),
        "report_public_note": (
            "Publik rapport: upptagningsområden med färre än {limit} anslutna invånare visas inte, och "
            "figurerna visar veckomedelvärden. Ett provsvar som kommer in efter att dess vecka har "
            "publicerats räknas inte med, så sena svar ändrar inte publicerade siffror (rättelser av svar "
            "som redan fanns tas med). Sekretessbelagda insatser ingår inte."
        ),
        "report_change": "Förändring mot {prev}",
        "report_no_events": "Inga händelser registrerade under perioden.",
        "report_generated": "Skapad",
        "report_method": (
            "Belastning per 1000 invånare = koncentration × flöde / befolkning. Värden under "
            "kvantifieringsgränsen ersätts med halva gränsen. Förändringar jämförs med samma "
            "veckodagar; en förändring räknas som tydlig först när konfidensintervallet inte "
            "innehåller noll. Trenden över tolv kalendermånader skattas på veckomedelvärdena (samma som "
            "i den publika vyn av tjänsten) med hänsyn till att närliggande veckor liknar varandra; "
            "veckor med misstänkt dumpning räknas bort, och ett markerat metodbyte i labbet räknas som "
            "ett nivåskift, inte som trend."
        ),
        "col_site": "Plats",
        "col_analyte": "Ämne",
        "col_mean": "Medel",
        "col_prev_mean": "Medel föregående",
        "col_change_pct": "Förändring (%)",
        "col_n_days": "Antal provdygn",
        "col_event": "Händelse",
        "col_kind": "Typ",
        "col_start": "Start",
        "col_end": "Slut",
        "col_description": "Beskrivning",
        "col_population": "Befolkning",
        "col_city": "Stad",
        "col_country": "Land",
        "footer": (
            "Data: kommunens provtagning vid reningsverket. Tillgänglighetsredogörelse: "
            "rapportera brister till kommunens ANDTS-samordnare."
        ),
        "event_method_change": "Metodbyte i labbet",
        "role_public": "publik",
        "role_viewer": "läsare",
        "role_lab": "labb",
        "role_analyst": "analytiker",
        "role_admin": "administratör",
        "role_revoked": "återkallad",
        "inhabitants_short": "inv.",
        "iso_week": "ISO-vecka",
        "public_weekly_notice": "Publik vy: veckomedelvärden (ISO-vecka). Logga in med API-nyckel för dygnsvärden.",
        "operation_method": "Metod",
        "operation_method_ar1_noise": ("Regression på logaritmerad dygnsbelastning med veckodag och perioderna "
                                       "under och efter insatsen; dag-till-dag-samvariation (AR(1)) och mätbrus "
                                       "ingår i modellen."),
        "operation_weekly_points": "Punkterna är veckomedelvärden (publik vy).",
        "riskweekend_summary": "{weekends}. Störst kvot {ratio} ({name} {date}).",
        "riskweekend_controls": "n (jämförelsehelger)",
        "riskweekend_in_period": "Riskhelger i perioden",
        "compare_summary": "{n} städer, EUDA {year}. Svenska städer: median {median} mg/dygn/1000 inv.",
        "compare_own": "Vår plats: {value}.",
        "upload_kind_results": "Analysresultat",
        "upload_kind_flows": "Dygnsflöden",
        "upload_kind_sites": "Platser (reningsverk)",
        "upload_kind_events": "Händelser (insatser, kampanjer)",
        "login_unknown_key": "Okänd eller återkallad nyckel.",
        "report_needs_analyst": "Analytikervyn kräver en nyckel med rollen analytiker eller administratör.",
        "report_t1": "T1 (jan–apr)",
        "report_t2": "T2 (maj–aug)",
        "report_t3": "T3 (sep–dec)",
        "report_view": "Vy",
        "report_view_public": "Publik (får publiceras)",
        "report_view_analyst": "Analytiker – sekretessbelagd, får inte publiceras",
        "issue_where_line": "Rad {line}",
        "issue_where_file": "Filen",
        "issue_where_column": "kolumn '{column}'",
        "report_summary": "Sammanfattning",
        "report_summary_period": "Rapporten gäller {tertial} ({start} – {end}).",
        "report_summary_no_data": "Det finns inga mätningar från perioden.",
        "report_summary_no_previous": ("Det finns inga mätningar från {prev} att jämföra med, så rapporten visar bara "
                                       "nivåerna."),
        "report_summary_none_comparable": "Ingen serie har tillräckligt många mätveckor för att jämföras med {prev}.",
        "report_summary_compared": "{n} serier (ämne och reningsverk) jämfördes med {prev}.",
        "report_summary_stable": ("Ingen av dem ändrades med {threshold} % eller mer; nivåerna är i stort sett "
                                  "oförändrade."),
        "report_summary_changed": "{n} ändrades med minst {threshold} %: {names}.",
        "report_summary_largest": "Störst förändring: {analyte} vid {site}, {change}.",
        "report_summary_sure": ("För {n} av {total} serier ligger hela 95-procentsintervallet på samma sida om noll; "
                                "för de övriga kan skillnaden vara slump."),
        "report_summary_too_little": ("{n} serier hade för lite data (färre än {min} mätveckor i någon av "
                                      "tertialerna) och jämförs inte."),
        "report_summary_events": "Under perioden registrerades {events} ({kinds}) och {weekends}.",
        "report_summary_limits": ("Avloppsvattnet visar hur mycket av ett ämne som når reningsverket, inte hur många "
                                  "som använder det eller var det köps, och en enstaka topp kan bero på att "
                                  "narkotika spolats ned."),
        "report_summary_dumping": ("{days} med misstänkt dumpning under eller strax efter polisinsatser räknades "
                                   "inte med (se noten i avsnittet ”{section}”)."),
        "report_dumping_note": ("Misstänkt dumpning räknas inte med i jämförelserna. Ett dygn under en polisinsats "
                                "vid reningsverket, eller upp till {days} dygn efter den, tas bort när mängden av "
                                "drogen – eller kvoten mellan drogen och dess nedbrytningsprodukt – ligger långt "
                                "över det vanliga för samma veckodag där. Narkotika som spolas ned vid ett tillslag "
                                "säger inget om hur mycket som används. Borttagna dygn:"),
        "report_dumping_item": "{analyte} vid {site}: {days} ({events})",
        "report_series_name": "{analyte} vid {site}",
        "report_change_interval": "{change} (95 % KI {low} till {high})",
        "report_no_previous": "ingen jämförelse (inga data föregående tertial)",
        "report_too_little_data": "för lite data ({n} mätveckor, minst {min} behövs)",
        "report_trend_short": "– (kräver 12 månaders data)",
        "report_trend_censored": "– (mest under kvantifieringsgränsen)",
        "report_change_item": ("{analyte} vid {site}: {change} mot {prev} ({before} → {after} mg/dygn/1000 inv., "
                               "{klass})."),
        "report_largest_changes": "Största förändringarna mot föregående tertial (med 95 % konfidensintervall):",
        "report_col_change_ci": "Förändring (95 % KI)",
        "report_col_class": "EUDA-klass",
        "report_col_trend": "Trend senaste 12 månaderna (%/år, 95 % KI, p)",
        "report_no_comparison": ("Ingen serie kan jämföras med {prev} (inga eller för få mätveckor); medelvärden för "
                                 "perioden:"),
        "report_changes_summary": ("{n} av {total} serier ändrades med minst ±10 %. Strecken visar 95 % "
                                   "konfidensintervall."),
        "report_sites_heading": "Utveckling per plats och ämne",
        "report_risk_weekends": "Riskhelger",
        "report_data_until": "Data finns till och med {date} (senaste tertialen med data: {tertial}).",
        "col_event_id": "Id",
        "event_payday_weekend": "Lönehelg",
        "event_long_weekend": "Långhelg",
        "payday_in_period": "Lönehelger i perioden",
        "payday_date": "Lönedag",
        "payday_note": ("Lönehelgen (första fredag–söndag från lönedagen, oftast den 25:e) är en egen typ: den räknas "
                        "inte som riskhelg och inte heller som vanlig jämförelsehelg, eftersom bruket ofta är "
                        "högre då."),
        "riskweekend_sure": "Skillnaden är statistiskt säkerställd.",
        "riskweekend_unsure": "Skillnaden kan vara slump (intervallet innehåller 1).",
        "riskweekend_model_heading": "Blev belastningen högre under riskhelgerna?",
        "riskweekend_model_sentence": ("Under {name} ({years}, {days}) var belastningen av {analyte} vid {site} "
                                       "i genomsnitt {ratio} gånger så hög som övriga dagar, med hänsyn till "
                                       "veckodag och årstid (95 % KI {low}–{high})."),
        "riskweekend_model_note": ("Varje riskhelg prövas i en modell över hela serien: alla år av helgen "
                                   "tillsammans jämförs med övriga dagar, med samma felmodell som för insatser "
                                   "(dag-till-dag-variation och mätfel). Lönehelger och långhelger räknas för "
                                   "sig och blandas inte in i jämförelsen."),
        "riskweekend_model_caption": "Riskhelger, alla år tillsammans (en modell över hela serien)",
        "riskweekend_model_ratio": "Kvot mot övriga dagar",
        "riskweekend_years": "Antal år",
        "riskweekend_per_year_note": ("Nedan varje år för sig, jämfört med samma veckodagar sex veckor före och "
                                      "efter. Ett enskilt år säger mindre än alla år tillsammans ovan."),
        "method_change_level_shift": "Metodbyten i labbet ({dates}) räknas som nivåskift, inte som förändring.",
        "trend_test_heading": "Finns det en trend?",
        "trend_test_sentence": ("Från {start} till {end} ändrades belastningen av {analyte} vid {site} med "
                                "{pct} per år (95 % KI {low} till {high}; {p}): {verdict}."),
        "trend_test_note": ("Trenden skattas på logaritmen av dygnsbelastningen med hänsyn till veckodag och "
                            "till att närliggande dygn liknar varandra (samma felmodell som för insatser)."),
        "trend_test_too_short": "För få provdygn i perioden för att pröva en trend.",
        "published_trend_sentence": ("Under de tolv månaderna {start} – {end} ändrades belastningen av {analyte} "
                                     "vid {site} med {pct} per år (95 % KI {low} till {high}; {p}): {verdict}."),
        "published_trend_note": ("Det här är den publicerade trenden, samma som i tertialrapporten: den skattas på "
                                 "veckomedelvärdena under tolv kalendermånader som slutar vid ett månadsskifte, "
                                 "veckor med misstänkt dumpning under en insats borträknade. En trend över en "
                                 "annan period bygger på dygnsvärden och visas med API-nyckel."),
        "published_trend_too_short": ("För få mätveckor under de tolv månaderna {start} – {end} för att visa en "
                                      "trend per år."),
        "trend_verdict_increasing": "ökande trend",
        "trend_verdict_decreasing": "minskande trend",
        "trend_verdict_none": "ingen säker trend",
        "weekday_legend_weekdays": "Måndag–torsdag",
        "weekday_legend_weekend": "Helg (fredag–söndag)",
        "weekdays": "mån,tis,ons,tor,fre,lör,sön",
    },
    "en": {
        "app_title": "Wastewater drug monitoring",
        "app_subtitle": "Situation picture from the treatment plant's 24-hour samples",
        "skip_link": "Skip to main content",
        "nav_label": "Main menu",
        "nav_trend": "Trend",
        "nav_weekday": "Weekday profile",
        "nav_operation": "Operations",
        "nav_riskweekends": "Risk weekends",
        "nav_compare": "Compare with other cities",
        "nav_upload": "Upload lab results",
        "nav_alerts": "Alerts",
        "alerts_title": "Alerts from uploads",
        "alerts_intro": ("Every upload is checked for the days it added or changed. Acknowledge "
                         "an alert when someone acts on it, dismiss it when it needs no action. "
                         "Both are logged."),
        "alerts_needs_key": ("Alerts are based on single-day values and are shown only with an "
                             "API key."),
        "alerts_none": "No alerts for this site.",
        "alerts_caption": "Alerts for {site}",
        "alerts_failed_caption": "Failed deliveries (admins only)",
        "alert_kind_unusually_high": "Unusually high",
        "alert_kind_outside_history": "Far outside the history",
        "alert_kind_method_change": "Possible unmarked method change",
        "alert_kind_possible_dumping": "Possible dumping",
        "alert_status_open": "Open",
        "alert_status_acknowledged": "Acknowledged",
        "alert_status_dismissed": "Dismissed",
        "alert_acknowledge": "Acknowledge",
        "alert_dismiss": "Dismiss",
        "alert_reopen": "Reopen",
        "alert_done": "Alert {id}: {status}.",
        "col_kind_alert": "Kind",
        "col_reason": "Why",
        "col_status": "Status",
        "col_action": "Action",
        "col_upload": "Upload",
        "col_target": "Recipient",
        "col_attempts": "Attempts",
        "col_error": "Last error",
        "report_alerts": "Alerts in the tertial",
        "report_alerts_summary": ("{n} alerts: {ack} acknowledged (acted on), {dis} dismissed and "
                                  "{open} still open."),
        "report_alerts_none": "No alerts in the tertial.",
        "nav_report": "Tertial report",
        "nav_login": "API key",
        "language_switch": "Svenska",
        "language_switch_label": "Switch language to Swedish",
        "site": "Site (treatment plant)",
        "analyte": "Substance",
        "measure": "Measure",
        "start": "From",
        "end": "To (inclusive)",
        "show": "Show",
        "measure_load_per_1000": "Load per 1000 inhabitants (mg/day/1000 inh.)",
        "measure_concentration": "Concentration (ng/L)",
        "measure_consumption": "Consumption (mg parent/day/1000 inh.)",
        "unit_load_per_1000": "mg/day/1000 inh.",
        "short_load_per_1000": "Load (mg/day/1000 inh.)",
        "unit_concentration": "ng/L",
        "unit_consumption": "mg/day/1000 inh.",
        "axis_date": "Sample date (start day of the 24 h composite)",
        "axis_weekday": "Weekday",
        "trace_value": "Measured value",
        "trace_band": "Uncertainty interval",
        "trace_band_change": "95 % confidence interval for change (compare over time)",
        "trace_band_level": "95 % confidence interval for level (compare with other cities) – click to show",
        "trace_band_change_day": "95 % confidence interval for change, day",
        "trace_band_level_day": "95 % confidence interval for level, day",
        "trace_weekly_mean": "Weekly mean",
        "trace_daily_light": "Daily values",
        "band_note_change": ("The band around the weekly mean is the uncertainty for comparing "
                             "the same plant over time (analysis, sampling, daily flow). The level "
                             "band adds population and flow-meter errors, which are the same every "
                             "day and cancel when the plant is compared with itself."),
        "col_change_lower": "Change, lower 95 % bound",
        "col_change_upper": "Change, upper 95 % bound",
        "col_level_lower": "Level, lower 95 % bound",
        "col_level_upper": "Level, upper 95 % bound",
        "trace_below_loq": "Below limit of quantification (<LOQ)",
        "trace_median": "Median",
        "event_operation": "Police operation",
        "event_campaign": "Campaign",
        "event_school_search": "School dog search",
        "event_safety_walk": "Safety walk",
        "event_risk_weekend": "Risk weekend",
        "event_other": "Event",
        "risk_weekend": "Risk weekend",
        "confidential": "confidential (OSL 18:1)",
        "figure_data_csv": "Download the figure's data (CSV)",
        "figure_data_csv_sv": "Download for Swedish Excel (semicolon, decimal comma)",
        "figure_table_caption": "Data in the figure",
        "figure_summary": "Figure summary",
        "table_toggle": "Show the figure's data as a table",
        "no_data": "No data for this selection.",
        "suppressed": "The site has fewer than 10,000 connected inhabitants and is not shown publicly.",
        "trend_title": "{analyte} at {site}",
        "weekday_title": "Weekday profile: {analyte} at {site}",
        "weekday_needs_key": ("The weekday profile is shown only with an API key: its medians are "
                              "single days' values. The weekly means above are open to everyone."),
        "weekday_caption": "Median per weekday (start day of the composite) with interquartile range.",
        "operation_title": "Before and after: {event}",
        "operation_before": "Before",
        "operation_during": "During",
        "operation_after": "After",
        "operation_estimate": "Estimated change",
        "operation_ci": "95 % confidence interval",
        "operation_sentence": "Summary to quote",
        "operation_choose": "Choose operation",
        "operation_none": "No operations recorded for this selection.",
        "dumping_warning": (
            "Warning: the pattern may come from drugs being flushed away (dumping) during the "
            "operation, not from a change in use. Do not conclude that use has fallen."
        ),
        "riskweekend_title": "Risk weekends: {analyte} at {site}",
        "riskweekend_ratio": "Ratio to ordinary weekends",
        "riskweekend_axis": "Ratio risk weekend / comparison weekends",
        "compare_title": "{analyte}: comparison with Swedish and European cities",
        "compare_axis": "Daily mean (mg/day/1000 inh.)",
        "compare_source": (
            "Source: EUDA and the SCORE network, Wastewater analysis and drugs – a European "
            "multi-city study (2025)."
        ),
        "compare_year": "Year",
        "compare_no_reference": (
            "No EUDA reference data imported. An administrator imports them through the API "
            "(POST /api/v1/reference/euda/import) or the command line."
        ),
        "this_site": "Our site",
        "sweden": "Sweden",
        "europe": "Other EUDA cities",
        "national": "National reference series",
        "smooth_label": "Smoothing",
        "smooth_none": "None",
        "smooth_median7": "7-day trailing median",
        "smooth_mean7": "7-day trailing mean",
        "compare_years": "Each bar shows its year. EUDA year {ref_year}; our site: {own_year}.",
        "compare_years_differ": "Note: our site has no data for {ref_year}; it is shown for {own_year}.",
        "compare_below_loq": ("{n} Swedish cities have every day below LOQ (EUDA writes 0) and are "
                              "marked < LOQ; they count as 0 in the median."),
        "stable_band": "Stable (±10 %, EUDA)",
        "date_hint": "Write dates as YYYY-MM-DD.",
        "upload_title": "Upload lab results",
        "upload_intro": (
            "The file is checked first without saving anything (dry run). Problems are listed "
            "row by row. When there are no errors you can save."
        ),
        "upload_file": "File (CSV or XLSX)",
        "upload_kind": "File type",
        "upload_kind_auto": "Detect automatically",
        "upload_dry_run": "Check (saves nothing)",
        "upload_commit": "Check and save",
        "upload_result": "Result of the check",
        "upload_ok": "No errors found.",
        "upload_errors": "{n} errors and {w} warnings found. Nothing was saved.",
        "upload_stored": "{n} rows stored.",
        "upload_duplicate": "Exactly this file was uploaded before; nothing new was stored.",
        "upload_rows": "{accepted} of {total} rows accepted.",
        "upload_needs_key": "Uploading needs an API key with the lab role.",
        "col_line": "Line",
        "col_column": "Column",
        "col_severity": "Severity",
        "col_code": "Code",
        "col_message": "Message",
        "col_value": "Value",
        "severity_error": "Error",
        "severity_warning": "Warning",
        "col_date": "Date",
        "col_value_num": "Value",
        "col_lower": "Lower bound",
        "col_upper": "Upper bound",
        "col_censored": "Below LOQ",
        "yes": "yes",
        "no": "no",
        "login_title": "API key",
        "login_intro": (
            "Without a key public data are shown (small catchments hidden, confidential "
            "operations not shown). The key is kept in a cookie in this browser."
        ),
        "login_key": "API key",
        "login_save": "Save key",
        "login_clear": "Forget the key",
        "role": "Role",
        "report_title": "Follow-up report {year} T{tertial}",
        "report_detectable_drop": ("With this sampling ({n} after the operation) a drop of at least {drop} "
                                   "would have been detected in 4 cases out of 5 (80 % power, 5 % significance "
                                   "level)."),
        "report_plan_sentence": ("For the next operation, with the sampling as it is now, 8 weeks of sampling "
                                 "after it detect a drop of at least {drop}."),
        "plan_heading": "Planning the next operation",
        "plan_intro": ("How large a drop in load the sampling can show: the smallest drop the test detects "
                       "in 4 cases out of 5 (80 % power, 5 % significance level), with the site's current "
                       "sampling and its day-to-day variation, for a one-week operation. More sample days "
                       "after the operation detect a smaller drop."),
        "plan_col_period": "Sampling after the operation",
        "plan_col_drop": "Smallest drop detected",
        "plan_col_n": "Sample days in the period (as now)",
        "plan_not_estimable": "too few sample days",
        "plan_needs_key": "Planning the sampling needs an API key.",
        "trend_word_increasing": "increasing",
        "trend_word_decreasing": "decreasing",
        "trend_word_no_trend": "no clear trend",
        "change_class_increase": "increase",
        "change_class_decrease": "decrease",
        "change_class_stable": "stable",
        "change_class_no_previous_data": "no comparison",
        "change_class_too_little_data": "too little data",
        "report_period": "Period",
        "report_year": "Year",
        "report_tertial": "Tertial",
        "report_make": "Show report",
        "report_download": "Download the report (HTML, works offline)",
        "report_what_changed": "What changed",
        "report_events": "Events during the period",
        "report_certainty": "How certain are the results",
        "report_previous": "previous tertial",
        "report_certainty_level": (
            "The uncertainty of a daily value is given in two ways. Level (analysis, sampling, flow, "
            "flow-meter error and population) is about {rsd}\u00a0% (relative standard deviation) and applies "
            "when the site is compared with other cities. Change keeps only what varies from day to day "
            "(analysis, sampling, daily flow): about {rsd_change}\u00a0% for one day and {rsd_week}\u00a0% for a "
            "weekly mean. It applies when the same site is compared over time, because population and "
            "meter errors are the same every day and cancel. EUDA counts a change within ±{threshold}\u00a0% "
            "as stable."
        ),
        "report_certainty_censored": (
            "{n_censored} of {n_days} sample days were below the limit of quantification and were replaced "
            "by half the limit. A spike during an operation may be dumping; never conclude that use fell "
            "from a single week after an operation."
        ),
        "report_public_note": (
            "Public report: catchments with fewer than {limit} connected inhabitants are not shown, and "
            "figures show weekly means. A lab result that arrives after its week was published is not "
            "counted, so late results do not change published figures (corrections of results already "
            "received are). Confidential operations are not included."
        ),
        "report_change": "Change against {prev}",
        "report_no_events": "No events recorded during the period.",
        "report_generated": "Generated",
        "report_method": (
            "Load per 1000 inhabitants = concentration × flow / population. Values below the "
            "limit of quantification are replaced by half the limit. Changes are compared on the "
            "same weekdays; a change counts as clear only when its confidence interval excludes zero. "
            "The trend over twelve calendar months is estimated on the weekly means (as the service's "
            "public view shows them), allowing for neighbouring weeks being alike; weeks with suspected "
            "dumping are left out, and a marked lab method change counts as a level shift, not as a trend."
        ),
        "col_site": "Site",
        "col_analyte": "Substance",
        "col_mean": "Mean",
        "col_prev_mean": "Previous mean",
        "col_change_pct": "Change (%)",
        "col_n_days": "Sample days",
        "col_event": "Event",
        "col_kind": "Kind",
        "col_start": "Start",
        "col_end": "End",
        "col_description": "Description",
        "col_population": "Population",
        "col_city": "City",
        "col_country": "Country",
        "footer": (
            "Data: the municipality's sampling at the treatment plant. Accessibility statement: "
            "report problems to the municipality's ANDTS coordinator."
        ),
        "event_method_change": "Lab method change",
        "role_public": "public",
        "role_viewer": "viewer",
        "role_lab": "lab",
        "role_analyst": "analyst",
        "role_admin": "admin",
        "role_revoked": "revoked",
        "inhabitants_short": "inh.",
        "iso_week": "ISO week",
        "public_weekly_notice": "Public view: weekly means (ISO week). Use an API key for daily values.",
        "operation_method": "Method",
        "operation_method_ar1_noise": ("Regression of the log daily load on weekday and the periods during and "
                                       "after the operation, with day-to-day correlation (AR(1)) and "
                                       "measurement noise in the model."),
        "operation_weekly_points": "Points are weekly means (public view).",
        "riskweekend_summary": "{weekends}. Largest ratio {ratio} ({name} {date}).",
        "riskweekend_controls": "n (comparison weekends)",
        "riskweekend_in_period": "Risk weekends in the period",
        "compare_summary": "{n} cities, EUDA {year}. Swedish cities: median {median} mg/day/1000 inh.",
        "compare_own": "Our site: {value}.",
        "upload_kind_results": "Lab results",
        "upload_kind_flows": "Daily flows",
        "upload_kind_sites": "Sites (treatment plants)",
        "upload_kind_events": "Events (operations, campaigns)",
        "login_unknown_key": "Unknown or revoked key.",
        "report_needs_analyst": "The analyst view needs a key with role analyst or admin.",
        "report_t1": "T1 (Jan–Apr)",
        "report_t2": "T2 (May–Aug)",
        "report_t3": "T3 (Sep–Dec)",
        "report_view": "View",
        "report_view_public": "Public (may be published)",
        "report_view_analyst": "Analyst – confidential, must not be published",
        "issue_where_line": "Line {line}",
        "issue_where_file": "File",
        "issue_where_column": "column '{column}'",
        "report_summary": "Summary",
        "report_summary_period": "This report covers {tertial} ({start} – {end}).",
        "report_summary_no_data": "There are no measurements from the period.",
        "report_summary_no_previous": ("There are no measurements from {prev} to compare with, so the report shows "
                                       "levels only."),
        "report_summary_none_comparable": "No series has enough weeks of measurements to be compared with {prev}.",
        "report_summary_compared": "{n} series (substance and treatment plant) were compared with {prev}.",
        "report_summary_stable": "None of them changed by {threshold} % or more; levels are broadly unchanged.",
        "report_summary_changed": "{n} changed by at least {threshold} %: {names}.",
        "report_summary_largest": "Largest change: {analyte} at {site}, {change}.",
        "report_summary_sure": ("For {n} of {total} series the whole 95 % interval lies on one side of zero; for the "
                                "others the difference may be chance."),
        "report_summary_too_little": ("{n} series had too little data (fewer than {min} weeks of measurements in one "
                                      "of the tertials) and are not compared."),
        "report_summary_events": "During the period {events} ({kinds}) and {weekends} were recorded.",
        "report_summary_limits": ("Wastewater shows how much of a substance reaches the treatment plant, not how many "
                                  "people use it or where it is bought, and a single peak may come from drugs "
                                  "being flushed away."),
        "report_summary_dumping": ("{days} of suspected dumping during or just after police operations were left "
                                   "out (see the note in “{section}”)."),
        "report_dumping_note": ("Suspected dumping is left out of the comparisons. A day during a police operation "
                                "at the plant, or up to {days} days after it, is removed when the load of the drug "
                                "– or the ratio of the drug to its metabolite – is far above what is usual there "
                                "for the same weekday. Drugs flushed away during a raid say nothing about how "
                                "much is used. Days removed:"),
        "report_dumping_item": "{analyte} at {site}: {days} ({events})",
        "report_series_name": "{analyte} at {site}",
        "report_change_interval": "{change} (95 % CI {low} to {high})",
        "report_no_previous": "no comparison (no data in the previous tertial)",
        "report_too_little_data": "too little data ({n} weeks of measurements, at least {min} needed)",
        "report_trend_short": "– (needs 12 months of data)",
        "report_trend_censored": "– (mostly below the limit of quantification)",
        "report_change_item": ("{analyte} at {site}: {change} against {prev} ({before} → {after} mg/day/1000 inh., "
                               "{klass})."),
        "report_largest_changes": "Largest changes against the previous tertial (with 95 % confidence intervals):",
        "report_col_change_ci": "Change (95 % CI)",
        "report_col_class": "EUDA class",
        "report_col_trend": "Trend over the last 12 months (%/year, 95 % CI, p)",
        "report_no_comparison": ("No series can be compared with {prev} (no or too few weeks of data); means for the "
                                 "period:"),
        "report_changes_summary": ("{n} of {total} series changed by at least ±10 %. Whiskers show 95 % confidence "
                                   "intervals."),
        "report_sites_heading": "Trend per site and substance",
        "report_risk_weekends": "Risk weekends",
        "report_data_until": "Data run to {date} (latest tertial with data: {tertial}).",
        "col_event_id": "Id",
        "event_payday_weekend": "Payday weekend",
        "event_long_weekend": "Long weekend",
        "payday_in_period": "Payday weekends in the period",
        "payday_date": "Payday",
        "payday_note": ("The payday weekend (first Friday–Sunday from payday, usually the 25th) is its own kind: it "
                        "counts neither as a risk weekend nor as an ordinary comparison weekend, as use is often "
                        "higher then."),
        "riskweekend_sure": "The difference is statistically significant.",
        "riskweekend_unsure": "The difference may be chance (the interval contains 1).",
        "riskweekend_model_heading": "Did risk weekends raise loads?",
        "riskweekend_model_sentence": ("During {name} ({years}, {days}) the load of {analyte} at {site} was on "
                                       "average {ratio} times that of other days, allowing for weekday and "
                                       "season (95 % CI {low}–{high})."),
        "riskweekend_model_note": ("Each risk weekend is tested in one model over the whole series: all years of "
                                   "the weekend together against the other days, with the error model of the "
                                   "operation test (day-to-day variation and measurement error). Payday and long "
                                   "weekends are terms of their own and stay out of the comparison."),
        "riskweekend_model_caption": "Risk weekends, all years together (one model over the whole series)",
        "riskweekend_model_ratio": "Ratio to other days",
        "riskweekend_years": "Years",
        "riskweekend_per_year_note": ("Below, each year on its own, against the same weekdays six weeks before "
                                      "and after. A single year says less than all years together above."),
        "method_change_level_shift": "Lab method changes ({dates}) count as level shifts, not as change.",
        "trend_test_heading": "Is there a trend?",
        "trend_test_sentence": ("From {start} to {end} the load of {analyte} at {site} changed by {pct} per "
                                "year (95 % CI {low} to {high}; {p}): {verdict}."),
        "trend_test_note": ("The trend is estimated on the log of the daily load, allowing for the weekday and "
                            "for neighbouring days being alike (the error model of the operation test)."),
        "trend_test_too_short": "Too few sample days in the period to test a trend.",
        "published_trend_sentence": ("Over the twelve months {start} – {end} the load of {analyte} at {site} "
                                     "changed by {pct} per year (95 % CI {low} to {high}; {p}): {verdict}."),
        "published_trend_note": ("This is the published trend, the same as in the tertial report: it is estimated "
                                 "on the weekly means of twelve calendar months ending at a month's end, weeks "
                                 "with suspected dumping during an operation left out. A trend over another "
                                 "period rests on daily values and is shown with an API key."),
        "published_trend_too_short": ("Too few weeks of measurements in the twelve months {start} – {end} to show "
                                      "a trend per year."),
        "trend_verdict_increasing": "an increasing trend",
        "trend_verdict_decreasing": "a decreasing trend",
        "trend_verdict_none": "no clear trend",
        "weekday_legend_weekdays": "Monday–Thursday",
        "weekday_legend_weekend": "Weekend (Friday–Sunday)",
        "weekdays": "Mon,Tue,Wed,Thu,Fri,Sat,Sun",
    },
}

#: Display names of canonical analyte ids (architecture.md); unknown ids are shown as given.
ANALYTE_NAMES: dict[str, dict[str, str]] = {
    "sv": {
        "benzoylecgonine": "Bensoylekgonin (kokain)",
        "cocaine": "Kokain",
        "amphetamine": "Amfetamin",
        "methamphetamine": "Metamfetamin",
        "mdma": "MDMA (ecstasy)",
        "thc-cooh": "THC-COOH (cannabis)",
        "ketamine": "Ketamin",
        "morphine": "Morfin",
        "methadone": "Metadon",
        "tramadol": "Tramadol",
        "ethyl-sulfate": "Etylsulfat (alkohol)",
        "cotinine": "Kotinin (nikotin)",
        "caffeine": "Koffein",
    },
    "en": {
        "benzoylecgonine": "Benzoylecgonine (cocaine)",
        "cocaine": "Cocaine",
        "amphetamine": "Amphetamine",
        "methamphetamine": "Methamphetamine",
        "mdma": "MDMA (ecstasy)",
        "thc-cooh": "THC-COOH (cannabis)",
        "ketamine": "Ketamine",
        "morphine": "Morphine",
        "methadone": "Methadone",
        "tramadol": "Tramadol",
        "ethyl-sulfate": "Ethyl sulphate (alcohol)",
        "cotinine": "Cotinine (nicotine)",
        "caffeine": "Caffeine",
    },
}

#: Dashboard measures, named as the API's ``measure`` parameter (api/services.py).
MEASURES = ("load_per_1000", "concentration", "consumption")


def normalise_language(lang: str | None) -> str:
    """Return ``"sv"`` or ``"en"``; anything else falls back to Swedish."""
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def t(key: str, lang: str = DEFAULT_LANGUAGE, **values: Any) -> str:
    """Translate ``key`` into ``lang`` and fill ``{placeholders}``.

    A missing key in English falls back to Swedish, then to the key itself, so a page
    never crashes on a forgotten string.
    """
    lang = normalise_language(lang)
    text = STRINGS[lang].get(key) or STRINGS["sv"].get(key) or key
    return text.format(**values) if values else text


#: Nouns counted in sentences: (singular, plural) per language.
COUNTED_NOUNS: dict[str, dict[str, tuple[str, str]]] = {
    "event": {"sv": ("händelse", "händelser"), "en": ("event", "events")},
    "marked_event": {"sv": ("markerad händelse", "markerade händelser"), "en": ("marked event", "marked events")},
    "risk_weekend": {"sv": ("riskhelg", "riskhelger"), "en": ("risk weekend", "risk weekends")},
    "week": {"sv": ("vecka", "veckor"), "en": ("week", "weeks")},
    "day": {"sv": ("dygn", "dygn"), "en": ("day", "days")},
    "sample_day": {"sv": ("provdygn", "provdygn"), "en": ("sample day", "sample days")},
    "year": {"sv": ("år", "år"), "en": ("year", "years")},
}


def count(n: int, noun: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """``n`` with its noun in the right number: ``1 händelse``, ``3 händelser``, ``1 riskhelg``.

    >>> count(1, "event"), count(3, "event"), count(1, "risk_weekend", "en"), count(0, "week")
    ('1 händelse', '3 händelser', '1 risk weekend', '0 veckor')
    """
    singular, plural = COUNTED_NOUNS[noun][normalise_language(lang)]
    return f"{n} {singular if n == 1 else plural}"


def analyte_name(analyte: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """Display name of a canonical analyte id."""
    return ANALYTE_NAMES[normalise_language(lang)].get(analyte, analyte)


def weekday_names(lang: str = DEFAULT_LANGUAGE) -> list[str]:
    """Monday-first short weekday names (Swedish weeks start on Monday)."""
    return t("weekdays", lang).split(",")


def measure_label(measure: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """Axis/selector label including the unit, e.g. ``Koncentration (ng/L)``."""
    return t(f"measure_{measure}", lang)


def format_number(value: Any, lang: str = DEFAULT_LANGUAGE, decimals: int = 1) -> str:
    """Format a number for display: ``12,5`` and ``34 324`` in Swedish, ``12.5``/``34,324`` in English.

    ``None``/NaN become an en dash. Thousands are grouped with a no-break space in Swedish
    ([Unicode2001]_, [ISO8601]_) so numbers never wrap across lines.

    >>> format_number(34324, "sv", 0)
    '34\\xa0324'
    >>> format_number(12.5, "sv")
    '12,5'
    >>> format_number(-0.04, "en", 1)
    '0.0'
    """
    if value is None:
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(number):
        return "–"
    text = f"{number:,.{decimals}f}"
    if text.startswith("-") and float(text.replace(",", "")) == 0:
        text = text[1:]
    if normalise_language(lang) == "sv":
        text = text.replace(",", "\x00").replace(".", ",").replace("\x00", _NBSP)
        text = text.replace("-", "\u2212")
    return text


def format_percent(value: Any, lang: str = DEFAULT_LANGUAGE, decimals: int = 0) -> str:
    """Signed percentage, e.g. ``+12 %`` / ``−8 %`` (space before % per Swedish and SI style)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    body = format_number(abs(float(value)), lang, decimals)
    sign = "+" if float(value) > 0 else ("\u2212" if float(value) < 0 else "±")
    return f"{sign}{body}{_NBSP}%"


def format_date(value: Any) -> str:
    """ISO date ``YYYY-MM-DD`` in both languages."""
    if value is None:
        return "–"
    if isinstance(value, str):
        return value[:10]
    if hasattr(value, "date") and callable(value.date):
        try:
            value = value.date()
        except (TypeError, ValueError):  # NaT
            return "–"
    if isinstance(value, _dt.date):
        return value.isoformat()
    return str(value)[:10]


def iso_week_label(value: Any, lang: str = DEFAULT_LANGUAGE) -> str:
    """``v. 24`` (Swedish) or ``wk 24`` (English) for a date."""
    day = _dt.date.fromisoformat(format_date(value))
    week = day.isocalendar().week
    return f"v. {week}" if normalise_language(lang) == "sv" else f"wk {week}"

#: Swedish explanation of every upload issue code (``wastewater.ingest.report.ISSUE_CODES``), shown
#: when an issue carries no Swedish message of its own; the English side is the registry's text.
ISSUE_TEXT_SV: dict[str, str] = {
    "empty_file": "Filen är tom.",
    "header_only": "Filen har en rubrikrad men inga datarader.",
    "binary_file": "Filen är inte en textfil (CSV).",
    "encoding_fallback": "Filen är inte i UTF-8; den lästes som Windows-1252.",
    "xlsx_unreadable": "Excelfilen (.xlsx) gick inte att läsa.",
    "malformed_csv": "CSV-filens struktur är trasig (t.ex. ett citattecken som inte stängs).",
    "too_many_columns": "Rubrikraden har fler kolumner än tillåtet.",
    "line_too_long": "En rad är längre än tillåtet.",
    "too_many_rows": "Filen har fler datarader än tillåtet.",
    "unknown_kind": "Rubrikraden passar inte någon känd filtyp.",
    "missing_column": "En kolumn som krävs saknas i rubrikraden.",
    "duplicate_column": "Två rubriker anger samma kolumn.",
    "unknown_column": "En kolumn känns inte igen och hoppades över.",
    "column_count": "En rad har fler värden än rubrikraden har kolumner.",
    "missing_value": "En cell som måste fyllas i är tom.",
    "unknown_site": "Platsen är inte registrerad.",
    "unknown_analyte": "Ämnet finns inte i ämneskatalogen.",
    "bad_date": "Ett datum är inte skrivet som ÅÅÅÅ-MM-DD.",
    "future_date": "Ett prov- eller flödesdatum ligger i framtiden.",
    "negative_value": "En koncentration, LOQ/LOD, ett flöde eller en befolkning är negativ.",
    "non_numeric": "En cell som ska innehålla ett tal gör det inte.",
    "bad_integer": "En cell som ska innehålla ett heltal gör det inte.",
    "out_of_range": "Ett tal ligger utanför det tillåtna intervallet.",
    "missing_unit": "Enhet saknas för en koncentration.",
    "unknown_unit": "Enheten är inte en av de godkända enheterna.",
    "censor_conflict": "En cell anger både ett mätvärde och <LOQ/<LOD/ND.",
    "bad_qualifier": "Markeringen är inte en av <LOQ, <LOD, ND.",
    "loq_missing": "'< LOQ' anges utan tal och utan LOQ-kolumn.",
    "duplicate_row": "Samma post finns två gånger i filen.",
    "bad_composite_hours": "composite_hours är inte ett helt antal timmar 1–168.",
    "unusual_composite_hours": "composite_hours är varken 24 eller 72.",
    "bad_sample_role": "sample_role är inte sample, blank, spike eller reference.",
    "bad_replicate": "replicate är inte ett heltal ≥ 1.",
    "bad_event_kind": "Händelsetypen är inte en av de tillåtna.",
    "end_before_start": "En händelse slutar innan den börjar.",
    "bad_boolean": "En ja/nej-cell innehåller något annat.",
    "formula_text": "En textcell börjar med =, +, - eller @ och sparas som text.",
    "implausible_value": "En koncentration är högre än det angivna rimliga maxvärdet.",
    "implausible_date": "Ett provdatum ligger långt utanför platsens tidigare mätningar.",
    "internal_error": "Filen kunde inte kontrolleras på grund av ett programfel.",
    "duplicate_upload": "Samma fil har laddats upp förut; inget sparades två gånger.",
}


def issue_message(issue: dict[str, Any], lang: str = DEFAULT_LANGUAGE) -> str:
    """The message of an upload issue (``Issue.to_dict()``) in ``lang``.

    English: the issue's own message. Swedish: its ``message_sv`` where the ingest layer wrote
    one, else where it is (``Rad 4, kolumn 'value'``) and the Swedish text of its code, so no
    English message reaches the Swedish page.

    >>> issue_message({"line": 4, "column": "value", "code": "missing_value",
    ...                "message": "Line 4, column 'value': the value is empty."}, "sv")
    "Rad 4, kolumn 'value': En cell som måste fyllas i är tom."
    """
    if normalise_language(lang) == "en":
        return str(issue.get("message") or "")
    if issue.get("message_sv"):
        return str(issue["message_sv"])
    code = issue.get("code") or ""
    if code not in ISSUE_TEXT_SV:
        return str(issue.get("message") or "")
    line, column = issue.get("line"), issue.get("column")
    where = t("issue_where_line", "sv", line=line) if line is not None else t("issue_where_file", "sv")
    if column:
        where += ", " + t("issue_where_column", "sv", column=column)
    return f"{where}: {ISSUE_TEXT_SV[code]}"


def role_name(role: str, lang: str = DEFAULT_LANGUAGE) -> str:
    """Display name of an access role (``wastewater.access.ROLES``), e.g. ``analytiker``."""
    return t(f"role_{role}", lang) if f"role_{role}" in STRINGS["sv"] else role
