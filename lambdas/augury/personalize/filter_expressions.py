"""Amazon Personalize filter expressions: parsed once, checked, then applied to catalogs.

A filter is one or more expressions chained with ``|``. The grammar (keywords,
dataset names and field names are case-insensitive; values are not)::

    filter      := expression ("|" expression)*
    expression  := ("INCLUDE" | "EXCLUDE") ("ItemID" | "UserID") "WHERE" disjunction
                   ["IF" user_test ("AND" user_test)*]
    disjunction := conjunction ("OR" conjunction)*
    conjunction := term ("AND" term)*
    term        := "(" disjunction ")" | test
    test        := DATASET "." FIELD operator operand
    user_test   := "CurrentUser" "." FIELD operator operand
    operator    := "IN" | "NOT" "IN" | "=" | "<" | "<=" | ">" | ">="
    operand     := "(" value ("," value)* ")" | value | "CurrentItem" "." FIELD
    value       := STRING | NUMBER | "$" NAME

The tokenizer and a recursive-descent parser build a small tree; a checking
pass then applies Amazon's rules (one dataset per expression, ``IF`` only for
``CurrentUser``, range operators only with numbers, no parameters with
``NOT IN``...). Every failure is a ``FilterExpressionError`` that names the
character where the problem is and why, so CreateFilter can hand it straight
back to the user. Rules that need the dataset group's schemas (does the field
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

MAX_EXPRESSION_LENGTH = 2500
"""CreateFilter's ``filterExpression`` length limit."""
MAX_DISTINCT_FIELDS = 5
"""Amazon: at most 5 distinct dataset fields in one filter, across chained expressions."""
MAX_PARAMETERS = 10
"""Distinct placeholder parameters one filter may use."""
MAX_PARAMETER_NAME = 50
"""GetRecommendations' filterValues keys are at most 50 characters of ``[A-Za-z0-9_]``."""
MAX_NESTING = 20
"""How deep parentheses may nest; keeps the recursive parser far from Python's limit."""
MAX_INTERACTIONS_PER_EVENT_TYPE = 100
"""Amazon considers up to 100 of a user's most recent interactions per event type."""

INCLUDE, EXCLUDE = "INCLUDE", "EXCLUDE"
ITEM_ID, USER_ID = "ItemID", "UserID"
ITEMS, USERS, INTERACTIONS = "Items", "Users", "Interactions"
CURRENT_USER, CURRENT_ITEM = "CurrentUser", "CurrentItem"
IN, NOT_IN = "IN", "NOT IN"
RANGE_OPERATORS = frozenset({"<", "<=", ">", ">="})
WILDCARD = "*"

_TARGETS = {"ITEMID": ITEM_ID, "USERID": USER_ID}
_DATASETS = {
    "ITEMS": ITEMS,
    "USERS": USERS,
    "INTERACTIONS": INTERACTIONS,
    "CURRENTUSER": CURRENT_USER,
    "CURRENTITEM": CURRENT_ITEM,
}
_UNSUPPORTED_DATASETS = {"ACTIONS", "ACTION_INTERACTIONS", "ACTION", "ACTIONID"}
_KEYWORDS = frozenset({"INCLUDE", "EXCLUDE", "WHERE", "AND", "OR", "IF", "IN", "NOT"})
_WHERE_DATASETS = {ITEM_ID: (ITEMS, INTERACTIONS), USER_ID: (USERS, INTERACTIONS)}


class FilterExpressionError(ValueError):
    """An expression Amazon would refuse; ``offset`` is the 0-based character at fault."""

    def __init__(self, reason: str, expression: str = "", offset: int | None = None) -> None:
        self.reason = reason
        self.offset = offset
        if offset is None:
            message = f"Invalid filter expression: {reason}"
        else:
            near = expression[offset : offset + 24].strip()
            where = f"at character {offset + 1}"
            where += f', near "{near}"' if near else " (its end)"
            message = f"Invalid filter expression {where}: {reason}"
        super().__init__(message)


class FilterApplicationError(ValueError):
    """A filter that can't be applied to this request (missing or bad filterValues, say).

    Serving turns it into InvalidInputException: the request is at fault, not the filter.
    """


# --- tokens ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """One lexeme. ``text`` is a word as written, a string's decoded value, or a name."""

    kind: str
    """word, string, number, param, op, (, ), ",", ".", |, end."""
    text: str
    offset: int


def _word_char(char: str) -> bool:
    return char.isascii() and (char.isalnum() or char == "_")


