"""Amazon Personalize filter expressions: what parses, what is refused and why, what is kept."""

from __future__ import annotations

import time

import numpy as np
import pytest

from augury.personalize.filter_expressions import (
    FilterApplicationError,
    FilterContext,
    FilterExpressionError,
    ItemCatalog,
    UserCatalog,
    compile_filter,
    parse_filter_values,
)
from augury.personalize.filter_grammar import MAX_INTERACTIONS_PER_EVENT_TYPE

CATALOG = ItemCatalog(
    item_ids=["i1", "i2", "i3", "i4", "i5", "i6"],
    columns={
        "GENRES": ["Comedy|Drama", "Horror", None, "Drama", "Comedy", "Action|Horror"],
        "PRICE": [5, 12.5, 20, None, 8, 30],
        "STUDIO": ["A", "B", "A", "C", None, "B"],
        "YEAR": [1999, 2001, 2001, 2010, None, 1999],
    },
)


def kept(
    expression: str,
    values: dict[str, str] | None = None,
    context: FilterContext | None = None,
    catalog: ItemCatalog = CATALOG,
) -> list[str]:
    mask = compile_filter(expression).item_mask(catalog, context or FilterContext(), values or {})
    assert mask.dtype == bool and mask.shape == (len(catalog.item_ids),)
    return [item for item, keep in zip(catalog.item_ids, mask, strict=True) if keep]


def refusal(expression: str) -> FilterExpressionError:
    with pytest.raises(FilterExpressionError) as caught:
        compile_filter(expression)
    return caught.value


# --- what parses -------------------------------------------------------------------------

VALID = [
    'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click", "stream")',
    'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")',
    "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT_TYPE)",
    'EXCLUDE itemId WHERE INTERACTIONS.event_type in ("Purchase")',
    "EXCLUDE ItemID WHERE Items.CATEGORY IN ($CATEGORY)",
    'EXCLUDE ItemID WHERE Items.CATEGORY_L1 IN ("shoe") AND Items.CATEGORY_L2 NOT IN ("boot")',
    "INCLUDE ItemID WHERE Items.NUMBER_OF_DOWNLOADS < 20",
    "INCLUDE ItemID WHERE Items.PRICE >= -2.5e1",
    "INCLUDE ItemID WHERE Items.PRICE > ($PRICE)",
    "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND Items.GENRE IN CurrentItem.GENRE",
    "EXCLUDE ItemID WHERE Items.NUMBER_OF_DOWNLOADS < 20 IF CurrentUser.AGE > 18 AND "
    "CurrentUser.AGE < 30",
    'INCLUDE ItemID WHERE Items.CATEGORY IN ("watch") AND Items.DESCRIPTION IN ("luxury") '
    "IF CurrentUser.AGE > 18",
    "EXCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE = $AGE",
    'INCLUDE ItemID WHERE Items.GENRE IN ("drama") | EXCLUDE ItemID WHERE '
    'Interactions.EVENT_TYPE IN ("click", "stream")',
    "INCLUDE ItemID WHERE Items.ITEM_ID IN ($ids)",
    'INCLUDE UserID WHERE Users.MEMBERSHIP IN ("gold") OR Users.AGE >= 30',
    'EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("purchase")',
    'INCLUDE ItemID WHERE (Items.A IN ("x") OR Items.B IN ("y")) AND Items.C = 3',
    'include itemid where items.genre in ("a\\"b", "c,d")',
    '  INCLUDE ItemID WHERE Items.GENRE IN ("a")|INCLUDE ItemID WHERE Items.GENRE IN ("b")  ',
]


@pytest.mark.parametrize("expression", VALID)
def test_amazon_expressions_parse(expression: str) -> None:
    compiled = compile_filter(expression)
    assert compiled.target in ("ItemID", "UserID")
    assert compiled.expression == expression


