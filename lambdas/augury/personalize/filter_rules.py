"""Amazon's rules for filter expressions, checked on the parsed tree.

The grammar (``augury.personalize.filter_grammar``) accepts more than Amazon
does: one dataset per expression, ``IF`` only for ``CurrentUser``, range
operators only with numbers, no parameters with ``NOT IN``, limits on fields
and parameters... This pass enforces them, each failure a
``FilterExpressionError`` naming the character at fault and why.
``parse_filter`` is the entry point: parse, then check.
"""

from __future__ import annotations

from collections.abc import Sequence

from augury.personalize.filter_grammar import (
    ACTION_ID,
    CURRENT_ITEM,
    CURRENT_USER,
    EXCLUDE,
    HISTORY_DATASETS,
    IN,
    INCLUDE,
    ITEM_ID,
    ITEMS,
    MAX_DISTINCT_FIELDS,
    MAX_EXPRESSION_LENGTH,
    MAX_PARAMETERS,
    NOT_IN,
    NUMBER_OPERATORS,
    USERS,
    WHERE_DATASETS,
    WILDCARD,
    Expression,
    FieldUse,
    FilterExpressionError,
    Parser,
    Test,
    all_tests,
)


class _Checker:
    """The rules the grammar alone doesn't express, with the offsets to blame."""

    def __init__(self, text: str) -> None:
        self.text = text

    def error(self, reason: str, offset: int | None) -> FilterExpressionError:
        return FilterExpressionError(reason, self.text, offset)

    def check(self, expressions: Sequence[Expression]) -> None:
        first = expressions[0]
        for expression in expressions:
            if expression.target != first.target:
                raise self.error(
                    f"all chained expressions must filter the same thing; the first filters "
                    f"{first.target} and this one {expression.target}",
                    expression.offset,
                )
            self.check_expression(expression)
        self.check_counts(expressions)

    def check_expression(self, expression: Expression) -> None:
        tests = list(all_tests(expression.where))
        allowed = WHERE_DATASETS[expression.target]
        for test in tests:
            self.check_where_dataset(test, expression.target, allowed)
        first = tests[0].dataset
        for test in tests[1:]:
            if test.dataset != first:
                raise self.error(
                    f"conditions joined by AND or OR must all use the dataset of the first "
                    f"condition ({first}); to filter on {test.dataset} too, chain a second "
                    "expression with |",
                    test.offset,
                )
        for test in tests:
            self.check_test(test, expression)
        if expression.conditions and expression.target not in (ITEM_ID, ACTION_ID):
            raise self.error(
                "IF CurrentUser conditions apply only to item and action filters "
                "(INCLUDE/EXCLUDE ItemID or ActionID)",
                expression.conditions[0].offset,
            )
        for condition in expression.conditions:
            if condition.dataset != CURRENT_USER:
                raise self.error(
                    f"an IF condition can check only CurrentUser fields, not {condition.dataset}",
                    condition.offset,
                )
            self.check_test(condition, expression)

    def check_where_dataset(self, test: Test, target: str, allowed: tuple[str, ...]) -> None:
        if test.dataset == CURRENT_USER:
            raise self.error(
                "CurrentUser can be used only in an IF condition at the end of the expression",
                test.offset,
            )
        if test.dataset == CURRENT_ITEM:
            raise self.error(
                "CurrentItem goes on the right of a condition, such as "
                "Items.GENRE IN CurrentItem.GENRE",
                test.offset,
            )
        if test.dataset in allowed:
            return
        if target == ITEM_ID and test.dataset == USERS:
            reason = (
                "item filters can't test Users fields in WHERE; check the current user with "
                "IF CurrentUser.<FIELD> ... at the end of the expression"
            )
        else:
            reason = f"{target} filters can test {' or '.join(allowed)} fields, not {test.dataset}"
        raise self.error(reason, test.offset)

    def check_test(self, test: Test, expression: Expression) -> None:
        if test.dataset in HISTORY_DATASETS:
            self.check_interactions(test)
        if test.current_item_field is not None and (
            test.dataset != ITEMS or expression.target != ITEM_ID
        ):
            raise self.error(
                "CurrentItem can be compared only with Items fields in item filters",
                test.operator_offset,
            )
        for value in test.values:
            wild = value.kind == "string" and value.text == WILDCARD
            if wild and test.dataset not in HISTORY_DATASETS:
                raise self.error('"*" can be used only with Interactions.EVENT_TYPE', value.offset)
            if value.kind == "param" and test.operator == NOT_IN:
                raise self.error(
                    f"a parameter (${value.text}) can't be used with NOT IN; use IN with the "
                    f"opposite action ({_opposite(expression.action)} instead of "
                    f"{expression.action})",
                    value.offset,
                )
            if value.kind == "string" and test.operator in NUMBER_OPERATORS:
                raise self.error(
                    f'{test.operator} compares numbers; "{value.text}" is a string '
                    "(write numbers without quotes)",
                    value.offset,
                )

    def check_interactions(self, test: Test) -> None:
        if test.field != "EVENT_TYPE":
            raise self.error(
                f"{test.dataset} filters can use only EVENT_TYPE, not {test.field}", test.offset
            )
        if test.operator != IN:
            hint = "; use the opposite action with IN" if test.operator == NOT_IN else ""
            raise self.error(
                f"{test.dataset}.EVENT_TYPE can be tested only with IN, not {test.operator}" + hint,
                test.operator_offset,
            )
        for value in test.values:
            if value.kind == "number":
                raise self.error(
                    f'event types are strings; write "{value.text}" in double quotes',
                    value.offset,
                )

    def check_counts(self, expressions: Sequence[Expression]) -> None:
        seen: dict[tuple[str, str], int] = {}
        parameters: dict[str, int] = {}
        for expression in expressions:
            for test in expression.tests():
                for use in field_uses(test):
                    seen.setdefault((use.dataset, use.field), use.offset)
                    if len(seen) > MAX_DISTINCT_FIELDS:
                        raise self.error(
                            f"a filter can use at most {MAX_DISTINCT_FIELDS} distinct dataset "
                            f"fields; {use.dataset}.{use.field} is the "
                            f"{len(seen)}th",
                            use.offset,
                        )
                for value in test.values:
                    if value.kind == "param":
                        parameters.setdefault(value.text, value.offset)
                        if len(parameters) > MAX_PARAMETERS:
                            raise self.error(
                                f"a filter can use at most {MAX_PARAMETERS} distinct parameters",
                                value.offset,
                            )


def _opposite(action: str) -> str:
    return EXCLUDE if action == INCLUDE else INCLUDE


def field_uses(test: Test) -> list[FieldUse]:
    dataset = USERS if test.dataset == CURRENT_USER else test.dataset
    uses = [FieldUse(dataset, test.field, test.operator, test.offset)]
    if test.current_item_field is not None:
        uses.append(FieldUse(ITEMS, test.current_item_field, test.operator, test.operator_offset))
    return uses


def parse_filter(expression: str) -> list[Expression]:
    """The checked expressions of a filter; ``FilterExpressionError`` says where and why not."""
    if not isinstance(expression, str) or not expression.strip():
        raise FilterExpressionError("the expression is empty")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise FilterExpressionError(
            f"the expression has {len(expression)} characters; the limit is {MAX_EXPRESSION_LENGTH}"
        )
    expressions = Parser(expression).parse()
    _Checker(expression).check(expressions)
    return expressions
