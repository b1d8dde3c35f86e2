"""Change tests on daily load series: operation effects, risk weekends, trends, alerts, FDR."""

from wastewater.stats._regression import InsufficientDataError
from wastewater.stats.alerts import (
    alert_for_new_value,
    alert_threshold,
    same_weekday_alerts,
    same_weekday_threshold,
)
from wastewater.stats.changepoints import ChangepointResult, detect_changepoints
from wastewater.stats.dumping import DumpingResult, flag_dumping
from wastewater.stats.effects import EffectResult, operation_effect, planned_detectable_drops
from wastewater.stats.multiple import Q_VALUE_LABEL, add_q_values, bh_qvalues
from wastewater.stats.riskweekend_effect import (
    RiskWeekendEffect,
    RiskWeekendModelResult,
    pool_log_ratios,
    riskweekend_effect,
    riskweekend_model,
)
from wastewater.stats.simulate import simulate_series
from wastewater.stats.trends import GlsTrendResult, TrendResult, mann_kendall, sen_slope, trend_gls, trend_test

__all__ = [
    "Q_VALUE_LABEL",
    "ChangepointResult",
    "DumpingResult",
    "EffectResult",
    "GlsTrendResult",
    "InsufficientDataError",
    "RiskWeekendEffect",
    "RiskWeekendModelResult",
    "TrendResult",
    "add_q_values",
    "alert_for_new_value",
    "alert_threshold",
    "bh_qvalues",
    "detect_changepoints",
    "flag_dumping",
    "mann_kendall",
    "operation_effect",
    "planned_detectable_drops",
    "pool_log_ratios",
    "riskweekend_effect",
    "riskweekend_model",
    "same_weekday_alerts",
    "same_weekday_threshold",
    "sen_slope",
    "simulate_series",
    "trend_gls",
    "trend_test",
]