def test_compiled_filter_reports_target_parameters_and_datasets() -> None:
    compiled = compile_filter(
        "INCLUDE ItemID WHERE Items.GENRE IN ($GENRE) IF CurrentUser.AGE > $AGE | "
        "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($EVENT, $GENRE)"
    )
    assert compiled.target == "ItemID"
    assert compiled.parameters == ["GENRE", "AGE", "EVENT"]
    assert compiled.dataset_types == {"Items", "Users", "Interactions"}
    assert {(use.dataset, use.field) for use in compiled.fields} == {
        ("Items", "GENRE"),
        ("Users", "AGE"),
        ("Interactions", "EVENT_TYPE"),
    }
    assert compiled.uses_current_user and not compiled.uses_current_item
    user_filter = compile_filter('INCLUDE UserID WHERE Users.TIER IN ("gold")')
    assert user_filter.target == "UserID" and user_filter.dataset_types == {"Users"}


def test_field_names_are_case_insensitive_and_current_item_reads_items() -> None:
    compiled = compile_filter("INCLUDE ItemID WHERE items.price < currentitem.Price")
    assert [(use.dataset, use.field) for use in compiled.fields] == [
        ("Items", "PRICE"),
        ("Items", "PRICE"),
    ]
    assert compiled.uses_current_item


# --- what is refused, where and why ------------------------------------------------------

BAD = [
    ("", None, "empty"),
    ('KEEP ItemID WHERE Items.A IN ("x")', 0, "starts with INCLUDE or EXCLUDE"),
    ('INCLUDE Items WHERE Items.A IN ("x")', 8, "expected ItemID, UserID or ActionID"),
    ('INCLUDE ItemID Items.A IN ("x")', 15, "expected WHERE"),
    ('INCLUDE ItemID WHERE Items.A IN ("x"', 36, "expected , or )"),
    ('INCLUDE ItemID WHERE Items.A IN ("x)', 33, "no closing double quote"),
    ("INCLUDE ItemID WHERE Items.A IN ('x')", 33, "straight double quotes"),
    ('INCLUDE ItemID WHERE Items.A != "x"', 32, "compares numbers"),
    ("INCLUDE ItemID WHERE Items.A <> 1", 29, "use != to compare numbers"),
    ('INCLUDE ItemID WHERE Items.A == "x"', 29, "single ="),
    ("INCLUDE ItemID WHERE Items.A IN ()", 32, "empty"),
    ('INCLUDE ItemID WHERE Items.A IN "x"', 32, "list of values in parentheses"),
    ("INCLUDE ItemID WHERE Items.A IN (comedy)", 33, "double quotes"),
    ('INCLUDE ItemID WHERE Items.A NOT ("x")', 33, "NOT must be followed by IN"),
    ('INCLUDE ItemID WHERE Items.A LIKE ("x")', 29, "expected an operator"),
    ('INCLUDE ItemID WHERE Items IN ("x")', 27, "expected .FIELD"),
    ('INCLUDE ItemID WHERE Products.A IN ("x")', 21, "unknown dataset"),
    ('INCLUDE ItemID WHERE Actions.A IN ("x")', 21, "ItemID filters can test Items or"),
    ('INCLUDE ActionID WHERE Items.A IN ("x")', 23, "ActionID filters can test Actions or"),
    ('EXCLUDE ActionID WHERE Action_Interactions.X IN ("x")', 23, "only EVENT_TYPE"),
    ('INCLUDE ItemID WHERE Items.A IN ("x") Items.B IN ("y")', 38, "join conditions"),
    ('INCLUDE ItemID WHERE Items.A IN ("x") INCLUDE ItemID', 38, "chain expressions with |"),
    ('INCLUDE ItemID WHERE Items.A IN ("x") |', 39, "expected an expression after |"),
    ('INCLUDE ItemID WHERE Items.A IN ("x") || INCLUDE', 39, "expected an expression after |"),
    ('INCLUDE ItemID WHERE (Items.A IN ("x")', 38, "closing parenthesis"),
    ('INCLUDE ItemID WHERE Items.A IN ("x"))', 37, "no matching ("),
    ("INCLUDE ItemID WHERE Items.A IN ($)", 33, "parameter name"),
    ("INCLUDE ItemID WHERE Items.A < 12abc", 31, "not a number"),
    ("INCLUDE ItemID WHERE Items.A = (1, 2)", 35, "one value"),
    # Amazon's rules, past the grammar
    ("INCLUDE ItemID WHERE Items.GENRE NOT IN ($GENRE)", 41, "NOT IN"),
    ('INCLUDE ItemID WHERE Items.PRICE < "10"', 35, "compares numbers"),
    ('INCLUDE ItemID WHERE Items.A IN ("x") AND Interactions.EVENT_TYPE IN ("y")', 42, "chain"),
    (
        'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("y") OR Items.A IN ("x")',
        57,
        "dataset of the first condition (Interactions)",
    ),
    ("INCLUDE ItemID WHERE Users.AGE > 10", 21, "IF CurrentUser"),
    ('INCLUDE ItemID WHERE Items.A IN ("x") IF Items.B = 1', 41, "only CurrentUser"),
    ("INCLUDE ItemID WHERE CurrentUser.AGE > 3", 21, "only in an IF"),
    (
        'INCLUDE ItemID WHERE Items.A IN ("x") AND CurrentUser.AGE > 3',
        42,
        "only in an IF",
    ),
    (
        'INCLUDE ItemID WHERE Items.A IN ("x") IF CurrentUser.AGE > 3 OR CurrentUser.B = 1',
        61,
        "AND",
    ),
    (
        'INCLUDE ItemID WHERE Items.A IN ("x") IF CurrentUser.AGE > 3 IF CurrentUser.B = 1',
        61,
        "only one IF",
    ),
    ("INCLUDE ItemID WHERE CurrentItem.PRICE < 3", 21, "right of a condition"),
    ("INCLUDE UserID WHERE Users.A IN CurrentItem.A", 29, "CurrentItem"),
    ('INCLUDE UserID WHERE Items.A IN ("x")', 21, "Users or Interactions"),
    (
        'INCLUDE UserID WHERE Users.A IN ("x") IF CurrentUser.B = 1',
        41,
        "only to item and action filters",
    ),
    ('INCLUDE ItemID WHERE Items.A IN ("x") | INCLUDE UserID WHERE Users.B IN ("y")', 40, "same"),
    ('EXCLUDE ItemID WHERE Interactions.ITEM_ID IN ("x")', 21, "only EVENT_TYPE"),
    ('INCLUDE ItemID WHERE Interactions.EVENT_TYPE NOT IN ("click")', 45, "only with IN"),
    ("EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN (3)", 49, "event types are strings"),
    ('INCLUDE ItemID WHERE Items.GENRE IN ("*")', 37, '"*"'),
]


