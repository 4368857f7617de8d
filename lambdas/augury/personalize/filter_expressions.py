"""Amazon Personalize filter expressions: parsed once, checked, then applied to catalogs.

Parsing lives in ``augury.personalize.filter_grammar`` and Amazon's rules in
``filter_rules``; this
module compiles a filter once and applies it to item or user catalogs with
NumPy masks. The grammar itself is written out in ``filter_grammar``'s docstring.
Rules that need the dataset group's schemas (does the field
exist, is it numeric, textual or boolean) are checked by
``augury.personalize.filters`` from ``CompiledFilter.fields``.

Evaluation follows Amazon's documented semantics:

- chained expressions are each evaluated on their own; the kept items are the
  union of the INCLUDE results (everything when there is none) minus the union
  of the EXCLUDE results;
- a multi-valued field (values joined by ``|``) matches when any value does;
  a missing value never matches ``IN``, ``=`` or a range, so ``NOT IN`` (its
  negation) keeps it;
- event types match case-insensitively, other values exactly; ``"*"`` matches
  every event type, and only the 100 newest interactions per event type count;
- an expression whose ``IF CurrentUser...`` condition is false does not apply;
- INCLUDE expressions need every parameter's value; in an EXCLUDE expression a
  condition whose parameter has no value is left out, as Amazon does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from augury.personalize.filter_grammar import (
    ACTION_ID,
    HISTORY_DATASETS,
    INCLUDE,
    ITEM_ID,
    MAX_INTERACTIONS_PER_EVENT_TYPE,
    NOT_IN,
    NUMBER_OPERATORS,
    USER_ID,
    WILDCARD,
    AllOf,
    Expression,
    FieldUse,
    FilterExpressionError,
    Node,
    Test,
)
from augury.personalize.filter_rules import field_uses, parse_filter

__all__ = [
    "CompiledFilter",
    "FilterApplicationError",
    "FilterContext",
    "FilterExpressionError",
    "ItemCatalog",
    "UserCatalog",
    "compile_filter",
    "parse_filter_values",
]


class FilterApplicationError(ValueError):
    """A filter that can't be applied to this request (missing or bad filterValues, say).

    Serving turns it into InvalidInputException: the request is at fault, not the filter.
    """


# --- compiling ---------------------------------------------------------------------------


def compile_filter(expression: str) -> CompiledFilter:
    """Parse and check ``expression``; ``FilterExpressionError`` says where and why not."""
    expressions = parse_filter(expression)
    tests = [test for item in expressions for test in item.tests()]
    uses = tuple(use for test in tests for use in field_uses(test))
    return CompiledFilter(
        expression=expression,
        expressions=tuple(expressions),
        target=expressions[0].target,
        parameters=list(dict.fromkeys(name for test in tests for name in test.parameters)),
        dataset_types={use.dataset for use in uses},
        fields=uses,
        uses_current_user=any(item.conditions for item in expressions),
        uses_current_item=any(test.current_item_field is not None for test in tests),
    )


# --- what filters are applied to ---------------------------------------------------------


@dataclass(eq=False)
class ItemCatalog:
    """The items a filter chooses among: IDs in catalog order and Items fields by upper-cased
    name, one value per item (``None`` when unknown).

    Build it once and reuse it: the value indexes a filter needs are built on first use
    and kept on the catalog, so later requests on a 100k-item catalog cost a few array
    operations.
    """

    item_ids: list[str]
    columns: dict[str, list[Any]] = field(default_factory=dict)
    _table: _Table | None = field(default=None, init=False, repr=False)

    def table(self) -> _Table:
        if self._table is None:
            self._table = _Table(self.item_ids, self.columns, "ITEM_ID")
        return self._table


@dataclass(eq=False)
class UserCatalog:
    """The users a UserID filter chooses among, for user segments.

    ``event_types`` holds, per user, the event types of their interactions
    (any case); ``None`` when interactions are unknown.
    """

    user_ids: list[str]
    columns: dict[str, list[Any]] = field(default_factory=dict)
    event_types: list[Collection[str]] | None = None
    _table: _Table | None = field(default=None, init=False, repr=False)

    def table(self) -> _Table:
        if self._table is None:
            self._table = _Table(self.user_ids, self.columns, "USER_ID")
        return self._table


@dataclass(frozen=True)
class FilterContext:
    """Who and what a request is about.

    ``user`` is the current user's Users row, ``interactions`` their interactions
    (ITEM_ID, EVENT_TYPE, TIMESTAMP...), oldest first, and ``item`` the current
    item's Items row for related-items requests.
    """

    user: Mapping[str, Any] | None = None
    interactions: Sequence[Mapping[str, Any]] = ()
    item: Mapping[str, Any] | None = None


def _key(value: Any) -> str | None:
    """The form values are matched in: numbers canonical (5 == 5.0), strings as they are."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        number = float(value)
        if number != number:
            return None
        return str(int(number)) if number.is_integer() and abs(number) < 2**63 else repr(number)
    return str(value)


