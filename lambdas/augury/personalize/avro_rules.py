"""Amazon Personalize's rules for Avro schemas, as pure functions (no I/O).

A schema is checked twice, as Amazon does: its shape when it is created
(``parse_schema_text``), and its fields against a dataset type and domain when
a dataset uses it (``check_for_dataset``), because only then is the type known.
``check_replacement`` adds the rules for UpdateDataset. Every failure is a
``SchemaRuleError`` whose message names the offending field, so a user can fix
the schema without guessing.

Sources, all in the Amazon Personalize Developer Guide:

- "Creating schema JSON files" (how-it-works-dataset-schema): flat records only,
  no arrays or maps, the six data types plus ``null``, unique alphanumeric field
  names, reserved string fields never categorical, textual only on Items.
- "Custom datasets and schemas" (custom-datasets-and-schemas): required fields,
  reserved keywords and their types, at least one metadata field for Users and
  Items, at most 25 (Users) and 100 (Items) metadata fields.
- "Item interactions dataset schema requirements": at most 5 metadata fields
  besides the reserved keywords.
- "Items datasets" (items-datasets, unstructured text): at most 1 textual field.
- "ECOMMERCE datasets and schemas", "VIDEO_ON_DEMAND datasets and schemas": the
  domains' required fields and reserved keywords.
- "Replacing a dataset's schema" (updating-dataset-schema): Items and Users only,
  every previous field kept unchanged, every new field nullable.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastavro import parse_schema

DATA_TYPES = ("float", "double", "int", "long", "string", "boolean")
_COMPLEX = frozenset({"record", "array", "map", "enum", "fixed"})
_AVRO_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

DATASET_TYPES = {
    "INTERACTIONS": "Interactions",
    "ITEMS": "Items",
    "USERS": "Users",
    "ACTIONS": "Actions",
    "ACTION_INTERACTIONS": "Action_Interactions",
}
"""Amazon's dataset types by their upper-case (ARN) form, with the spelling its docs use."""

SUPPORTED_DATASET_TYPES = ("INTERACTIONS", "ITEMS", "USERS", "ACTIONS", "ACTION_INTERACTIONS")
ACTION_DATASET_TYPES = ("ACTIONS", "ACTION_INTERACTIONS")
"""Next-Best-Action's datasets, which Domain dataset groups cannot have (Amazon's rule)."""
REPLACEABLE_DATASET_TYPES = ("ITEMS", "USERS")


class SchemaRuleError(ValueError):
    """A schema that breaks one of Amazon's rules; ``field`` names the culprit when one does."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SchemaField:
    """One column: its single data type, whether it may be null, and its attributes."""

    name: str
    type: str
    nullable: bool = False
    categorical: bool = False
    textual: bool = False

    def describe(self) -> str:
        """How the docs write a field's type: ``categorical string, null``."""
        words = [flag for flag in ("categorical", "textual") if getattr(self, flag)]
        text = " ".join([*words, self.type])
        return f"{text}, null" if self.nullable else text


@dataclass(frozen=True)
class ParsedSchema:
    """A schema that passed the shape rules: a record name and its flat fields, in order."""

    record_name: str
    fields: tuple[SchemaField, ...]

    def get(self, name: str) -> SchemaField | None:
        return next((field for field in self.fields if field.name == name), None)