class _Lexer:
    """Turns the expression into tokens, reporting the first character it can't read."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, reason: str, offset: int) -> FilterExpressionError:
        return FilterExpressionError(reason, self.text, offset)

    def tokens(self) -> list[Token]:
        found: list[Token] = []
        while True:
            token = self._next()
            found.append(token)
            if token.kind == "end":
                return found

    def _next(self) -> Token:
        text = self.text
        while self.pos < len(text) and text[self.pos].isspace():
            self.pos += 1
        start = self.pos
        if start >= len(text):
            return Token("end", "", start)
        char = text[start]
        if char == '"':
            return self._string(start)
        if char == "$":
            return self._parameter(start)
        if char.isdigit() or (char in "+-." and self._number_follows(start + 1)):
            return self._number(start)
        if _word_char(char):
            while self.pos < len(text) and _word_char(text[self.pos]):
                self.pos += 1
            return Token("word", text[start : self.pos], start)
        return self._punctuation(char, start)

    def _number_follows(self, at: int) -> bool:
        text = self.text
        if at < len(text) and text[at] == "." and text[at - 1] in "+-":
            at += 1
        return at < len(text) and text[at].isdigit()

    def _string(self, start: int) -> Token:
        text, pos, chars = self.text, start + 1, []
        while pos < len(text):
            char = text[pos]
            if char == "\\" and pos + 1 < len(text) and text[pos + 1] in '"\\':
                chars.append(text[pos + 1])
                pos += 2
                continue
            if char == '"':
                self.pos = pos + 1
                return Token("string", "".join(chars), start)
            chars.append(char)
            pos += 1
        raise self.error("this string has no closing double quote", start)

    def _parameter(self, start: int) -> Token:
        pos = start + 1
        while pos < len(self.text) and _word_char(self.text[pos]):
            pos += 1
        name = self.text[start + 1 : pos]
        if not name:
            raise self.error(
                "a $ must be followed by a parameter name of letters, digits and underscores, "
                "such as $GENRE",
                start,
            )
        if len(name) > MAX_PARAMETER_NAME:
            raise self.error(
                f"parameter names can be at most {MAX_PARAMETER_NAME} characters; "
                f"${name[:20]}... has {len(name)}",
                start,
            )
        self.pos = pos
        return Token("param", name, start)

    def _number(self, start: int) -> Token:
        text, pos = self.text, start
        if text[pos] in "+-":
            pos += 1
        while pos < len(text) and text[pos].isdigit():
            pos += 1
        if pos < len(text) and text[pos] == ".":
            pos += 1
            while pos < len(text) and text[pos].isdigit():
                pos += 1
        if pos < len(text) and text[pos] in "eE":
            exponent = pos + 1
            if exponent < len(text) and text[exponent] in "+-":
                exponent += 1
            if exponent < len(text) and text[exponent].isdigit():
                pos = exponent
                while pos < len(text) and text[pos].isdigit():
                    pos += 1
        if pos < len(text) and (_word_char(text[pos]) or text[pos] == "."):
            raise self.error(
                f"{text[start : pos + 1]!r} is not a number; put string values in double quotes",
                start,
            )
        self.pos = pos
        return Token("number", text[start:pos], start)

    def _punctuation(self, char: str, start: int) -> Token:
        text = self.text
        two = text[start : start + 2]
        if two in ("<=", ">="):
            self.pos = start + 2
            return Token("op", two, start)
        if two in ("!=", "<>"):
            raise self.error(
                f"{two} is not an operator in filter expressions; use NOT IN (...) instead", start
            )
        if two == "==":
            raise self.error("use a single = to test equality", start)
        if char in "<>=":
            self.pos = start + 1
            return Token("op", char, start)
        if char in "(),.|":
            self.pos = start + 1
            return Token(char, char, start)
        if char in "'\u2018\u2019\u201c\u201d":
            raise self.error(
                'values go in straight double quotes, such as ("Comedy", "Drama")', start
            )
        if char in "&!":
            raise self.error("use the words AND, OR and NOT IN to combine conditions", start)
        raise self.error(f"unexpected character {char!r}", start)


# --- the tree ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """A literal or a placeholder parameter in an operand."""

    kind: str
    """string, number or param."""
    text: str
    """The decoded string, the number as written, or the parameter's name."""
    offset: int


@dataclass(frozen=True)
class Test:
    """``<dataset>.<FIELD> <operator> <operand>``: one condition."""

    dataset: str
    field: str
    """Upper-cased: Amazon matches field names without regard to case."""
    operator: str
    values: tuple[Value, ...]
    current_item_field: str | None
    """Set when the operand is ``CurrentItem.<FIELD>`` instead of values."""
    offset: int
    operator_offset: int

    @property
    def parameters(self) -> list[str]:
        return [value.text for value in self.values if value.kind == "param"]