def _number(text: str) -> float | None:
    """A finite number written plainly (no words like nan, no underscores), else None."""
    cleaned = text.strip()
    if (
        not cleaned
        or "_" in cleaned
        or any(char.isalpha() and char not in "eE" for char in cleaned)
    ):
        return None
    try:
        number = float(cleaned)
    except ValueError:
        return None
    return number if np.isfinite(number) else None


def _match_keys(text: str) -> set[str]:
    """The keys a requested value matches: itself, and its canonical number when it is one."""
    keys = {text}
    number = _number(text)
    if number is not None:
        keys.add(_key(number) or text)
    return keys


def _value_keys(value: Any) -> list[str]:
    """A stored value's keys: each of its ``|``-joined values; none when missing."""
    if isinstance(value, str):
        return [part for part in value.split("|") if part]
    key = _key(value)
    return [] if key is None else [key]


def _value_number(value: Any) -> float:
    if value is None or isinstance(value, bool | np.bool_):
        return float("nan")
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    number = _number(str(value))
    return float("nan") if number is None else number


class _Table:
    """Per-column lookups over one catalog, built lazily and kept."""

    def __init__(self, ids: Sequence[str], columns: Mapping[str, Sequence[Any]], id_name: str):
        self.ids = list(ids)
        self.size = len(self.ids)
        self.columns = {name.upper(): values for name, values in columns.items()}
        self.columns.setdefault(id_name, self.ids)
        self._positions: dict[str, int] | None = None
        self._indexes: dict[str, dict[str, np.ndarray]] = {}
        self._numbers: dict[str, np.ndarray] = {}

    def column(self, name: str) -> Sequence[Any]:
        values = self.columns.get(name)
        if values is None:
            return [None] * self.size
        if len(values) != self.size:
            raise FilterApplicationError(
                f"catalog column {name} has {len(values)} values for {self.size} entries"
            )
        return values

    def positions(self) -> dict[str, int]:
        if self._positions is None:
            self._positions = {item: index for index, item in enumerate(self.ids)}
        return self._positions

    def index(self, name: str) -> dict[str, np.ndarray]:
        """Value key -> positions of the entries having it (any of their values)."""
        found = self._indexes.get(name)
        if found is None:
            lists: dict[str, list[int]] = {}
            for position, value in enumerate(self.column(name)):
                for key in _value_keys(value):
                    lists.setdefault(key, []).append(position)
            found = {key: np.asarray(spots, dtype=np.int64) for key, spots in lists.items()}
            self._indexes[name] = found
        return found

    def numbers(self, name: str) -> np.ndarray:
        found = self._numbers.get(name)
        if found is None:
            found = np.fromiter(
                (_value_number(value) for value in self.column(name)),
                dtype=np.float64,
                count=self.size,
            )
            self._numbers[name] = found
        return found

    def having(self, name: str, keys: Iterable[str]) -> np.ndarray:
        mask = np.zeros(self.size, dtype=bool)
        index = self.index(name)
        for key in keys:
            spots = index.get(key)
            if spots is not None:
                mask[spots] = True
        return mask

    def mask_of_ids(self, ids: Iterable[str]) -> np.ndarray:
        mask = np.zeros(self.size, dtype=bool)
        positions = self.positions()
        spots = [positions[item] for item in ids if item in positions]
        if spots:
            mask[np.asarray(spots, dtype=np.int64)] = True
        return mask