def parse_schema_text(text: str) -> ParsedSchema:
    """Parse and check a CreateSchema ``schema`` string: Avro, flat, Personalize's types."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise SchemaRuleError(
            f"The schema is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        ) from None
    if not isinstance(doc, dict) or doc.get("type") != "record":
        raise SchemaRuleError(
            'The schema must be an Avro record: a JSON object with "type": "record", '
            'a "name" and a "fields" list'
        )
    entries = doc.get("fields")
    if not isinstance(entries, list) or not entries:
        raise SchemaRuleError('The schema record needs a non-empty "fields" list')
    fields = tuple(_parse_field(index, entry) for index, entry in enumerate(entries, start=1))
    _check_unique_names(fields)
    _check_single_textual(fields)
    try:
        parse_schema(doc)
    except Exception as error:  # fastavro raises several unrelated types; all mean "not Avro"
        raise SchemaRuleError(f"The schema is not valid Avro: {error}") from None
    return ParsedSchema(record_name=str(doc["name"]), fields=fields)


def _parse_field(index: int, entry: Any) -> SchemaField:
    if not isinstance(entry, dict):
        raise SchemaRuleError(f"Field #{index} must be a JSON object with a name and a type")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise SchemaRuleError(f'Field #{index} has no "name"')
    if not _AVRO_NAME.match(name):
        raise SchemaRuleError(
            f"Field name {name!r} is not a valid Avro name: use letters, digits and "
            "underscores, not starting with a digit",
            name,
        )
    if "type" not in entry:
        raise SchemaRuleError(f'Field {name} has no "type"', name)
    data_type, nullable = _field_type(name, entry["type"])
    categorical = _flag(name, entry, "categorical")
    textual = _flag(name, entry, "textual")
    for flag, on in (("categorical", categorical), ("textual", textual)):
        if on and data_type != "string":
            raise SchemaRuleError(
                f"Field {name} is {data_type}; only string fields can be {flag}", name
            )
    if categorical and textual:
        raise SchemaRuleError(f"Field {name} can be categorical or textual, not both", name)
    return SchemaField(name, data_type, nullable, categorical, textual)


def _flag(name: str, entry: Mapping[str, Any], flag: str) -> bool:
    value = entry.get(flag, False)
    if not isinstance(value, bool):
        raise SchemaRuleError(f"Field {name}: {flag} must be true or false, not {value!r}", name)
    return value


def _field_type(name: str, spec: Any) -> tuple[str, bool]:
    """The field's one data type and whether it is in a union with ``null``."""
    if isinstance(spec, list):
        branches = [_primitive(name, branch) for branch in spec]
        data_types = [branch for branch in branches if branch != "null"]
        if len(data_types) != 1 or len(branches) - len(data_types) > 1:
            raise SchemaRuleError(
                f"Field {name} has the union {json.dumps(spec)}; a union must be one data type "
                'and optionally "null", such as ["null", "string"]',
                name,
            )
        return data_types[0], len(branches) == 2
    data_type = _primitive(name, spec)
    if data_type == "null":
        raise SchemaRuleError(
            f'Field {name} has only the null type; give it a data type, such as ["null", "string"]',
            name,
        )
    return data_type, False


def _primitive(name: str, spec: Any) -> str:
    """A branch's primitive name; nested and complex types are not Personalize's."""
    kind = spec.get("type") if isinstance(spec, dict) else spec
    if isinstance(kind, str) and (kind in DATA_TYPES or kind == "null"):
        return kind
    if kind == "record":
        raise SchemaRuleError(
            f"Field {name} is a nested record; Personalize schemas must be flat", name
        )
    if isinstance(kind, str) and kind in _COMPLEX:
        raise SchemaRuleError(
            f"Field {name} has the complex type {kind}; Personalize schemas don't support "
            "arrays, maps, enums or fixed types (use a string with values separated by '|')",
            name,
        )
    raise SchemaRuleError(
        f"Field {name} has the type {json.dumps(spec)}; Personalize supports "
        f"{', '.join(DATA_TYPES)}, each optionally in a union with null",
        name,
    )


def _check_unique_names(fields: Iterable[SchemaField]) -> None:
    """GENRES_FIELD_1 and GENRESFIELD1 collide: names must differ in their alphanumerics."""
    seen: dict[str, str] = {}
    for field in fields:
        key = field.name.replace("_", "").upper()
        if key in seen:
            raise SchemaRuleError(
                f"Fields {seen[key]} and {field.name} have the same alphanumeric name; "
                "field names must be unique ignoring case and underscores",
                field.name,
            )
        seen[key] = field.name


def _check_single_textual(fields: Iterable[SchemaField]) -> None:
    textual = [field.name for field in fields if field.textual]
    if len(textual) > 1:
        raise SchemaRuleError(
            f"Fields {', '.join(textual)} are all textual; a schema can have at most one "
            "textual field",
            textual[1],
        )