@pytest.mark.parametrize(("expression", "offset", "reason"), BAD)
def test_bad_expressions_say_where_and_why(
    expression: str, offset: int | None, reason: str
) -> None:
    error = refusal(expression)
    assert reason in str(error)
    assert error.offset == offset
    if offset is not None:
        assert f"at character {offset + 1}" in str(error)


def test_limits_on_length_fields_parameters_and_nesting() -> None:
    padded = 'INCLUDE ItemID WHERE Items.A IN ("' + "x" * 2500 + '")'
    assert "limit is 2500" in str(refusal(padded))
    ten = " AND ".join(f'Items.F{n} IN ("x")' for n in range(10))
    compile_filter(f"INCLUDE ItemID WHERE {ten}")  # Amazon's quota: 10 fields in a filter
    error = refusal(f'INCLUDE ItemID WHERE {ten} AND Items.F10 IN ("x")')
    assert "at most 10 distinct dataset fields" in str(error) and "Items.F10" in str(error)
    across = " AND ".join(f'Items.F{n} IN ("x")' for n in range(8))
    across = f"INCLUDE ItemID WHERE {across} | "
    across += 'EXCLUDE ItemID WHERE Items.D IN ("y") IF CurrentUser.E = 1 AND CurrentUser.F = 2'
    assert "at most 10" in str(refusal(across))
    same_field = " OR ".join(f"Items.A IN ($P{n})" for n in range(11))
    assert "at most 10 distinct parameters" in str(refusal(f"INCLUDE ItemID WHERE {same_field}"))
    assert "at most 50 characters" in str(
        refusal("INCLUDE ItemID WHERE Items.A IN ($" + "P" * 51 + ")")
    )
    deep = "INCLUDE ItemID WHERE " + "(" * 30 + 'Items.A IN ("x")' + ")" * 30
    assert "nest at most" in str(refusal(deep))