@dataclass(frozen=True)
class AllOf:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Node, ...]


Node = Test | AllOf | AnyOf


def _tests(node: Node) -> Iterable[Test]:
    if isinstance(node, Test):
        yield node
    else:
        for part in node.parts:
            yield from _tests(part)


@dataclass(frozen=True)
class Expression:
    """One INCLUDE/EXCLUDE expression of a filter."""

    action: str
    target: str
    where: Node
    conditions: tuple[Test, ...]
    """The ``IF CurrentUser...`` tests, all of which must hold for the expression to apply."""
    offset: int

    def tests(self) -> list[Test]:
        return [*_tests(self.where), *self.conditions]

    @property
    def parameters(self) -> list[str]:
        return list(dict.fromkeys(name for test in self.tests() for name in test.parameters))


@dataclass(frozen=True)
class FieldUse:
    """A dataset field an expression reads, for checks against the group's schemas."""

    dataset: str
    """Items, Users or Interactions (CurrentUser reads Users, CurrentItem reads Items)."""
    field: str
    operator: str
    offset: int

    @property
    def needs_number(self) -> bool:
        return self.operator in RANGE_OPERATORS


# --- parsing -----------------------------------------------------------------------------


class _Parser:
    """Recursive descent over the tokens; one method per grammar rule."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _Lexer(text).tokens()
        self.pos = 0
        self.depth = 0

    def error(self, reason: str, offset: int | None) -> FilterExpressionError:
        return FilterExpressionError(reason, self.text, offset)

    def peek(self, ahead: int = 0) -> Token:
        return self.tokens[min(self.pos + ahead, len(self.tokens) - 1)]

    def advance(self) -> Token:
        token = self.peek()
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "word" and token.text.upper() in words

    def expect(self, kind: str, what: str) -> Token:
        token = self.peek()
        if token.kind != kind:
            raise self.error(f"expected {what}, found {_describe(token)}", token.offset)
        return self.advance()

    def expect_word(self, word: str, why: str) -> Token:
        if not self.at_word(word):
            token = self.peek()
            raise self.error(f"expected {word} {why}, found {_describe(token)}", token.offset)
        return self.advance()

    # filter := expression ("|" expression)*
    def parse(self) -> list[Expression]:
        expressions = [self.expression()]
        while self.peek().kind == "|":
            self.advance()
            if self.peek().kind in ("end", "|"):
                raise self.error(
                    "expected an expression after |, such as INCLUDE ItemID WHERE ...",
                    self.peek().offset,
                )
            expressions.append(self.expression())
        token = self.peek()
        if token.kind != "end":
            raise self.error(_trailing_reason(token), token.offset)
        return expressions

    def expression(self) -> Expression:
        start = self.peek()
        if not self.at_word(INCLUDE, EXCLUDE):
            raise self.error(
                f"an expression starts with INCLUDE or EXCLUDE, found {_describe(start)}",
                start.offset,
            )
        action = self.advance().text.upper()
        target_token = self.peek()
        target = _TARGETS.get(target_token.text.upper()) if target_token.kind == "word" else None
        if target is None:
            hint = (
                "; Augury supports item and user filters, not action filters"
                if target_token.text.upper() == "ACTIONID"
                else ""
            )
            raise self.error(
                f"expected ItemID or UserID after {action}, found {_describe(target_token)}" + hint,
                target_token.offset,
            )
        self.advance()
        self.expect_word("WHERE", f"after {action} {target}")
        where = self.disjunction()
        conditions: list[Test] = []
        if self.at_word("IF"):
            self.advance()
            conditions.append(self.test())
            while self.at_word("AND", "OR"):
                joint = self.advance()
                if joint.text.upper() == "OR":
                    raise self.error(
                        "an IF condition can be extended with AND only, not OR", joint.offset
                    )
                conditions.append(self.test())
            if self.at_word("IF"):
                raise self.error(
                    "an expression can have only one IF; extend it with AND",
                    self.peek().offset,
                )
        return Expression(action, target, where, tuple(conditions), start.offset)

    # disjunction := conjunction ("OR" conjunction)*
    def disjunction(self) -> Node:
        parts = [self.conjunction()]
        while self.at_word("OR"):
            self.advance()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))

    # conjunction := term ("AND" term)*
    def conjunction(self) -> Node:
        parts = [self.term()]
        while self.at_word("AND"):
            self.advance()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else AllOf(tuple(parts))

    # term := "(" disjunction ")" | test
    def term(self) -> Node:
        token = self.peek()
        if token.kind != "(":
            return self.test()
        if self.depth >= MAX_NESTING:
            raise self.error(
                f"parentheses can nest at most {MAX_NESTING} levels deep", token.offset
            )
        self.advance()
        self.depth += 1
        node = self.disjunction()
        self.depth -= 1
        self.expect(")", "a closing parenthesis")
        return node

    # test := DATASET "." FIELD operator operand
    def test(self) -> Test:
        start = self.peek()
        dataset, field_name = self.field_reference()
        operator_token = self.peek()
        operator = self.operator()
        values, item_field = self.operand(operator, operator_token)
        return Test(
            dataset,
            field_name,
            operator,
            values,
            item_field,
            start.offset,
            operator_token.offset,
        )

    def field_reference(self) -> tuple[str, str]:
        token = self.peek()
        if token.kind != "word" or token.text.upper() in _KEYWORDS:
            raise self.error(
                f"expected a condition such as Items.GENRE IN (...), found {_describe(token)}",
                token.offset,
            )
        self.advance()
        dataset = _DATASETS.get(token.text.upper())
        if dataset is None:
            if token.text.upper() in _UNSUPPORTED_DATASETS:
                reason = f"{token.text}: Augury supports item and user filters, not action filters"
            else:
                reason = (
                    f"unknown dataset {token.text!r}; use Items, Users, Interactions, "
                    "CurrentUser or CurrentItem followed by .FIELD"
                )
            raise self.error(reason, token.offset)
        if self.peek().kind != ".":
            raise self.error(
                f"expected .FIELD after {dataset}, such as {dataset}.GENRE", self.peek().offset
            )
        self.advance()
        name = self.peek()
        if name.kind != "word":
            raise self.error(f"expected a field name after {dataset}.", name.offset)
        self.advance()
        return dataset, name.text.upper()

    # operator := "IN" | "NOT" "IN" | "=" | "<" | "<=" | ">" | ">="
    def operator(self) -> str:
        token = self.peek()
        if token.kind == "op":
            self.advance()
            return token.text
        if self.at_word("IN"):
            self.advance()
            return IN
        if self.at_word("NOT"):
            self.advance()
            if not self.at_word("IN"):
                raise self.error("NOT must be followed by IN", self.peek().offset)
            self.advance()
            return NOT_IN
        raise self.error(
            f"expected an operator (IN, NOT IN, =, <, <=, >, >=), found {_describe(token)}",
            token.offset,
        )

    # operand := "(" value ("," value)* ")" | value | "CurrentItem" "." FIELD
    def operand(self, operator: str, operator_token: Token) -> tuple[tuple[Value, ...], str | None]:
        token = self.peek()
        if self.at_word("CURRENTITEM"):
            _, item_field = self.field_reference()
            return (), item_field
        if token.kind == "(":
            values = self.value_list()
            if operator not in (IN, NOT_IN) and len(values) != 1:
                raise self.error(
                    f"{operator} compares with one value; use IN to match any of several",
                    values[1].offset if len(values) > 1 else token.offset,
                )
            return values, None
        if operator in (IN, NOT_IN) and token.kind != "param":
            raise self.error(
                f'{operator} takes a list of values in parentheses, such as ("a", "b")',
                token.offset,
            )
        return (self.value(),), None

    def value_list(self) -> tuple[Value, ...]:
        opening = self.advance()
        if self.peek().kind == ")":
            raise self.error("the list of values is empty", opening.offset)
        values = [self.value()]
        while self.peek().kind == ",":
            self.advance()
            values.append(self.value())
        closing = self.peek()
        if closing.kind != ")":
            raise self.error(
                f"expected , or ) in the list of values, found {_describe(closing)}",
                closing.offset,
            )
        self.advance()
        return tuple(values)

    def value(self) -> Value:
        token = self.peek()
        if token.kind in ("string", "number", "param"):
            self.advance()
            return Value(token.kind, token.text, token.offset)
        if token.kind == "word":
            reason = (
                f"{token.text} is not a value; put string values in double quotes, "
                f'such as "{token.text}", or use a $PARAMETER'
            )
        else:
            reason = (
                f'expected a value ("text", a number or a $PARAMETER), found {_describe(token)}'
            )
        raise self.error(reason, token.offset)


def _describe(token: Token) -> str:
    if token.kind == "end":
        return "the end of the expression"
    if token.kind == "string":
        return f'the string "{token.text}"'
    if token.kind == "param":
        return f"${token.text}"
    return repr(token.text)


def _trailing_reason(token: Token) -> str:
    if token.kind == "word" and token.text.upper() in (INCLUDE, EXCLUDE):
        return "chain expressions with | between them"
    if token.kind == ")":
        return "this ) has no matching ("
    if token.kind == "word" and token.text.upper() == "IF":
        return "IF can come only once, at the end of an expression"
    return f"unexpected {_describe(token)}; join conditions with AND or OR"


# --- Amazon's rules ----------------------------------------------------------------------


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
        tests = list(_tests(expression.where))
        allowed = _WHERE_DATASETS[expression.target]
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
        if expression.conditions and expression.target != ITEM_ID:
            raise self.error(
                "IF CurrentUser conditions apply only to item filters (INCLUDE/EXCLUDE ItemID)",
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
        if test.dataset == INTERACTIONS:
            self.check_interactions(test)
        if test.current_item_field is not None and (
            test.dataset != ITEMS or expression.target != ITEM_ID
        ):
            raise self.error(
                "CurrentItem can be compared only with Items fields in item filters",
                test.operator_offset,
            )
        for value in test.values:
            if value.kind == "string" and value.text == WILDCARD and test.dataset != INTERACTIONS:
                raise self.error('"*" can be used only with Interactions.EVENT_TYPE', value.offset)
            if value.kind == "param" and test.operator == NOT_IN:
                raise self.error(
                    f"a parameter (${value.text}) can't be used with NOT IN; use IN with the "
                    f"opposite action ({_opposite(expression.action)} instead of "
                    f"{expression.action})",
                    value.offset,
                )
            if value.kind == "string" and test.operator in RANGE_OPERATORS:
                raise self.error(
                    f'{test.operator} compares numbers; "{value.text}" is a string '
                    "(write numbers without quotes)",
                    value.offset,
                )

    def check_interactions(self, test: Test) -> None:
        if test.field != "EVENT_TYPE":
            raise self.error(
                f"Interactions filters can use only EVENT_TYPE, not {test.field}", test.offset
            )
        if test.operator != IN:
            hint = "; use the opposite action with IN" if test.operator == NOT_IN else ""
            raise self.error(
                f"Interactions.EVENT_TYPE can be tested only with IN, not {test.operator}" + hint,
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
                for use in _uses(test):
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


def _uses(test: Test) -> list[FieldUse]:
    dataset = USERS if test.dataset == CURRENT_USER else test.dataset
    uses = [FieldUse(dataset, test.field, test.operator, test.offset)]
    if test.current_item_field is not None:
        uses.append(FieldUse(ITEMS, test.current_item_field, test.operator, test.operator_offset))
    return uses


# --- compiling ---------------------------------------------------------------------------


def compile_filter(expression: str) -> CompiledFilter:
    """Parse and check ``expression``; ``FilterExpressionError`` says where and why not."""
    if not isinstance(expression, str) or not expression.strip():
        raise FilterExpressionError("the expression is empty")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise FilterExpressionError(
            f"the expression has {len(expression)} characters; the limit is {MAX_EXPRESSION_LENGTH}"
        )
    expressions = _Parser(expression).parse()
    _Checker(expression).check(expressions)
    tests = [test for item in expressions for test in item.tests()]
    uses = tuple(use for test in tests for use in _uses(test))
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
    """``ItemID`` or ``UserID``."""
    parameters: list[str]
    """Placeholder names, in order of first appearance, without the ``$``."""
    dataset_types: set[str]
    """The datasets the filter reads: Items, Users, Interactions."""
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
        if test.dataset == INTERACTIONS:
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
        if test.operator not in RANGE_OPERATORS:
            return texts, float("nan")
        if len(texts) != 1 or _number(texts[0]) is None:
            name = next((value.text for value in test.values if value.kind == "param"), "")
            raise FilterApplicationError(
                f"{test.dataset}.{test.field} {test.operator} needs one number; filterValues "
                f"${name} gave {texts!r}"
            )
        return texts, float(_number(texts[0]) or 0.0)

    def compare(self, test: Test, keys: list[str], number: float) -> np.ndarray:
        if test.operator in RANGE_OPERATORS:
            column = self.table.numbers(test.field)
            with np.errstate(invalid="ignore"):
                return _RANGE[test.operator](column, number)
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
        if test.operator in RANGE_OPERATORS:
            _, number = self.operand(test, texts)
            value = _value_number(stored)
            return bool(value == value and _RANGE[test.operator](np.float64(value), number))
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


_RANGE = {
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