def normalize_dataset_type(text: str) -> str:
    """Amazon reads the dataset type case-insensitively; its ARNs use the upper case."""
    upper = text.strip().upper()
    if upper not in DATASET_TYPES:
        raise SchemaRuleError(
            f"datasetType {text!r} is not valid; use one of {', '.join(DATASET_TYPES.values())}",
            "datasetType",
        )
    return upper


@dataclass(frozen=True)
class FieldRule:
    """What a required field or reserved keyword must be."""

    type: str
    nullable: bool = False
    categorical: bool = False
    textual: bool = False
    also: tuple[str, ...] = ()
    """Other types the field may have (a numeric keyword takes any number type)."""

    def describe(self) -> str:
        if self.also:
            types = [self.type, *self.also]
            text = ", ".join(types[:-1]) + f" or {types[-1]}"
            return f"{text}, null" if self.nullable else text
        return SchemaField("", self.type, self.nullable, self.categorical, self.textual).describe()


_STRING = FieldRule("string")
_LONG = FieldRule("long")
_NULLABLE_STRING = FieldRule("string", nullable=True)
_NULLABLE_FLOAT = FieldRule("float", nullable=True)
_CATEGORY = FieldRule("string", categorical=True)
_NULLABLE_CATEGORY = FieldRule("string", nullable=True, categorical=True)
_DESCRIPTION = FieldRule("string", nullable=True, textual=True)


@dataclass(frozen=True)
class DatasetRules:
    """One dataset type's rules, in one domain (or none)."""

    label: str
    required: Mapping[str, FieldRule]
    reserved: Mapping[str, FieldRule]
    not_metadata: frozenset[str]
    min_metadata: int
    max_metadata: int
    textual_allowed: bool


_INTERACTION_KEYWORDS = {
    "EVENT_TYPE": _STRING,
    "EVENT_VALUE": _NULLABLE_FLOAT,
    "IMPRESSION": _NULLABLE_STRING,
    "RECOMMENDATION_ID": _NULLABLE_STRING,
    "EVENT_ATTRIBUTION_SOURCE": _NULLABLE_STRING,
}
_INTERACTION_IDS = {"USER_ID": _STRING, "ITEM_ID": _STRING, "TIMESTAMP": _LONG}

_ACTION_KEYWORDS = {
    "VALUE": FieldRule("long", nullable=True, also=("int", "float", "double")),
    "CREATION_TIMESTAMP": _LONG,
    "ACTION_EXPIRATION_TIMESTAMP": FieldRule("long", nullable=True),
    "REPEAT_FREQUENCY": FieldRule("int", nullable=True, also=("long",)),
}
_ACTION_INTERACTION_IDS = {
    "USER_ID": _STRING,
    "ACTION_ID": _STRING,
    "TIMESTAMP": _LONG,
    "EVENT_TYPE": _STRING,
}
_ACTION_INTERACTION_KEYWORDS = {
    "IMPRESSION": _NULLABLE_STRING,
    "RECOMMENDATION_ID": _NULLABLE_STRING,
}

_CUSTOM = {
    "INTERACTIONS": DatasetRules(
        "Interactions",
        required=_INTERACTION_IDS,
        reserved=_INTERACTION_KEYWORDS,
        not_metadata=frozenset({*_INTERACTION_IDS, *_INTERACTION_KEYWORDS}),
        min_metadata=0,
        max_metadata=5,
        textual_allowed=False,
    ),
    "USERS": DatasetRules(
        "Users",
        required={"USER_ID": _STRING},
        reserved={},
        not_metadata=frozenset({"USER_ID"}),
        min_metadata=1,
        max_metadata=25,
        textual_allowed=False,
    ),
    "ITEMS": DatasetRules(
        "Items",
        required={"ITEM_ID": _STRING},
        reserved={"CREATION_TIMESTAMP": _LONG},
        not_metadata=frozenset({"ITEM_ID", "CREATION_TIMESTAMP"}),
        min_metadata=1,
        max_metadata=100,
        textual_allowed=True,
    ),
    "ACTIONS": DatasetRules(
        "Actions",
        required={"ACTION_ID": _STRING},
        reserved=_ACTION_KEYWORDS,
        not_metadata=frozenset({"ACTION_ID"}),
        min_metadata=1,
        max_metadata=10,
        textual_allowed=False,
    ),
    "ACTION_INTERACTIONS": DatasetRules(
        "Action_Interactions",
        required=_ACTION_INTERACTION_IDS,
        reserved=_ACTION_INTERACTION_KEYWORDS,
        not_metadata=frozenset({*_ACTION_INTERACTION_IDS, *_ACTION_INTERACTION_KEYWORDS}),
        min_metadata=0,
        max_metadata=10,
        textual_allowed=False,
    ),
}