# --- evaluation over a catalog -----------------------------------------------------------


def test_multi_valued_fields_match_when_any_value_does() -> None:
    assert kept('INCLUDE ItemID WHERE Items.GENRES IN ("Drama")') == ["i1", "i4"]
    assert kept('EXCLUDE ItemID WHERE Items.GENRES IN ("Horror", "Drama")') == ["i3", "i5"]
    assert kept('INCLUDE ItemID WHERE Items.GENRES = "Horror"') == ["i2", "i6"]


def test_values_match_exactly_and_missing_values_never_match_in() -> None:
    assert kept('INCLUDE ItemID WHERE Items.GENRES IN ("drama")') == []
    assert kept('INCLUDE ItemID WHERE Items.GENRES IN ("Comedy|Drama")') == []
    # NOT IN is IN's negation: an item with no genre is not a Horror item, so it stays.
    assert kept('INCLUDE ItemID WHERE Items.GENRES NOT IN ("Horror")') == ["i1", "i3", "i4", "i5"]
    assert kept('INCLUDE ItemID WHERE Items.NOPE IN ("x")') == []


def test_numeric_ranges_and_equality() -> None:
    assert kept("INCLUDE ItemID WHERE Items.PRICE < 10") == ["i1", "i5"]
    assert kept("INCLUDE ItemID WHERE Items.PRICE <= 12.5") == ["i1", "i2", "i5"]
    assert kept("EXCLUDE ItemID WHERE Items.PRICE >= 20") == ["i1", "i2", "i4", "i5"]
    assert kept("INCLUDE ItemID WHERE Items.PRICE > 8 AND Items.PRICE < 30") == ["i2", "i3"]
    assert kept("INCLUDE ItemID WHERE Items.YEAR = 2001") == ["i2", "i3"]
    # != compares numbers; an item with no year has no number to differ (i5)
    assert kept("INCLUDE ItemID WHERE Items.YEAR != 2001") == ["i1", "i4", "i6"]
    assert kept("EXCLUDE ItemID WHERE Items.PRICE != 12.5") == ["i2", "i4"]
    assert kept("INCLUDE ItemID WHERE Items.YEAR != $Y", {"Y": '"1999"'}) == ["i2", "i3", "i4"]
    adult = FilterContext(user={"AGE": 30})
    unless_30 = 'INCLUDE ItemID WHERE Items.STUDIO IN ("A") IF CurrentUser.AGE != 30'
    assert kept(unless_30, context=adult) == CATALOG.item_ids
    assert kept(unless_30, context=FilterContext(user={"AGE": 31})) == ["i1", "i3"]
    assert kept("INCLUDE ItemID WHERE Items.YEAR IN (1999, 2010.0)") == ["i1", "i4", "i6"]
    assert kept('INCLUDE ItemID WHERE Items.YEAR IN ("2010")') == ["i4"]


def test_and_binds_tighter_than_or_and_parentheses_group() -> None:
    loose = (
        'INCLUDE ItemID WHERE Items.STUDIO IN ("A") OR Items.STUDIO IN ("B") AND Items.PRICE < 20'
    )
    assert kept(loose) == ["i1", "i2", "i3"]
    grouped = (
        'INCLUDE ItemID WHERE (Items.STUDIO IN ("A") OR Items.STUDIO IN ("B")) AND Items.PRICE < 20'
    )
    assert kept(grouped) == ["i1", "i2"]