# --- filterValues ------------------------------------------------------------------------


def parse_filter_values(values: Mapping[str, str] | None) -> dict[str, list[str]]:
    """Amazon's filterValues: each a comma-separated list of double-quoted values.

    ``{"GENRE": "\\"Comedy\\",\\"Drama\\""}`` gives ``{"GENRE": ["Comedy", "Drama"]}``.
    Unquoted values (``"18"``, ``18,21``) are accepted too, trimmed.
    """
    parsed: dict[str, list[str]] = {}
    for name, text in (values or {}).items():
        if not isinstance(text, str):
            raise FilterApplicationError(f"filterValues {name} must be a string")
        parsed[name] = _split_values(name, text)
    return parsed


def _split_values(name: str, text: str) -> list[str]:
    found: list[str] = []
    pos = 0
    while True:
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos < len(text) and text[pos] == '"':
            pos += 1
            chars: list[str] = []
            while pos < len(text) and text[pos] != '"':
                if text[pos] == "\\" and pos + 1 < len(text):
                    pos += 1
                chars.append(text[pos])
                pos += 1
            if pos >= len(text):
                raise FilterApplicationError(
                    f"filterValues {name}: a value has no closing double quote: {text!r}"
                )
            pos += 1
            found.append("".join(chars))
            while pos < len(text) and text[pos].isspace():
                pos += 1
        else:
            end = text.find(",", pos)
            end = len(text) if end < 0 else end
            bare = text[pos:end].strip()
            if not bare:
                raise FilterApplicationError(
                    f'filterValues {name}: empty value in {text!r}; write values as "a","b"'
                )
            found.append(bare)
            pos = end
        if pos >= len(text):
            return found
        if text[pos] != ",":
            raise FilterApplicationError(
                f"filterValues {name}: expected a comma after a value in {text!r}; write values "
                'as "a","b"'
            )
        pos += 1


# --- evaluation --------------------------------------------------------------------------

_Mask = np.ndarray | None
"""A boolean mask, or None for a condition left out (an EXCLUDE parameter with no value)."""


@dataclass(eq=False)
class CompiledFilter:
    """A checked filter, ready to apply to many requests."""

    expression: str
    expressions: tuple[Expression, ...]
    target: str
    """``ItemID``, ``UserID`` or ``ActionID``."""
    parameters: list[str]
    """Placeholder names, in order of first appearance, without the ``$``."""
    dataset_types: set[str]
    """The datasets the filter reads: Items, Users, Interactions, Actions,
    Action_Interactions."""
    fields: tuple[FieldUse, ...]
    uses_current_user: bool
    uses_current_item: bool

    def item_mask(
        self,
        catalog: ItemCatalog,
        context: FilterContext | None = None,
        values: Mapping[str, str] | None = None,
    ) -> np.ndarray:
        """True for each catalog item the filter keeps for this request.

        A CurrentItem comparison matches nothing when the context has no item (or
        the item lacks the field); refusing CurrentItem filters on requests that
        aren't for related items is the caller's call (``uses_current_item``).
        """
        if self.target != ITEM_ID:
            raise FilterApplicationError("this is a UserID filter; it filters users, not items")
        return _Run(self, catalog.table(), context or FilterContext(), values).keep()

    def action_mask(
        self,
        actions: ItemCatalog,
        context: FilterContext | None = None,
        values: Mapping[str, str] | None = None,
    ) -> np.ndarray:
        """True for each action the filter keeps: ``actions`` holds the Actions fields in
        the item fields' place, and the context's interactions are the user's action
        interactions (the action's ID as ``ITEM_ID``)."""
        if self.target != ACTION_ID:
            raise FilterApplicationError(
                f"this is a {self.target} filter; action recommendations need an ActionID filter"
            )
        return _Run(self, actions.table(), context or FilterContext(), values).keep()

    def user_mask(
        self,
        users: UserCatalog,
        context: FilterContext | None = None,
        values: Mapping[str, str] | None = None,
    ) -> np.ndarray:
        """True for each user the filter keeps in a user segment."""
        if self.target != USER_ID:
            raise FilterApplicationError("this is an ItemID filter; it filters items, not users")
        return _Run(self, users.table(), context or FilterContext(), values, users).keep()


