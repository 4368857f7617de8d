"""The rules a Forecast dataset's schema and frequency must follow, checked up front.

Amazon Forecast refuses a CreateDataset whose schema cannot work for its domain
and dataset type, so a user learns it at once rather than at import or training
time. Every problem is an ``InvalidInputException`` naming the attribute and the
rule. Pure: no I/O, nothing but the request's values and ``domains``.

Sources (Amazon Forecast Developer Guide, https://docs.aws.amazon.com/forecast/latest/dg/):

- howitworks-datasets-groups: up to ten forecast dimensions in a target time
  series; related features are float or integer; related time series carry
  the target series' identifying fields.
- related-time-series-datasets: a related time series cannot hold the target
  field, needs at least one related feature, has at most 10 dimensions and 13
  related features.
- item-metadata-datasets and limits: at most 10 fields in an item metadata
  row, one of them the identifier; limits also gives 13 = 3 + 10 columns for a
  target time series. Item metadata is static (no timestamp); its fields are
  string in howitworks-datasets-groups and ``wages`` is float in
  workforce-domain, so both are accepted.
- weather: *a* geolocation attribute in the target and related time series.
- reserved-field-names: names no schema may use (see ``RESERVED_NAMES``).
- API_CreateDataset (and botocore's model): DataFrequency is required for
  related time series; an integer followed by Y, M, W, D, H or min, with
  minutes 1-59, hours 1-23, days 1-6, weeks 1-4, months 1-11 and years 1.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from augury.forecast.domains import (
    ATTRIBUTE_TYPES,
    FLOAT,
    GEOLOCATION,
    ITEM_METADATA,
    NUMERIC,
    RELATED_TIME_SERIES,
    STRING,
    TARGET_TIME_SERIES,
    DatasetTypeSpec,
    Domain,
    domain,
)
from augury.resources.errors import InvalidInput

MAX_FORECAST_DIMENSIONS = 10
MAX_RELATED_FEATURES = 13
MAX_ITEM_METADATA_ATTRIBUTES = 10
MAX_GEOLOCATION_ATTRIBUTES = 1
ITEM_METADATA_TYPES = (STRING, FLOAT)

_RESERVED_LIST = """
    A ABORT ABS ABSOLUTE ACCESS ACTION ADA ADD ADMIN AFTER AGGREGATE ALIAS ALL ALLOCATE
    ALSO ALTER ALWAYS ANALYSE ANALYZE AND ANY ARE ARRAY AS ASC ASENSITIVE ASSERTION
    ASSIGNMENT ASYMMETRIC AT ATOMIC ATTRIBUTE ATTRIBUTES AUDIT AUTHORIZATION
    AUTO_INCREMENT AVG AVG_ROW_LENGTH
    BACKUP BACKWARD BEFORE BEGIN BERNOULLI BETWEEN BIGINT BINARY BIT BIT_LENGTH BITVAR
    BLOB BOOL BOOLEAN BOTH BREADTH BREAK BROWSE BULK BY
    C CACHE CALL CALLED CARDINALITY CASCADE CASCADED CASE CAST CATALOG CATALOG_NAME CEIL
    CEILING CHAIN CHANGE CHAR CHAR_LENGTH CHARACTER CHARACTER_LENGTH
    CHARACTER_SET_CATALOG CHARACTER_SET_NAME CHARACTER_SET_SCHEMA CHARACTERISTICS
    CHARACTERS CHECK CHECKED CHECKPOINT CHECKSUM CLASS CLASS_ORIGIN CLOB CLOSE
"""
RESERVED_NAMES = frozenset(_RESERVED_LIST.split())
"""Reserved names, compared ignoring case.