def test_parameters_take_amazons_filter_values() -> None:
    expression = "INCLUDE ItemID WHERE Items.GENRES IN ($GENRE)"
    assert kept(expression, {"GENRE": '"Comedy","Action"'}) == ["i1", "i5", "i6"]
    assert kept(expression, {"GENRE": '"Drama"'}) == ["i1", "i4"]
    assert kept("INCLUDE ItemID WHERE Items.PRICE > $P", {"P": '"10"'}) == ["i2", "i3", "i6"]
    assert kept("INCLUDE ItemID WHERE Items.PRICE > ($P)", {"P": "25"}) == ["i6"]
    assert kept("INCLUDE ItemID WHERE Items.YEAR = $Y", {"Y": '"1999"'}) == ["i1", "i6"]
    assert kept("INCLUDE ItemID WHERE Items.ITEM_ID IN ($ids)", {"ids": '"i3","i9"'}) == ["i3"]


def test_include_needs_every_parameter() -> None:
    with pytest.raises(FilterApplicationError, match=r"missing \$GENRE"):
        kept("INCLUDE ItemID WHERE Items.GENRES IN ($GENRE)")
    with pytest.raises(FilterApplicationError, match="needs one number"):
        kept("INCLUDE ItemID WHERE Items.PRICE > $P", {"P": '"cheap"'})
    with pytest.raises(FilterApplicationError, match="needs one number"):
        kept("INCLUDE ItemID WHERE Items.PRICE > $P", {"P": '"1","2"'})


def test_exclude_leaves_out_a_condition_whose_parameter_has_no_value() -> None:
    assert kept("EXCLUDE ItemID WHERE Items.GENRES IN ($GENRE)") == CATALOG.item_ids
    both = "EXCLUDE ItemID WHERE Items.GENRES IN ($GENRE) AND Items.PRICE > 10"
    assert kept(both) == ["i1", "i4", "i5"]
    assert kept(both, {"GENRE": '"Horror"'}) == ["i1", "i3", "i4", "i5"]


def test_current_user_if_decides_whether_the_expression_applies() -> None:
    expression = (
        'INCLUDE ItemID WHERE Items.STUDIO IN ("A") IF CurrentUser.AGE > 18 AND '
        'CurrentUser.TIER IN ("gold")'
    )
    adult_gold = FilterContext(user={"age": 30, "TIER": "silver|gold"})
    assert kept(expression, context=adult_gold) == ["i1", "i3"]
    assert kept(expression, context=FilterContext(user={"AGE": 12, "TIER": "gold"})) == (
        CATALOG.item_ids
    )
    assert kept(expression, context=FilterContext(user=None)) == CATALOG.item_ids
    by_parameter = "EXCLUDE ItemID WHERE Items.PRICE > 10 IF CurrentUser.TIER = $TIER"
    gold = FilterContext(user={"TIER": "gold"})
    assert kept(by_parameter, {"TIER": '"gold"'}, gold) == ["i1", "i4", "i5"]
    assert kept(by_parameter, {"TIER": '"basic"'}, gold) == CATALOG.item_ids


def test_current_item_compares_with_the_request_item() -> None:
    expression = (
        "INCLUDE ItemID WHERE Items.PRICE < CurrentItem.PRICE AND "
        "Items.GENRES IN CurrentItem.GENRES"
    )
    current = FilterContext(item={"ITEM_ID": "i6", "PRICE": 30, "GENRES": "Horror|Drama"})
    assert kept(expression, context=current) == ["i1", "i2"]
    unknown = FilterContext(item={"ITEM_ID": "new"})
    assert kept(expression, context=unknown) == []
    assert kept(expression, context=FilterContext(user={"AGE": 3})) == []
    excluded = "EXCLUDE ItemID WHERE Items.GENRES IN CurrentItem.GENRES"
    assert kept(excluded, context=current) == ["i3", "i5"]


