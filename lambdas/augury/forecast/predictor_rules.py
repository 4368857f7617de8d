"""What CreateAutoPredictor and CreatePredictor accept, checked before anything runs.

Each rule raises ``InvalidInputException`` with a message that names the member
and the rule, so a request that cannot train never starts a job. Sources
(Amazon Forecast API reference, https://docs.aws.amazon.com/forecast/latest/dg/):

- CreateAutoPredictor / CreatePredictor ``ForecastHorizon``: at most the lesser
  of 500 time steps and 1/4 of the TARGET_TIME_SERIES length (1/3 when
  retraining an AutoPredictor, and for CreatePredictor). The length part needs
  the data and is checked by the training workflow (``horizon_limit``).
- ``ForecastTypes``: up to five, quantiles 0.01 to 0.99 in steps of 0.01, or
  ``mean``; default 0.1, 0.5, 0.9.
- ``ForecastFrequency``: at least the TARGET_TIME_SERIES frequency; equal to the
  RELATED_TIME_SERIES frequency when there is one.
- ``ForecastDimensions``: attributes of the target time series other than the
  item identifier (strings in its schema).
- AttributeConfig / FeaturizationMethod: filling parameters ``aggregation``
  (target only: sum, avg, first, min, max), ``frontfill`` (none), ``middlefill``
  and ``backfill`` (zero, nan, value, median, mean, min, max; no nan for related
  series) and ``futurefill`` (related only); ``value`` takes ``<fill>_value``.
- AdditionalDataset / SupplementaryFeature: ``holiday`` with one of the 66
  country codes of the Holidays featurization; ``weather``.
- EvaluationParameters: NumberOfBacktestWindows 1 to 5; ForecastHorizon <=
  BackTestWindowOffset < 1/2 of the TARGET_TIME_SERIES length.
- Time boundaries (data-aggregation): only for daily, weekly, monthly and yearly
  forecasts, in the forecast frequency's own unit (Hour, DayOfWeek, DayOfMonth,
  Month).
- CreatePredictor with DeepAR+ or Prophet: a RELATED_TIME_SERIES must extend over
  the forecast horizon (aws-forecast-choosing-recipes: CNN-QR "is the only Forecast
  algorithm that accepts related time series data without future values"). Refused
  here when the imports recorded that the related data stops where the target
  stops; data that stops inside the horizon fails the training job instead.
- CreatePredictor ``TrainingParameters``: only names the algorithm takes
  (``augury_training.forecast_parameters``), refused in Amazon's words ("Invalid
  Training parameter: n_changepoints specified for algorithmArn: ..."), and only
  values the model can use, refused with the model's own message.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from augury.forecast import frequencies
from augury.forecast.group_data import GroupData
from augury.resources.errors import InvalidInput
from augury_training.forecast_contract import (
    DEFAULT_FORECAST_TYPES,
    FORWARD_LOOKING_ONLY,
    MEAN,
    Featurization,
)
from augury_training.forecast_parameters import (
    TRAINING_PARAMETERS,
    HyperparameterError,
    check_parameter_values,
    unknown_parameters,
)

MAX_HORIZON = 500
MAX_FORECAST_TYPES = 5
MAX_BACKTEST_WINDOWS = 5

_HOLIDAY_CODES = (
    "AL AR AT AU BA BE BG BO BR BY CA CL CO CR HR CZ DK EC EE ET FI FR DE GR HU IS IN IE "
    "IT JP KZ KR LV LI LT LU MK MT MX MD ME NL NZ NI NG NO PA PY PE PL PT RO RU RS SK SI ZA "
    "ES SE CH UA AE US UK UY VE"
)
HOLIDAY_COUNTRIES = frozenset(_HOLIDAY_CODES.split())
"""The Holidays featurization's country codes (API reference, AdditionalDataset)."""

