"""QueryForecast (the ``forecastquery`` service): one item's forecast, from one shard.

Rules from the API reference (forecastquery QueryForecast): Filters name the
item by ``item_id`` (or the domain's identifier) and the forecast dimensions;
StartDate and EndDate are ``yyyy-MM-dd'T'HH:mm:ss`` and bound the answer
(inclusive); the answer is ``Forecast.Predictions``, one list of
``{Timestamp, Value}`` per forecast type (``p10``, ``p50``, ``mean``...), with
timestamps in the same ``yyyy-MM-dd'T'HH:mm:ss`` form. Augury requires every
identity field in Filters: without one the filter would name several series,
and a query returns one. An item the forecast does not hold is
ResourceNotFoundException. A forecast horizon is at most 500 points, so one
page always holds the whole answer: there is never a NextToken to continue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from augury.api.operations import OperationSet
from augury.forecast.forecasts import (
    GENERATION,
    IDENTITY_FIELDS,
    SHARDS_PREFIX,
    usable_forecast,
)
from augury.resources.errors import InvalidInput, InvalidNextToken, ResourceNotFound
from augury.serving.forecast_shards import shards_for
from augury_training.forecast_contract import forecast_type_column, item_key, shard_of

if TYPE_CHECKING:
    from augury.runtime import Runtime

operations = OperationSet("forecastquery")

TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S"


@operations("QueryForecast")
def query_forecast(runtime: Runtime, request: dict[str, Any]) -> dict[str, Any]:
    arn = request["ForecastArn"]
    forecast = usable_forecast(runtime, arn, "it can be queried")
    if request.get("NextToken"):
        raise InvalidNextToken(
            "The NextToken is not valid: QueryForecast answered in full and issued no token"
        )
    identity = list(forecast.attributes[IDENTITY_FIELDS])
    filters = dict(request["Filters"])
    unknown = sorted(set(filters) - set(identity))
    if unknown:
        raise InvalidInput(
            f"Filter keys {', '.join(unknown)} are not fields of this forecast; filter on "
            f"{', '.join(identity)}"
        )
    missing = [name for name in identity if name not in filters]
    if missing:
        raise InvalidInput(
            f"Filters must name one time series: give a value for each of {', '.join(identity)} "
            f"(missing {', '.join(missing)})"
        )
    start = _date(request.get("StartDate"), "StartDate")
    end = _date(request.get("EndDate"), "EndDate")
    if start and end and start > end:
        raise InvalidInput(
            f"StartDate {request['StartDate']} is after EndDate {request['EndDate']}"
        )
    key = item_key(filters, identity)
    columns = [forecast_type_column(t) for t in forecast.attributes["ForecastTypes"]]
    shard = f"{forecast.attributes[SHARDS_PREFIX]}shard={shard_of(key)}.parquet"
    found = shards_for(runtime.blobs).item(
        generation=forecast.attributes[GENERATION],
        key=shard,
        identity=identity,
        columns=columns,
        item=key,
    )
    if found is None:
        described = ", ".join(f"{name}={filters[name]}" for name in identity)
        raise ResourceNotFound(f"No forecast found for {described} in forecast {arn}")
    predictions: dict[str, list[dict[str, Any]]] = {}
    for column in columns:
        points = []
        for moment, value in zip(found.timestamps, found.values[column], strict=True):
            if value is None or (start and moment < start) or (end and moment > end):
                continue
            points.append({"Timestamp": moment.strftime(TIMESTAMP_FORMAT), "Value": value})
        predictions[column] = points
    return {"Forecast": {"Predictions": predictions}}


def _date(text: str | None, member: str) -> datetime | None:
    """A query bound, as a naive UTC wall-clock time like the shards' timestamps."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{member} {text} is not a valid date; use yyyy-MM-dd'T'HH:mm:ss, as in "
            "2015-01-01T08:00:00"
        ) from None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