def test_interactions_filters_use_the_users_events_case_insensitively() -> None:
    history = FilterContext(
        interactions=[
            {"ITEM_ID": "i1", "EVENT_TYPE": "Click", "TIMESTAMP": 10},
            {"ITEM_ID": "i2", "EVENT_TYPE": "purchase", "TIMESTAMP": 11},
            {"ITEM_ID": "i4", "EVENT_TYPE": "click", "TIMESTAMP": 12},
            {"ITEM_ID": "gone", "EVENT_TYPE": "click", "TIMESTAMP": 13},
        ]
    )
    exclude_clicked = 'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("CLICK")'
    assert kept(exclude_clicked, context=history) == ["i2", "i3", "i5", "i6"]
    assert kept('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")', context=history) == [
        "i1",
        "i2",
        "i4",
    ]
    assert kept(exclude_clicked, context=FilterContext()) == CATALOG.item_ids
    assert kept('INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("*")') == []
    by_parameter = "EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ($E)"
    assert kept(by_parameter, {"E": '"purchase"'}, history) == ["i1", "i3", "i4", "i5", "i6"]


ACTIONS = ItemCatalog(
    item_ids=["join", "app", "newsletter"],
    columns={"CATEGORY": ["loyalty", "mobile", "email"], "VALUE": [10, 5, 1]},
)


def test_action_filters_read_actions_and_the_users_action_interactions() -> None:
    """Amazon's own examples (its guide writes one with "Action." for "Actions.")."""
    history = FilterContext(
        user={"MEMBERSHIP": "premium"},
        interactions=[
            {"ITEM_ID": "app", "EVENT_TYPE": "NOT_TAKEN", "TIMESTAMP": 1},
            {"ITEM_ID": "join", "EVENT_TYPE": "TAKEN", "TIMESTAMP": 2},
        ],
    )

    def kept_actions(expression: str, values: dict[str, str] | None = None) -> list[str]:
        mask = compile_filter(expression).action_mask(ACTIONS, history, values or {})
        return [a for a, keep in zip(ACTIONS.item_ids, mask, strict=True) if keep]

    assert kept_actions(
        'EXCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ("NOT_TAKEN")'
    ) == [
        "join",
        "newsletter",
    ]
    assert kept_actions(
        "INCLUDE ActionID WHERE Action_Interactions.EVENT_TYPE IN ($EVENT_TYPE)",
        {"EVENT_TYPE": '"TAKEN"'},
    ) == ["join"]
    assert kept_actions(
        "EXCLUDE ActionID WHERE Actions.CATEGORY IN ($CATEGORY)", {"CATEGORY": '"email","mobile"'}
    ) == ["join"]
    assert kept_actions("INCLUDE ActionID WHERE Actions.VALUE > ($VALUE)", {"VALUE": "4"}) == [
        "join",
        "app",
    ]
    premium = 'INCLUDE ActionID WHERE Action.CATEGORY IN ("loyalty") IF CurrentUser.MEMBERSHIP = $M'
    assert kept_actions(premium, {"M": '"premium"'}) == ["join"]
    assert kept_actions(premium, {"M": '"basic"'}) == ACTIONS.item_ids
    with pytest.raises(FilterApplicationError, match="ActionID filter"):
        compile_filter('INCLUDE ItemID WHERE Items.A IN ("x")').action_mask(ACTIONS)
    with pytest.raises(FilterApplicationError):
        compile_filter('INCLUDE ActionID WHERE Actions.A IN ("x")').item_mask(CATALOG)


def test_only_the_newest_interactions_per_event_type_count() -> None:
    ids = [f"m{n}" for n in range(MAX_INTERACTIONS_PER_EVENT_TYPE + 1)]
    catalog = ItemCatalog(item_ids=ids)
    clicks = [{"ITEM_ID": item, "EVENT_TYPE": "click"} for item in ids]
    result = kept(
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")',
        context=FilterContext(interactions=clicks),
        catalog=catalog,
    )
    assert result == ["m0"]


