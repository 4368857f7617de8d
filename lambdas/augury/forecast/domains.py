"""Amazon Forecast's predefined dataset domains, as data.

A domain fixes the names Forecast looks for: the identifier that names a time
series (``item_id``, ``instance_type``, ...), the ``timestamp`` and the target
field the predictor forecasts. Each dataset type of a domain requires some of
those fields and suggests optional ones. ``augury.forecast.schema_rules`` checks
a CreateDataset schema against this table; nothing here does I/O.

Source: the Amazon Forecast Developer Guide, "Predefined Dataset Domains and
Dataset Types" (howitworks-domains-ds-types) and its per-domain pages
retail-domain, inv-planning-domain, ec2-capacity-domain, workforce-domain,
webtraffic-domain, metrics-domain and custom-domain
(https://docs.aws.amazon.com/forecast/latest/dg/, mirrored in
github.com/awsdocs/amazon-forecast-developer-guide, ``doc_source/``).

Two readings of that source are worth stating:

- Target fields are numeric. The guide writes ``float`` for ``demand`` and
  ``value``, ``integer`` for ``number_of_instances`` and "floating-point
  integer" for the others, and its sample schemas declare targets as either;
  every target here accepts ``integer`` and ``float``.
- The WEB_TRAFFIC page lists only the target and related time series types, so
  WEB_TRAFFIC has no item metadata dataset type here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

STRING = "string"
INTEGER = "integer"
FLOAT = "float"
TIMESTAMP = "timestamp"
GEOLOCATION = "geolocation"
ATTRIBUTE_TYPES = (STRING, INTEGER, FLOAT, TIMESTAMP, GEOLOCATION)
NUMERIC = (INTEGER, FLOAT)

TARGET_TIME_SERIES = "TARGET_TIME_SERIES"
RELATED_TIME_SERIES = "RELATED_TIME_SERIES"
ITEM_METADATA = "ITEM_METADATA"
DATASET_TYPES = (TARGET_TIME_SERIES, RELATED_TIME_SERIES, ITEM_METADATA)

TIMESTAMP_FIELD = "timestamp"


@dataclass(frozen=True)
class Field:
    """A named field and the attribute types Forecast accepts for it.

    ``types[0]`` is the type the guide documents; later entries are also accepted.
    """

    name: str
    types: tuple[str, ...]

    @property
    def documented_type(self) -> str:
        return self.types[0]

    def describe(self) -> str:
        """``demand (float)``: how messages name the field."""
        return f"{self.name} ({' or '.join(self.types)})"


@dataclass(frozen=True)
class DatasetTypeSpec:
    """What one dataset type of one domain requires and suggests."""

    dataset_type: str
    required: tuple[Field, ...]
    suggested: tuple[Field, ...] = ()


@dataclass(frozen=True)
class Domain:
    """A domain: its series identifier, its target field and its dataset types."""

    name: str
    identifier: str
    target: Field
    specs: tuple[DatasetTypeSpec, ...] = field(repr=False)

    def spec(self, dataset_type: str) -> DatasetTypeSpec | None:
        """The dataset type's requirements, or ``None`` if the domain lacks that type."""
        return next((s for s in self.specs if s.dataset_type == dataset_type), None)

    @property
    def dataset_types(self) -> tuple[str, ...]:
        return tuple(s.dataset_type for s in self.specs)


def _string(name: str) -> Field:
    return Field(name, (STRING,))


def _numeric(name: str, documented: str = FLOAT) -> Field:
    return Field(name, (documented, *(t for t in NUMERIC if t != documented)))


_TIMESTAMP = Field(TIMESTAMP_FIELD, (TIMESTAMP,))


def _domain(
    name: str,
    identifier: str,
    target: Field,
    *,
    target_suggested: tuple[Field, ...] = (),
    related_suggested: tuple[Field, ...] = (),
    metadata_suggested: tuple[Field, ...] | None = (),
) -> Domain:
    """A domain in the guide's shape; ``metadata_suggested=None``: no item metadata type."""
    key = _string(identifier)
    specs = [
        DatasetTypeSpec(TARGET_TIME_SERIES, (key, _TIMESTAMP, target), target_suggested),
        DatasetTypeSpec(RELATED_TIME_SERIES, (key, _TIMESTAMP), related_suggested),
    ]
    if metadata_suggested is not None:
        specs.append(DatasetTypeSpec(ITEM_METADATA, (key,), metadata_suggested))
    return Domain(name, identifier, target, tuple(specs))


_LOCATION = _string("location")

DOMAINS: dict[str, Domain] = {
    domain.name: domain
    for domain in (
        _domain(
            "RETAIL",
            "item_id",
            _numeric("demand"),
            target_suggested=(_LOCATION,),
            related_suggested=(
                _numeric("price"),
                _numeric("webpage_hits"),
                _numeric("stockout_days"),
                _numeric("inventory_onhand"),
                _numeric("revenue"),
                _numeric("in_stock", INTEGER),
                _numeric("promotion_applied", INTEGER),
            ),
            metadata_suggested=tuple(
                _string(name) for name in ("category", "brand", "color", "genre")
            ),
        ),
        _domain(
            "CUSTOM",
            "item_id",
            _numeric("target_value"),
            metadata_suggested=(_string("category"),),
        ),
        _domain(
            "INVENTORY_PLANNING",
            "item_id",
            _numeric("demand"),
            target_suggested=(_LOCATION,),
            related_suggested=(
                _numeric("price"),
                _numeric("stockout_days"),
                _numeric("inventory_onhand"),
                _numeric("revenue"),
                _numeric("in_stock", INTEGER),
            ),
            metadata_suggested=tuple(
                _string(name)
                for name in ("category", "brand", "lead_time", "order_cycle", "safety_stock")
            ),
        ),
        _domain(
            "EC2_CAPACITY",
            "instance_type",
            _numeric("number_of_instances", INTEGER),
            target_suggested=(_LOCATION,),
            related_suggested=(_numeric("traffic_to_service"),),
            metadata_suggested=(_string("cpu_cores"), _string("memory")),
        ),
        _domain(
            "WORK_FORCE",
            "workforce_type",
            _numeric("workforce_demand"),
            target_suggested=(_LOCATION,),
            metadata_suggested=(
                Field("wages", (FLOAT,)),
                _string("shift_length"),
                _LOCATION,
            ),
        ),
        _domain(
            "WEB_TRAFFIC",
            "item_id",
            _numeric("value"),
            metadata_suggested=None,
        ),
        _domain(
            "METRICS",
            "metric_name",
            _numeric("metric_value"),
            metadata_suggested=(_string("category"),),
        ),
    )
}


def domain(name: str) -> Domain:
    """The domain called ``name`` (the wire layer has already checked the enum)."""
    try:
        return DOMAINS[name]
    except KeyError:
        raise KeyError(f"no Forecast domain {name!r}; known: {', '.join(DOMAINS)}") from None