The guide's reserved-field-names page is a long list of SQL keywords; only its
opening (A through CLOSE) could be retrieved and verified, so only that part
is enforced. Names later in Amazon's list are accepted here.
"""

_FREQUENCY = re.compile(r"^(?P<count>[1-9][0-9]*)?(?P<unit>Y|M|W|D|H|min)$")
_FREQUENCY_UNITS = {  # unit: (what it is called, largest count, the next larger unit)
    "min": ("a minute", 59, "1H"),
    "H": ("an hourly", 23, "1D"),
    "D": ("a daily", 6, "1W"),
    "W": ("a weekly", 4, "1M"),
    "M": ("a monthly", 11, "1Y"),
    "Y": ("a yearly", 1, None),
}


def check_frequency(dataset_type: str, frequency: str | None) -> None:
    """DataFrequency fits the dataset type and is one Forecast understands."""
    if dataset_type == ITEM_METADATA:
        if frequency:
            raise InvalidInput(
                f"DataFrequency {frequency} does not apply to an ITEM_METADATA dataset: "
                "item metadata is static and has no timestamps; omit DataFrequency"
            )
        return
    if not frequency:
        if dataset_type == RELATED_TIME_SERIES:
            raise InvalidInput(
                "A RELATED_TIME_SERIES dataset requires DataFrequency, the interval its "
                "timestamps are recorded at (for example D, 1W or 15min)"
            )
        return
    match = _FREQUENCY.match(frequency)
    if match is None:
        raise InvalidInput(
            f"DataFrequency {frequency} is not valid: use an optional integer followed by "
            "Y, M, W, D or H, or an integer followed by min (for example 3M, W, 15min)"
        )
    unit, count = match["unit"], int(match["count"] or 0)
    if unit == "min" and not count:
        raise InvalidInput(f"DataFrequency {frequency} needs a number of minutes, as in 1min")
    kind, limit, next_unit = _FREQUENCY_UNITS[unit]
    if count > limit:
        if next_unit is None:
            rule = f"{kind} frequency is 1{unit} (or {unit})"
        else:
            rule = f"{kind} frequency is 1 to {limit}{unit}; use {next_unit} for longer"
        raise InvalidInput(f"DataFrequency {frequency} is not valid: {rule}")


def check_schema(
    domain_name: str, dataset_type: str, attributes: Sequence[Mapping[str, str | None]]
) -> None:
    """The schema's attributes suit ``dataset_type`` in ``domain_name``, or ``InvalidInput``."""
    the_domain = domain(domain_name)
    spec = the_domain.spec(dataset_type)
    if spec is None:
        raise InvalidInput(
            f"The {domain_name} domain has no {dataset_type} dataset type; it supports "
            f"{', '.join(the_domain.dataset_types)}"
        )
    declared = _declared(attributes)
    _check_names(declared)
    _check_required(the_domain, spec, declared)
    required = {f.name for f in spec.required}
    extras = [(name, kind) for name, kind in declared if name not in required]
    if dataset_type == TARGET_TIME_SERIES:
        _check_target_extras(the_domain, extras)
    elif dataset_type == RELATED_TIME_SERIES:
        _check_related_extras(the_domain, extras)
    else:
        _check_item_metadata(declared, extras)


def _declared(attributes: Sequence[Mapping[str, str | None]]) -> list[tuple[str, str]]:
    """``(name, type)`` pairs; every attribute must have both."""
    if not attributes:
        raise InvalidInput("The schema has no attributes; list every field of the dataset")
    declared = []
    for position, attribute in enumerate(attributes, start=1):
        name, kind = attribute.get("AttributeName"), attribute.get("AttributeType")
        if not name:
            raise InvalidInput(
                f"Schema attribute {position} has no AttributeName; "
                "every attribute needs a name and a type"
            )
        if not kind:
            raise InvalidInput(
                f"Schema attribute {name} has no AttributeType; valid types are "
                f"{', '.join(ATTRIBUTE_TYPES)}"
            )
        if kind not in ATTRIBUTE_TYPES:
            raise InvalidInput(
                f"Schema attribute {name} has type {kind}; valid types are "
                f"{', '.join(ATTRIBUTE_TYPES)}"
            )
        declared.append((name, kind))
    return declared


def _check_names(declared: Iterable[tuple[str, str]]) -> None:
    seen: dict[str, str] = {}
    for name, _ in declared:
        if name.upper() in RESERVED_NAMES:
            raise InvalidInput(
                f"Attribute name {name} is reserved by Amazon Forecast; choose another name"
            )
        other = seen.get(name.lower())
        if other is not None:
            raise InvalidInput(
                f"Attribute names must be unique ignoring case: {other} and {name} collide"
            )
        seen[name.lower()] = name