class _Run:
    """One application of a filter: its values resolved, its masks computed."""

    def __init__(
        self,
        compiled: CompiledFilter,
        table: _Table,
        context: FilterContext,
        values: Mapping[str, str] | None,
        users: UserCatalog | None = None,
    ) -> None:
        self.compiled = compiled
        self.table = table
        self.context = context
        self.values = parse_filter_values(values)
        self.users = users
        self._user_row: dict[str, Any] | None = None
        self._item_row: dict[str, Any] | None = None

    def keep(self) -> np.ndarray:
        include: np.ndarray | None = None
        exclude = np.zeros(self.table.size, dtype=bool)
        for expression in self.compiled.expressions:
            if expression.action == INCLUDE:
                missing = [name for name in expression.parameters if name not in self.values]
                if missing:
                    raise FilterApplicationError(
                        "filterValues must give every parameter of an INCLUDE expression; "
                        f"missing {', '.join('$' + name for name in missing)}"
                    )
            mask = self.expression_mask(expression)
            if mask is None:
                continue
            if expression.action == INCLUDE:
                include = mask if include is None else include | mask
            else:
                exclude |= mask
        kept = np.ones(self.table.size, dtype=bool) if include is None else include.copy()
        kept &= ~exclude
        return kept

    def expression_mask(self, expression: Expression) -> _Mask:
        """The entries an expression selects, or None when it doesn't apply to this request."""
        for condition in expression.conditions:
            holds = self.user_condition(condition)
            if holds is False:
                return None
        return self.node_mask(expression.where)

    def node_mask(self, node: Node) -> _Mask:
        if isinstance(node, Test):
            return self.test_mask(node)
        masks = [mask for mask in (self.node_mask(part) for part in node.parts) if mask is not None]
        if not masks:
            return None
        combined = masks[0].copy()
        for mask in masks[1:]:
            if isinstance(node, AllOf):
                combined &= mask
            else:
                combined |= mask
        return combined

    def resolved(self, test: Test) -> list[str] | None:
        """The test's values as strings, parameters substituted; None if all are missing."""
        texts: list[str] = []
        given = False
        for value in test.values:
            if value.kind == "param":
                supplied = self.values.get(value.text)
                if supplied is None:
                    continue
                texts.extend(supplied)
            elif value.kind == "number":
                number = float(value.text)
                texts.append(_key(number) or value.text)
            else:
                texts.append(value.text)
            given = True
        return texts if given else None

    def test_mask(self, test: Test) -> _Mask:
        if test.dataset in HISTORY_DATASETS:
            texts = self.resolved(test)
            if texts is None:
                return None
            return self.interaction_mask(texts)
        if test.current_item_field is not None:
            reference = self.item_row().get(test.current_item_field)
            return self.compare(test, _value_keys(reference), _value_number(reference))
        texts = self.resolved(test)
        if texts is None:
            return None
        return self.compare(test, *self.operand(test, texts))

    def operand(self, test: Test, texts: list[str]) -> tuple[list[str], float]:
        if test.operator not in NUMBER_OPERATORS:
            return texts, float("nan")
        if len(texts) != 1 or _number(texts[0]) is None:
            name = next((value.text for value in test.values if value.kind == "param"), "")
            raise FilterApplicationError(
                f"{test.dataset}.{test.field} {test.operator} needs one number; filterValues "
                f"${name} gave {texts!r}"
            )
        return texts, float(_number(texts[0]) or 0.0)

    def compare(self, test: Test, keys: list[str], number: float) -> np.ndarray:
        if test.operator in NUMBER_OPERATORS:
            column = self.table.numbers(test.field)
            with np.errstate(invalid="ignore"):
                return _COMPARISONS[test.operator](column, number)
        wanted = set().union(*(_match_keys(key) for key in keys)) if keys else set()
        hits = self.table.having(test.field, wanted)
        return ~hits if test.operator == NOT_IN else hits

    def interaction_mask(self, event_types: list[str]) -> np.ndarray:
        wanted = {event_type.lower() for event_type in event_types}
        if self.users is not None:
            return self.user_interaction_mask(wanted)
        chosen = _recent_by_type(self.context.interactions)
        items = [
            str(row.get("ITEM_ID"))
            for row in chosen
            if WILDCARD in wanted or str(row.get("EVENT_TYPE") or "").lower() in wanted
        ]
        return self.table.mask_of_ids(items)

    def user_interaction_mask(self, wanted: set[str]) -> np.ndarray:
        assert self.users is not None
        mask = np.zeros(self.table.size, dtype=bool)
        for position, types in enumerate(self.users.event_types or []):
            if position >= self.table.size:
                break
            lowered = {str(event_type).lower() for event_type in types}
            mask[position] = bool(lowered & wanted) or (WILDCARD in wanted and bool(types))
        return mask

    def user_condition(self, test: Test) -> bool | None:
        """Whether the current user meets an IF test; None when its parameter is missing."""
        texts = self.resolved(test)
        if texts is None:
            return None
        stored = self.user_row().get(test.field)
        if test.operator in NUMBER_OPERATORS:
            _, number = self.operand(test, texts)
            value = _value_number(stored)
            return bool(value == value and _COMPARISONS[test.operator](np.float64(value), number))
        have = set(_value_keys(stored))
        wanted = set().union(*(_match_keys(text) for text in texts))
        hit = bool(have & wanted)
        return not hit if test.operator == NOT_IN else hit

    def user_row(self) -> dict[str, Any]:
        if self._user_row is None:
            self._user_row = _upper_keys(self.context.user)
        return self._user_row

    def item_row(self) -> dict[str, Any]:
        if self._item_row is None:
            self._item_row = _upper_keys(self.context.item)
        return self._item_row


def _not_equal(values: np.ndarray, number: float) -> np.ndarray:
    """``!=``: a value that is missing is not a number that differs, as it is not one that
    is smaller or larger."""
    return np.not_equal(values, number) & ~np.isnan(values)


_COMPARISONS = {
    "!=": _not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def _upper_keys(row: Mapping[str, Any] | None) -> dict[str, Any]:
    return {str(name).upper(): value for name, value in (row or {}).items()}


def _recent_by_type(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The newest ``MAX_INTERACTIONS_PER_EVENT_TYPE`` interactions of each event type.

    Rows are taken as given oldest first; a TIMESTAMP, when every row has one,
    decides the order instead.
    """
    ordered = list(rows)
    if ordered and all(row.get("TIMESTAMP") is not None for row in ordered):
        ordered.sort(key=lambda row: float(row["TIMESTAMP"]))
    counts: dict[str, int] = {}
    chosen: list[Mapping[str, Any]] = []
    for row in reversed(ordered):
        event_type = str(row.get("EVENT_TYPE") or "").lower()
        seen = counts.get(event_type, 0)
        if seen < MAX_INTERACTIONS_PER_EVENT_TYPE:
            counts[event_type] = seen + 1
            chosen.append(row)
    return chosen