def test_chained_expressions_include_the_union_and_subtract_the_excludes() -> None:
    context = FilterContext(interactions=[{"ITEM_ID": "i5", "EVENT_TYPE": "favorite"}])
    union = (
        'INCLUDE ItemID WHERE Items.STUDIO IN ("B") | '
        'INCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite")'
    )
    assert kept(union, context=context) == ["i2", "i5", "i6"]
    minus = (
        'INCLUDE ItemID WHERE Items.GENRES IN ("Horror", "Comedy") | '
        "EXCLUDE ItemID WHERE Items.PRICE > 20 | "
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("favorite")'
    )
    assert kept(minus, context=context) == ["i1", "i2"]
    inactive_include = (
        'INCLUDE ItemID WHERE Items.STUDIO IN ("C") IF CurrentUser.AGE > 99 | '
        'EXCLUDE ItemID WHERE Items.STUDIO IN ("A")'
    )
    assert kept(inactive_include) == ["i2", "i4", "i5", "i6"]


def test_user_segments_filter_users() -> None:
    users = UserCatalog(
        user_ids=["u1", "u2", "u3"],
        columns={"TIER": ["gold", "silver|gold", None], "AGE": [20, 40, 33]},
        event_types=[{"Click"}, set(), {"purchase", "click"}],
    )
    compiled = compile_filter('INCLUDE UserID WHERE Users.TIER IN ("gold") AND Users.AGE > 30')
    assert compiled.user_mask(users, FilterContext(), {}).tolist() == [False, True, False]
    buyers = compile_filter('EXCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("click")')
    assert buyers.user_mask(users).tolist() == [False, True, False]
    anyone = compile_filter('INCLUDE UserID WHERE Interactions.EVENT_TYPE IN ("*")')
    assert anyone.user_mask(users).tolist() == [True, False, True]
    with pytest.raises(FilterApplicationError, match="UserID filter"):
        buyers.item_mask(CATALOG)
    with pytest.raises(FilterApplicationError, match="ItemID filter"):
        compile_filter('INCLUDE ItemID WHERE Items.A IN ("x")').user_mask(users)


def test_filter_values_follow_amazons_format() -> None:
    assert parse_filter_values({"G": '"Comedy","Drama"'}) == {"G": ["Comedy", "Drama"]}
    assert parse_filter_values({"G": ' "a, b" , "c\\"d" '}) == {"G": ["a, b", 'c"d']}
    assert parse_filter_values({"N": "18, 21"}) == {"N": ["18", "21"]}
    for bad in ('"open', '"a" "b"', '"a",,"b"', ""):
        with pytest.raises(FilterApplicationError, match="filterValues G"):
            parse_filter_values({"G": bad})


def test_large_catalog_is_filtered_with_vector_operations() -> None:
    size = 100_000
    rng = np.random.default_rng(7)
    genres = np.array(["Comedy", "Drama", "Horror", "Action|Drama", "Comedy|Horror"])
    catalog = ItemCatalog(
        item_ids=[f"item{n}" for n in range(size)],
        columns={
            "GENRES": genres[rng.integers(0, len(genres), size)].tolist(),
            "PRICE": rng.uniform(0, 100, size).tolist(),
        },
    )
    compiled = compile_filter(
        "INCLUDE ItemID WHERE Items.GENRES IN ($G) AND Items.PRICE < 50 | "
        'EXCLUDE ItemID WHERE Interactions.EVENT_TYPE IN ("click")'
    )
    context = FilterContext(
        interactions=[{"ITEM_ID": f"item{n}", "EVENT_TYPE": "click"} for n in range(50)]
    )
    compiled.item_mask(catalog, context, {"G": '"Drama"'})  # builds the indexes once
    started = time.perf_counter()
    for _ in range(20):
        mask = compiled.item_mask(catalog, context, {"G": '"Drama"'})
    per_call = (time.perf_counter() - started) / 20
    expected = np.array(["Drama" in value.split("|") for value in catalog.columns["GENRES"]]) & (
        np.array(catalog.columns["PRICE"]) < 50
    )
    expected[:50] = False
    assert np.array_equal(mask, expected)
    assert per_call < 0.05