def _check_required(
    the_domain: Domain, spec: DatasetTypeSpec, declared: list[tuple[str, str]]
) -> None:
    types = dict(declared)
    where = f"The {the_domain.name} domain's {spec.dataset_type} dataset"
    for required in spec.required:
        kind = types.get(required.name)
        if kind is None:
            near = [n for n in types if n.lower() == required.name.lower()]
            hint = f" (it has {near[0]}; names must match exactly)" if near else ""
            raise InvalidInput(
                f"{where} requires attribute {required.describe()}; the schema lacks it{hint}"
            )
        if kind not in required.types:
            raise InvalidInput(
                f"{where} requires attribute {required.name} to be "
                f"{' or '.join(required.types)}; the schema declares it {kind}"
            )


def _check_target_extras(the_domain: Domain, extras: list[tuple[str, str]]) -> None:
    """Beyond the required fields, a target time series holds only forecast dimensions."""
    for name, kind in extras:
        if kind not in (STRING, GEOLOCATION):
            raise InvalidInput(
                f"Attribute {name} ({kind}) cannot be in a TARGET_TIME_SERIES dataset: besides "
                f"{the_domain.identifier}, timestamp and {the_domain.target.name} it holds only "
                "forecast dimensions (string) and a geolocation; put time-varying features "
                "in a RELATED_TIME_SERIES dataset"
            )
    _check_dimensions(TARGET_TIME_SERIES, extras)


def _check_related_extras(the_domain: Domain, extras: list[tuple[str, str]]) -> None:
    target = the_domain.target.name
    features = []
    for name, kind in extras:
        if name.lower() == target.lower():
            raise InvalidInput(
                f"A RELATED_TIME_SERIES dataset must not hold attribute {name}: it is the "
                f"{the_domain.name} domain's target field, which belongs in the "
                "TARGET_TIME_SERIES dataset"
            )
        if kind in NUMERIC:
            features.append(name)
        elif kind not in (STRING, GEOLOCATION):
            raise InvalidInput(
                f"Attribute {name} ({kind}) cannot be in a RELATED_TIME_SERIES dataset: related "
                "features are integer or float, forecast dimensions are string"
            )
    if not features:
        raise InvalidInput(
            "A RELATED_TIME_SERIES dataset needs at least one related feature: an integer or "
            f"float attribute besides {the_domain.identifier} and timestamp"
        )
    if len(features) > MAX_RELATED_FEATURES:
        raise InvalidInput(
            f"A RELATED_TIME_SERIES dataset has at most {MAX_RELATED_FEATURES} related "
            f"features; attribute {features[MAX_RELATED_FEATURES]} is number "
            f"{MAX_RELATED_FEATURES + 1}"
        )
    _check_dimensions(RELATED_TIME_SERIES, extras)


def _check_dimensions(dataset_type: str, extras: list[tuple[str, str]]) -> None:
    dimensions = [name for name, kind in extras if kind in (STRING, GEOLOCATION)]
    if len(dimensions) > MAX_FORECAST_DIMENSIONS:
        raise InvalidInput(
            f"A {dataset_type} dataset has at most {MAX_FORECAST_DIMENSIONS} forecast "
            f"dimensions; attribute {dimensions[MAX_FORECAST_DIMENSIONS]} is number "
            f"{MAX_FORECAST_DIMENSIONS + 1}"
        )
    geolocations = [name for name, kind in extras if kind == GEOLOCATION]
    if len(geolocations) > MAX_GEOLOCATION_ATTRIBUTES:
        raise InvalidInput(
            f"Attributes {' and '.join(geolocations)} are both geolocation; a dataset has at "
            f"most {MAX_GEOLOCATION_ATTRIBUTES} geolocation attribute"
        )


def _check_item_metadata(declared: list[tuple[str, str]], extras: list[tuple[str, str]]) -> None:
    for name, kind in extras:
        if kind not in ITEM_METADATA_TYPES:
            raise InvalidInput(
                f"Attribute {name} ({kind}) cannot be in an ITEM_METADATA dataset: item "
                "metadata is static, without timestamps; its attributes are string or float"
            )
    if len(declared) > MAX_ITEM_METADATA_ATTRIBUTES:
        raise InvalidInput(
            f"An ITEM_METADATA dataset has at most {MAX_ITEM_METADATA_ATTRIBUTES} attributes "
            f"including the identifier; attribute {declared[MAX_ITEM_METADATA_ATTRIBUTES][0]} "
            f"is number {MAX_ITEM_METADATA_ATTRIBUTES + 1}"
        )