_FILLS = ("zero", "nan", "value", "median", "mean", "min", "max")
_RELATED_FILLS = tuple(fill for fill in _FILLS if fill != "nan")
_AGGREGATIONS = ("sum", "avg", "first", "min", "max")
_BOUNDARY_UNIT = {"D": "Hour", "W": "DayOfWeek", "M": "DayOfMonth", "Y": "Month"}


def check_horizon(horizon: int | None) -> int:
    if horizon is None:
        raise InvalidInput("ForecastHorizon is required: the number of time steps to forecast")
    if not 1 <= horizon <= MAX_HORIZON:
        raise InvalidInput(
            f"ForecastHorizon {horizon} is not valid: the maximum forecast horizon is the lesser "
            f"of {MAX_HORIZON} time-steps or a fraction of the TARGET_TIME_SERIES dataset length, "
            "and it must be at least 1"
        )
    return horizon


def horizon_limit(length: int, fraction: int) -> int:
    """The largest horizon for a target series ``length`` steps long."""
    return min(MAX_HORIZON, length // fraction)


def check_forecast_types(types: Sequence[str] | None) -> list[str]:
    """The forecast types to train for (Amazon's default when none are given)."""
    if not types:
        return list(DEFAULT_FORECAST_TYPES)
    if len(types) > MAX_FORECAST_TYPES:
        raise InvalidInput(
            f"ForecastTypes has {len(types)} values; you can specify up to {MAX_FORECAST_TYPES} "
            "forecast types"
        )
    seen: dict[str, str] = {}
    for forecast_type in types:
        key = MEAN if forecast_type == MEAN else str(_quantile(forecast_type))
        if key in seen:
            raise InvalidInput(
                f"ForecastTypes lists the same forecast type twice ({seen[key]} and "
                f"{forecast_type})"
            )
        seen[key] = forecast_type
    return list(types)


def _quantile(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(-1)
    if not Decimal("0.01") <= value <= Decimal("0.99") or value != value.quantize(Decimal("0.01")):
        raise InvalidInput(
            f"Forecast type {text} is not valid: forecast types are quantiles from 0.01 to 0.99 "
            "in increments of 0.01, or mean"
        )
    return value.normalize()


def check_frequency(frequency: str | None, group: GroupData) -> str:
    """The forecast frequency, at least the target's and equal to the related data's."""
    if not frequency:
        raise InvalidInput("ForecastFrequency is required (for example D, W, M or 15min)")
    parsed = frequencies.parse(frequency)
    target_frequency = group.target.frequency
    if target_frequency:
        data = frequencies.parse(target_frequency, "DataFrequency")
        if parsed.approximate_minutes < data.approximate_minutes:
            raise InvalidInput(
                f"ForecastFrequency {frequency} is finer than the TARGET_TIME_SERIES dataset's "
                f"frequency {target_frequency}; the forecast frequency must be greater than or "
                "equal to the TARGET_TIME_SERIES dataset frequency"
            )
    related = group.related.frequency if group.related else None
    if related and frequencies.parse(related, "DataFrequency") != parsed:
        raise InvalidInput(
            f"ForecastFrequency {frequency} differs from the RELATED_TIME_SERIES dataset's "
            f"frequency {related}; when a RELATED_TIME_SERIES dataset is provided, the "
            "forecast frequency must be equal to its frequency"
        )
    return frequency


def check_dimensions(dimensions: Sequence[str] | None, group: GroupData) -> list[str]:
    """Forecast dimensions are the target series' string attributes besides the item id."""
    allowed = group.dimension_candidates()
    chosen: list[str] = []
    for name in dimensions or []:
        if name == group.item_field:
            raise InvalidInput(
                f"ForecastDimensions must not include {name}: it identifies the item already"
            )
        if name not in allowed:
            hint = f"; the candidates are {', '.join(allowed)}" if allowed else ""
            raise InvalidInput(
                f"Forecast dimension {name} is not a string attribute of the TARGET_TIME_SERIES "
                f"dataset {group.target.arn}{hint}"
            )
        if name in chosen:
            raise InvalidInput(f"ForecastDimensions lists {name} twice")
        chosen.append(name)
    return chosen


def check_time_alignment(boundary: Mapping[str, Any] | None, frequency: str) -> dict | None:
    """A time boundary names one unit: the forecast frequency's own (Hour for daily...)."""
    if not boundary:
        return None
    unit = frequencies.parse(frequency).unit
    expected = _BOUNDARY_UNIT.get(unit)
    given = sorted(key for key, value in boundary.items() if value is not None)
    if expected is None:
        raise InvalidInput(
            f"TimeAlignmentBoundary cannot be used with ForecastFrequency {frequency}: time "
            "boundaries apply to daily, weekly, monthly and yearly forecasts"
        )
    if given != [expected]:
        raise InvalidInput(
            f"TimeAlignmentBoundary for ForecastFrequency {frequency} takes {expected} only; "
            f"got {', '.join(given) or 'nothing'}"
        )
    return {expected: boundary[expected]}


def featurization(
    name: str, parameters: Mapping[str, str], group: GroupData, member: str
) -> Featurization:
    """One attribute's filling parameters, checked as Amazon documents them."""
    is_target = name == group.target_field
    if not is_target and name not in group.related_fields():
        raise InvalidInput(
            f"{member} names attribute {name}, which is neither the target field "
            f"{group.target_field} nor a feature of the RELATED_TIME_SERIES dataset"
        )
    allowed = {"middlefill", "backfill"} | (
        {"aggregation", "frontfill"} if is_target else {"futurefill"}
    )
    allowed |= {f"{fill}_value" for fill in ("middlefill", "backfill", "futurefill")}
    result = Featurization(field=name)
    for key, value in parameters.items():
        if key not in allowed:
            raise InvalidInput(
                f"{member} for {name}: parameter {key} is not valid for a "
                f"{'target' if is_target else 'related'} field; valid parameters are "
                f"{', '.join(sorted(p for p in allowed if not p.endswith('_value')))}"
            )
        if key == "aggregation":
            _choice(member, name, key, value, _AGGREGATIONS)
            result.aggregation = value
        elif key == "frontfill":
            _choice(member, name, key, value, ("none",))
        elif key.endswith("_value"):
            setattr(result, key, _number(member, name, key, value))
        else:
            _choice(member, name, key, value, _FILLS if is_target else _RELATED_FILLS)
            setattr(result, key, value)
    for fill in ("middlefill", "backfill", "futurefill"):
        if getattr(result, fill) == "value" and getattr(result, f"{fill}_value") is None:
            raise InvalidInput(
                f"{member} for {name}: {fill} is value, so {fill}_value must give the number"
            )
    return result


def _choice(member: str, name: str, key: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise InvalidInput(
            f"{member} for {name}: {key} {value} is not valid; valid values are "
            f"{', '.join(allowed)}"
        )


def _number(member: str, name: str, key: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise InvalidInput(f"{member} for {name}: {key} {value} is not a number") from None


def holiday_country(code: str, member: str) -> str:
    if code not in HOLIDAY_COUNTRIES:
        raise InvalidInput(
            f"{member}: {code} is not a supported holiday country code; use one of "
            f"{', '.join(sorted(HOLIDAY_COUNTRIES))}"
        )
    return code


def refuse_weather(member: str) -> None:
    raise InvalidInput(
        f"{member}: the Weather Index is not available in Augury; it needs Amazon's weather "
        "data. Remove it, or add your own weather columns to a RELATED_TIME_SERIES dataset"
    )


def check_backtests(evaluation: Mapping[str, Any] | None, horizon: int) -> tuple[int, int | None]:
    """NumberOfBacktestWindows (1-5) and BackTestWindowOffset (at least the horizon)."""
    evaluation = evaluation or {}
    windows = evaluation.get("NumberOfBacktestWindows")
    windows = 1 if windows is None else windows
    if not 1 <= windows <= MAX_BACKTEST_WINDOWS:
        raise InvalidInput(
            f"NumberOfBacktestWindows {windows} is not valid; valid values are 1 through "
            f"{MAX_BACKTEST_WINDOWS}"
        )
    offset = evaluation.get("BackTestWindowOffset")
    if offset is not None and offset < horizon:
        raise InvalidInput(
            f"BackTestWindowOffset {offset} is less than ForecastHorizon {horizon}: it must be "
            "greater than or equal to the forecast horizon and less than half of the "
            "TARGET_TIME_SERIES dataset length (ForecastHorizon <= BackTestWindowOffset < "
            "1/2 * TARGET_TIME_SERIES dataset length)"
        )
    return windows, offset


def check_training_parameters(
    algorithm: str, algorithm_arn: str, parameters: Mapping[str, str] | None
) -> dict[str, str]:
    """TrainingParameters whose every name ``algorithm`` takes, each with a value it can use.

    A name it does not take would be ignored by the model, so a typo (``epoch``)
    would train 500 epochs with no word said; Amazon refuses it at once, and so
    does Augury, in Amazon's words plus the names that are valid. A value the
    model cannot use (``"epochs": "0"``) would fail the training job once it
    read it, on AWS after a GPU instance had started for nothing; it is refused
    here with the message the job would have given.
    """
    parameters = dict(parameters or {})
    unknown = unknown_parameters(algorithm, parameters)
    if unknown:
        accepted = sorted(TRAINING_PARAMETERS[algorithm].names)
        named = ", ".join(_with_closest(name, accepted) for name in unknown)
        raise InvalidInput(
            f"Invalid Training parameter: {named} specified for algorithmArn: {algorithm_arn}. "
            f"{algorithm} takes {', '.join(accepted) or 'none'}"
        )
    try:
        check_parameter_values(algorithm, parameters)
    except HyperparameterError as error:
        raise InvalidInput(
            f"Invalid Training parameter value for algorithmArn: {algorithm_arn}. {error}"
        ) from None
    return parameters


def _with_closest(name: str, accepted: Sequence[str]) -> str:
    """``name``, with the accepted name it is most likely a typo of."""
    close = difflib.get_close_matches(name, accepted, n=1)
    return f"{name} (did you mean {close[0]}?)" if close else name


def check_related_horizon(
    algorithm: str, group: GroupData, horizon: int, featurizations: Sequence[Featurization]
) -> None:
    """DeepAR+ and Prophet need related data with values after the target's last timestamp.

    Amazon calls a related time series with no values within the forecast
    horizon historical, and only CNN-QR accepts one. The imports record where
    each dataset's data ends, so such data is refused here; a feature with a
    ``futurefill`` is filled over the horizon and passes. Where nothing was
    recorded, the training job applies the same rule.
    """
    related = group.related
    if algorithm not in FORWARD_LOOKING_ONLY or related is None:
        return
    if related.end is None or group.target.end is None or related.end > group.target.end:
        return
    filled = {f.field for f in featurizations if f.futurefill}
    fields = [name for name in group.related_fields() if name not in filled]
    if not fields:
        return
    raise InvalidInput(
        f"The RELATED_TIME_SERIES dataset {related.arn} has no future values: its data ends at "
        f"{related.end:%Y-%m-%d %H:%M:%S}, and the TARGET_TIME_SERIES dataset's at "
        f"{group.target.end:%Y-%m-%d %H:%M:%S}. {algorithm} uses related time series only when "
        f"they extend over the forecast horizon, the {horizon} time steps after the target's "
        f"last timestamp. Import the future values of {', '.join(fields)} (or give "
        f"{'it' if len(fields) == 1 else 'them'} a futurefill), or use CNN-QR, the only "
        "Forecast algorithm that accepts related time series data without future values"
    )
