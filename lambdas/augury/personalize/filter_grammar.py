"""Amazon Personalize's filter expression grammar: tokens, a parser and Amazon's rules.

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
    operator    := "IN" | "NOT" "IN" | "=" | "!=" | "<" | "<=" | ">" | ">="
    operand     := "(" value ("," value)* ")" | value | "CurrentItem" "." FIELD
    value       := STRING | NUMBER | "$" NAME

The tokenizer and a recursive-descent parser build a small tree; a checking
pass then applies Amazon's rules (one dataset per expression, ``IF`` only for
``CurrentUser``, ``!=`` and the range operators only with numbers, no parameters with
``NOT IN``...). Every failure is a ``FilterExpressionError`` that names the
character where the problem is and why, so CreateFilter can hand it straight
back to the user. Amazon's rules are checked by ``augury.personalize.filter_rules``;
applying a checked filter is ``augury.personalize.filter_expressions``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MAX_EXPRESSION_LENGTH = 2500
"""CreateFilter's ``filterExpression`` length limit."""
MAX_DISTINCT_FIELDS = 10
"""Amazon: at most 10 distinct dataset fields in one filter, across chained expressions
("Maximum number of distinct dataset fields for a filter", Amazon Personalize's quotas;
the guide said 5 before)."""
MAX_PARAMETERS = 10
"""Distinct placeholder parameters one filter may use."""
MAX_PARAMETER_NAME = 50
"""GetRecommendations' filterValues keys are at most 50 characters of ``[A-Za-z0-9_]``."""
MAX_NESTING = 20
"""How deep parentheses may nest; keeps the recursive parser far from Python's limit."""
MAX_INTERACTIONS_PER_EVENT_TYPE = 100
"""Amazon considers up to 100 of a user's most recent interactions per event type."""

INCLUDE, EXCLUDE = "INCLUDE", "EXCLUDE"
ITEM_ID, USER_ID, ACTION_ID = "ItemID", "UserID", "ActionID"
ITEMS, USERS, INTERACTIONS = "Items", "Users", "Interactions"
ACTIONS, ACTION_INTERACTIONS = "Actions", "Action_Interactions"
HISTORY_DATASETS = frozenset({INTERACTIONS, ACTION_INTERACTIONS})
"""The datasets a filter reads the current user's history from (EVENT_TYPE only)."""
CURRENT_USER, CURRENT_ITEM = "CurrentUser", "CurrentItem"
IN, NOT_IN = "IN", "NOT IN"
NUMBER_OPERATORS = frozenset({"!=", "<", "<=", ">", ">="})
"""The operators that compare numbers only. Amazon: "Use =, <, <=, >, >=, and != operators
to test numerical data"; ``=`` also matches a string, as ``IN`` with one value does."""
WILDCARD = "*"

_TARGETS = {"ITEMID": ITEM_ID, "USERID": USER_ID, "ACTIONID": ACTION_ID}
_DATASETS = {
    "ITEMS": ITEMS,
    "USERS": USERS,
    "INTERACTIONS": INTERACTIONS,
    "ACTIONS": ACTIONS,
    "ACTION": ACTIONS,  # as one of Amazon's own examples writes it
    "ACTION_INTERACTIONS": ACTION_INTERACTIONS,
    "CURRENTUSER": CURRENT_USER,
    "CURRENTITEM": CURRENT_ITEM,
}
_KEYWORDS = frozenset({"INCLUDE", "EXCLUDE", "WHERE", "AND", "OR", "IF", "IN", "NOT"})
WHERE_DATASETS = {
    ITEM_ID: (ITEMS, INTERACTIONS),
    USER_ID: (USERS, INTERACTIONS),
    ACTION_ID: (ACTIONS, ACTION_INTERACTIONS),
}


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
        if two in ("<=", ">=", "!="):
            self.pos = start + 2
            return Token("op", two, start)
        if two == "<>":
            raise self.error(
                "<> is not an operator in filter expressions; use != to compare numbers or "
                "NOT IN (...) for strings",
                start,
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


def all_tests(node: Node) -> Iterable[Test]:
    if isinstance(node, Test):
        yield node
    else:
        for part in node.parts:
            yield from all_tests(part)


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
        return [*all_tests(self.where), *self.conditions]

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
        return self.operator in NUMBER_OPERATORS


# --- parsing -----------------------------------------------------------------------------


class Parser:
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
            raise self.error(
                f"expected ItemID, UserID or ActionID after {action}, found "
                f"{_describe(target_token)}",
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
            raise self.error(
                f"unknown dataset {token.text!r}; use Items, Users, Interactions, Actions, "
                "Action_Interactions, CurrentUser or CurrentItem followed by .FIELD",
                token.offset,
            )
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

    # operator := "IN" | "NOT" "IN" | "=" | "!=" | "<" | "<=" | ">" | ">="
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
            f"expected an operator (IN, NOT IN, =, !=, <, <=, >, >=), found {_describe(token)}",
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