_DOMAIN_REQUIRED: dict[tuple[str, str], dict[str, FieldRule]] = {
    ("ECOMMERCE", "INTERACTIONS"): {"EVENT_TYPE": _STRING},
    ("ECOMMERCE", "ITEMS"): {"PRICE": FieldRule("float"), "CATEGORY_L1": _CATEGORY},
    ("VIDEO_ON_DEMAND", "INTERACTIONS"): {"EVENT_TYPE": _STRING},
    ("VIDEO_ON_DEMAND", "ITEMS"): {"CREATION_TIMESTAMP": _LONG, "GENRES": _CATEGORY},
}
_DOMAIN_RESERVED: dict[tuple[str, str], dict[str, FieldRule]] = {
    ("ECOMMERCE", "ITEMS"): {
        "CATEGORY_L2": _NULLABLE_CATEGORY,
        "CATEGORY_L3": _NULLABLE_CATEGORY,
        "PRODUCT_DESCRIPTION": _DESCRIPTION,
        "AGE_GROUP": _NULLABLE_CATEGORY,
        "ADULT": _NULLABLE_CATEGORY,
        "GENDER": _NULLABLE_CATEGORY,
    },
    ("VIDEO_ON_DEMAND", "USERS"): {"SUBSCRIPTION_MODEL": _NULLABLE_CATEGORY},
    ("VIDEO_ON_DEMAND", "ITEMS"): {
        "PRICE": _NULLABLE_FLOAT,
        "DURATION": _NULLABLE_FLOAT,
        "AVERAGE_RATING": _NULLABLE_FLOAT,
        "GENRE_L2": _NULLABLE_CATEGORY,
        "GENRE_L3": _NULLABLE_CATEGORY,
        "CONTENT_OWNER": _NULLABLE_CATEGORY,
        "CONTENT_CLASSIFICATION": _NULLABLE_CATEGORY,
        "PRODUCT_DESCRIPTION": _DESCRIPTION,
    },
}


def rules_for(dataset_type: str, domain: str | None) -> DatasetRules:
    """The custom rules for ``dataset_type``, with ``domain``'s required and reserved fields."""
    if dataset_type not in SUPPORTED_DATASET_TYPES:
        raise SchemaRuleError(
            f"datasetType {DATASET_TYPES.get(dataset_type, dataset_type)}: Augury does not "
            "support this dataset type yet; it supports "
            f"{', '.join(DATASET_TYPES[t] for t in SUPPORTED_DATASET_TYPES)}",
            "datasetType",
        )
    base = _CUSTOM[dataset_type]
    if not domain:
        return base
    if dataset_type in ACTION_DATASET_TYPES:
        raise SchemaRuleError(
            f"datasetType {DATASET_TYPES[dataset_type]}: a {domain} (Domain) dataset group "
            "cannot have Next-Best-Action datasets; create them in a Custom dataset group",
            "datasetType",
        )
    extra_required = _DOMAIN_REQUIRED.get((domain, dataset_type), {})
    reserved = {**base.reserved, **_DOMAIN_RESERVED.get((domain, dataset_type), {})}
    required = {**base.required, **extra_required}
    return DatasetRules(
        f"{domain} {base.label}",
        required=required,
        reserved={name: rule for name, rule in reserved.items() if name not in required},
        not_metadata=base.not_metadata,
        min_metadata=base.min_metadata,
        max_metadata=base.max_metadata,
        textual_allowed=base.textual_allowed,
    )


