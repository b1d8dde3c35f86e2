"""Change tests on daily load series: operation effects, risk weekends, trends, alerts, FDR."""

from wastewater.stats._regression import InsufficientDataError
from wastewater.stats.alerts import alert_for_new_value, alert_threshold, same_weekday_alerts
from wastewater.stats.changepoints import ChangepointResult, detect_changepoints
from wastewater.stats.dumping import DumpingResult, flag_dumping
from wastewater.stats.effects import EffectResult, operation_effect
from wastewater.stats.multiple import Q_VALUE_LABEL, add_q_values, bh_qvalues
from wastewater.stats.riskweekend_effect import RiskWeekendEffect, pool_log_ratios, riskweekend_effect
from wastewater.stats.simulate import simulate_series
from wastewater.stats.trends import TrendResult, mann_kendall, sen_slope, trend_test

__all__ = [
    "InsufficientDataError",
    "EffectResult", "operation_effect",
    "DumpingResult", "flag_dumping",
    "RiskWeekendEffect", "riskweekend_effect", "pool_log_ratios",
    "TrendResult", "trend_test", "mann_kendall", "sen_slope",
    "ChangepointResult", "detect_changepoints",
    "alert_threshold", "same_weekday_alerts", "alert_for_new_value",
    "Q_VALUE_LABEL", "bh_qvalues", "add_q_values",
    "simulate_series",
]