def check_for_dataset(schema: ParsedSchema, dataset_type: str, domain: str | None) -> None:
    """Raise unless ``schema`` fits a ``dataset_type`` dataset in a ``domain`` dataset group."""
    rules = rules_for(dataset_type, domain)
    for name, rule in rules.required.items():
        field = schema.get(name)
        if field is None:
            raise SchemaRuleError(_missing(schema, rules.label, name, rule), name)
        _check_rule(field, rule, "required field")
    for name, rule in rules.reserved.items():
        field = schema.get(name)
        if field is not None:
            _check_rule(field, rule, "reserved keyword")
    if not rules.textual_allowed:
        for field in schema.fields:
            if field.textual:
                raise SchemaRuleError(
                    f"Field {field.name} is textual; only Items schemas can have a textual field",
                    field.name,
                )
    _check_metadata_count(schema, rules)


def _missing(schema: ParsedSchema, label: str, name: str, rule: FieldRule) -> str:
    message = f"{label} schemas need the field {name} ({rule.describe()})"
    near = next((f.name for f in schema.fields if f.name.upper() == name), None)
    if near:
        message += f"; found {near}, but Personalize's field names are upper case"
    return message


def _check_rule(field: SchemaField, rule: FieldRule, role: str) -> None:
    if field.type not in (rule.type, *rule.also) or (field.nullable and not rule.nullable):
        raise SchemaRuleError(
            f"{field.name} is a {role} of type {rule.describe()}; this schema makes it "
            f"{field.describe()}",
            field.name,
        )
    for flag in ("categorical", "textual"):
        wanted, got = getattr(rule, flag), getattr(field, flag)
        if wanted != got:
            must = "must be" if wanted else "can't be"
            raise SchemaRuleError(f"{field.name} is a {role} and {must} {flag}", field.name)


def _check_metadata_count(schema: ParsedSchema, rules: DatasetRules) -> None:
    metadata = [field.name for field in schema.fields if field.name not in rules.not_metadata]
    if len(metadata) < rules.min_metadata:
        ids = ", ".join(sorted(rules.required))
        raise SchemaRuleError(
            f"{rules.label} schemas need at least one metadata field besides {ids} "
            "(a categorical string or a numerical field)"
        )
    if len(metadata) > rules.max_metadata:
        raise SchemaRuleError(
            f"{rules.label} schemas can have at most {rules.max_metadata} metadata fields; "
            f"this one has {len(metadata)} (the first beyond the limit is "
            f"{metadata[rules.max_metadata]})",
            metadata[rules.max_metadata],
        )


def check_replaceable(dataset_type: str) -> None:
    """UpdateDataset takes Items and Users datasets only."""
    if dataset_type not in REPLACEABLE_DATASET_TYPES:
        raise SchemaRuleError(
            f"This dataset's datasetType is {DATASET_TYPES[dataset_type]}; only Items and "
            "Users datasets can take a new schema",
            "datasetType",
        )


def check_replacement(current: ParsedSchema, new: ParsedSchema, dataset_type: str) -> None:
    """UpdateDataset: Items and Users only; keep every field as it is; new fields nullable."""
    check_replaceable(dataset_type)
    for field in current.fields:
        replacement = new.get(field.name)
        if replacement is None:
            raise SchemaRuleError(
                f"The new schema drops field {field.name}; a replacement schema must keep "
                "every field of the current one",
                field.name,
            )
        if replacement != field:
            raise SchemaRuleError(
                f"The new schema changes field {field.name} from {field.describe()} to "
                f"{replacement.describe()}; fields can't change type or attributes",
                field.name,
            )
    for field in new.fields:
        if current.get(field.name) is None and not field.nullable:
            raise SchemaRuleError(
                f'New field {field.name} must allow null data (make its type ["null", '
                f'"{field.type}"])',
                field.name,
            )
