#!/usr/bin/env python3
"""Validate the AWS requests eksmgr sent against botocore's service models.

    python scripts/check_requests.py LOG [--template-out DIR] [--require-template]
    python scripts/check_requests.py --self-test

LOG is a request log written by the emulator when ``EKSMGR_EMULATOR_REQUEST_LOG`` is set
(``scripts/emulator/request_log.py``: one JSON object per request).  Run it with the
emulator's virtualenv Python: it uses that venv's botocore (which comes with moto) and
cfn-lint (installed by ``scripts/setup-emulator.sh``).

For each request sent by the AWS SDK for Rust (``aws-sdk-rust`` in its User-Agent; the
seed script's boto3 calls and moto's ``/moto-api/`` calls are skipped), it

* finds the service from the SigV4 credential scope (the signing name, mapped to
  botocore's service name where they differ) and loads botocore's model of it;
* finds the operation: ``X-Amz-Target`` (json), the ``Action`` parameter (query: IAM, STS,
  CloudFormation; ec2: EC2), the HTTP method and ``requestUri`` template (rest-json: EKS;
  rest-xml: S3);
* rebuilds the operation's input from the wire format (query: ``Name.member.N``,
  ``Name.entry.N.key`` ...; ec2: the same form, but every list flattened, ``Name.N``, and
  a member's wire name its ``queryName``, else its ``locationName`` capitalized, else its
  name capitalized, e.g. ``TagSpecification.1.Tag.1.Key``; rest: URI labels, query string,
  headers and the JSON or XML body or payload; json: the body), blobs base64-decoded,
  timestamps parsed;
* validates it against the model: required and unknown members, types (with botocore's
  own ``ParamValidator``: required, unknown, types, minimum lengths and values) and what
  that validator does not check: maximum lengths (strings, blobs, lists, maps), minimum
  map sizes, maximum values, enums and patterns.

Patterns are Java regular expressions; they are translated to Python's (``\\p{L}``,
Java's ASCII ``\\w``/``\\d``/``\\s``, Java's ``.``, ...) and matched against the whole value,
as AWS services (Java's ``String.matches``) do.  A pattern this script cannot translate is
a checker problem, reported, and fails the run: it is never skipped silently.

The CloudFormation templates sent as a StackSet's ``TemplateBody`` (CreateStackSet,
UpdateStackSet) are written to DIR (a temporary directory by default) and linted with
cfn-lint; any cfn-lint error or warning fails the run.

Output: one line per violation, ``Service.Operation: member path: what is wrong (value)``,
then a summary per operation.  Exit status 1 on any violation, any request from the SDK
for Rust whose operation cannot be identified, any checker problem, any cfn-lint finding,
or a log holding no request from eksmgr at all (a check of nothing must not pass).

``--self-test`` runs the checker on made-up requests (valid ones for each protocol and
invalid ones) and ends with ``N passed, N failed``.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime as dt
import email.utils
import hashlib
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import unicodedata
import warnings
import xml.etree.ElementTree as ElementTree
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable
from urllib.parse import parse_qsl, unquote

import botocore.session
from botocore.exceptions import UnknownServiceError
from botocore.model import OperationModel, ServiceModel, Shape
from botocore.validate import ParamValidator

SDK_FOR_RUST = "aws-sdk-rust"

# SigV4 signing names whose botocore service name differs (checked before the slow scan
# of every model's signingName/endpointPrefix).
SIGNING_NAME_ALIASES = {
    "monitoring": ["cloudwatch"],
    "email": ["ses", "sesv2"],
    "states": ["stepfunctions"],
    "execute-api": ["apigateway"],
    "elasticmapreduce": ["emr"],
    "elasticloadbalancing": ["elbv2", "elb"],
    "es": ["opensearch", "es"],
}

# cfn-lint rules ignored on the StackSet template, with the reason.  None for now: every
# error and warning fails the check.
CFN_LINT_IGNORED_RULES: dict[str, str] = {}

TEMPLATE_OPERATIONS = {("CloudFormation", "CreateStackSet"), ("CloudFormation", "UpdateStackSet")}


class CheckerProblem(Exception):
    """Something this script cannot do (not a fault of the request)."""


# --------------------------------------------------------------------------------------
# Java regular expressions -> Python
# --------------------------------------------------------------------------------------

_JAVA_LINE_TERMINATORS = "\\n\\r\\u0085\\u2028\\u2029"
# Java's POSIX classes (US-ASCII only, as without UNICODE_CHARACTER_CLASS).
_POSIX_CLASSES = {
    "Lower": "a-z",
    "Upper": "A-Z",
    "ASCII": "\\x00-\\x7F",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Alnum": "a-zA-Z0-9",
    "Punct": "!-/:-@\\[-`{-~",
    "Graph": "!-~",
    "Print": " -~",
    "Blank": " \\t",
    "Cntrl": "\\x00-\\x1F\\x7F",
    "XDigit": "0-9a-fA-F",
    "Space": " \\t\\n\\x0B\\f\\r",
}
_CATEGORY_RUNS: list[tuple[int, int, str]] = []  # (first, last, general category)
_CATEGORY_RANGES: dict[str, list[tuple[int, int]]] = {}


def _ranges_of(categories: str) -> list[tuple[int, int]]:
    """Code point ranges of the Unicode general categories named (e.g. "L", "Lu", "Nd")."""
    if not _CATEGORY_RUNS:
        start, current = 0, unicodedata.category("\x00")
        for cp in range(1, 0x110000):
            category = unicodedata.category(chr(cp))
            if category != current:
                _CATEGORY_RUNS.append((start, cp - 1, current))
                start, current = cp, category
        _CATEGORY_RUNS.append((start, 0x10FFFF, current))
    if categories not in _CATEGORY_RANGES:
        ranges: list[tuple[int, int]] = []
        for lo, hi, category in _CATEGORY_RUNS:
            if category.startswith(categories):
                if ranges and ranges[-1][1] == lo - 1:
                    ranges[-1] = (ranges[-1][0], hi)
                else:
                    ranges.append((lo, hi))
        _CATEGORY_RANGES[categories] = ranges
    return _CATEGORY_RANGES[categories]


def _complement(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out, next_cp = [], 0
    for lo, hi in ranges:
        if lo > next_cp:
            out.append((next_cp, lo - 1))
        next_cp = hi + 1
    if next_cp <= 0x10FFFF:
        out.append((next_cp, 0x10FFFF))
    return out


def _cp(cp: int) -> str:
    return f"\\u{cp:04X}" if cp <= 0xFFFF else f"\\U{cp:08X}"


def _class_body(ranges: list[tuple[int, int]]) -> str:
    return "".join(_cp(lo) if lo == hi else f"{_cp(lo)}-{_cp(hi)}" for lo, hi in ranges)


def _property_class(name: str, negated: bool, pattern: str) -> str:
    """The body of a character class for Java's \\p{name} (\\P{name} when negated)."""
    bare = name
    for prefix in ("Is", "gc=", "general_category=", "GeneralCategory="):
        if bare.startswith(prefix) and len(bare) > len(prefix):
            bare = bare[len(prefix):]
            break
    if re.fullmatch(r"(?:[LMNPSZC]|L[ultmo]|M[nce]|N[dlo]|P[cdseifo]|S[mcko]|Z[slp]|C[cfson])", bare):
        ranges = _ranges_of(bare)
    elif name in _POSIX_CLASSES and not negated:
        return _POSIX_CLASSES[name]
    elif name in _POSIX_CLASSES:
        ascii_class = re.compile(f"[{_POSIX_CLASSES[name]}]")
        ranges = [(cp, cp) for cp in range(0x80) if ascii_class.fullmatch(chr(cp))]
    else:
        raise CheckerProblem(f"pattern {pattern!r}: Java property \\p{{{name}}} is not supported by this checker")
    if negated:
        ranges = _complement(ranges)
    return _class_body(ranges)


def java_regex_to_python(pattern: str) -> str:
    """Translate a Java regular expression (as in AWS service models) to Python's ``re``.

    Java differences handled: \\p{..}/\\P{..} (Unicode general categories and the POSIX
    classes), ``.`` (no Java line terminator), \\v and \\h (classes in Java), \\z, \\Z, \\Q..\\E,
    \\e, named groups, and ``\\u10000``-``\\u10FFFF`` inside a class, which the models use for the
    supplementary code points (the XML 1.0 ``Char`` production).  \\w, \\d, \\s and \\b are
    ASCII in Java: compile the result with ``re.ASCII``.  Unsupported constructs (nested or
    intersected classes, \\G, \\R, \\X, ...) raise CheckerProblem.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    class_start = 0
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise CheckerProblem(f"pattern {pattern!r}: ends with a lone backslash")
            e = pattern[i + 1]
            if e in "pP":
                if i + 2 < n and pattern[i + 2] == "{":
                    end = pattern.find("}", i + 3)
                    if end < 0:
                        raise CheckerProblem(f"pattern {pattern!r}: unterminated \\{e}{{")
                    name, i = pattern[i + 3:end], end + 1
                else:
                    name, i = pattern[i + 2:i + 3], i + 3
                body = _property_class(name, e == "P", pattern)
                out.append(body if in_class else f"[{body}]")
                continue
            if e == "u":
                hexdigits = re.match(r"[0-9A-Fa-f]{4,6}", pattern[i + 2:i + 8])
                if not hexdigits or len(hexdigits.group()) < 4:
                    raise CheckerProblem(f"pattern {pattern!r}: bad \\u escape")
                digits = hexdigits.group()
                if len(digits) > 4 and in_class and 0x10000 <= int(digits, 16) <= 0x10FFFF and digits[0] == "1":
                    out.append(_cp(int(digits, 16)))
                    i += 2 + len(digits)
                else:
                    out.append(f"\\u{digits[:4]}")
                    i += 6
                continue
            if e == "Q":
                end = pattern.find("\\E", i + 2)
                literal = pattern[i + 2:] if end < 0 else pattern[i + 2:end]
                i = n if end < 0 else end + 2
                out.append("".join("\\" + ch if not ch.isalnum() else ch for ch in literal))
                continue
            if e == "v":
                body = "\\n\\x0B\\f\\r\\u0085\\u2028\\u2029"
                out.append(body if in_class else f"[{body}]")
            elif e == "h":
                body = " \\t\\u00A0\\u1680\\u180E\\u2000-\\u200A\\u202F\\u205F\\u3000"
                out.append(body if in_class else f"[{body}]")
            elif e == "z" and not in_class:
                out.append("\\Z")
            elif e == "Z" and not in_class:
                out.append(f"(?=[{_JAVA_LINE_TERMINATORS}]?\\Z)")
            elif e == "e":
                out.append("\\x1B")
            elif e in "GRXNkcKz" or (e == "Z" and in_class):
                raise CheckerProblem(f"pattern {pattern!r}: \\{e} is not supported by this checker")
            else:
                out.append(c + e)
            i += 2
            continue
        if in_class:
            if c == "[" :
                raise CheckerProblem(f"pattern {pattern!r}: nested character classes are not supported by this checker")
            if c == "&" and pattern.startswith("&&", i):
                raise CheckerProblem(f"pattern {pattern!r}: class intersections are not supported by this checker")
            if c == "]" and i > class_start:
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            class_start = i  # a ']' right after '[' or '[^' is a literal
            continue
        if c == "." :
            out.append(f"[^{_JAVA_LINE_TERMINATORS}]")
            i += 1
            continue
        flags = re.match(r"\(\?([a-zA-Z-]+)[:)]", pattern[i:]) if c == "(" else None
        if flags and set(flags.group(1)) - set("imx-"):
            # s (DOTALL) would change the translated '.', d (UNIX_LINES) and u/U the classes.
            raise CheckerProblem(f"pattern {pattern!r}: inline flags {flags.group(1)!r} are not supported by this checker")
        if c == "(" and pattern.startswith("(?<", i) and i + 3 < n and pattern[i + 3] not in "=!":
            out.append("(?P<")
            i += 3
            continue
        out.append(c)
        i += 1
    if in_class:
        raise CheckerProblem(f"pattern {pattern!r}: unterminated character class")
    return "".join(out)


_COMPILED: dict[str, re.Pattern[str]] = {}


def compile_java_regex(pattern: str) -> re.Pattern[str]:
    if pattern not in _COMPILED:
        python_pattern = java_regex_to_python(pattern)
        with warnings.catch_warnings():
            # e.g. "Possible nested set": a construct whose meaning may differ from Java's.
            warnings.simplefilter("error")
            try:
                _COMPILED[pattern] = re.compile(python_pattern, re.ASCII)
            except (re.error, FutureWarning, DeprecationWarning) as error:
                raise CheckerProblem(
                    f"pattern {pattern!r} (as Python {python_pattern!r}) does not compile: {error}"
                ) from error
    return _COMPILED[pattern]


# --------------------------------------------------------------------------------------
# Validation: botocore's ParamValidator, plus what it leaves out
# --------------------------------------------------------------------------------------


def show(value: Any, limit: int = 120) -> str:
    if isinstance(value, (bytes, bytearray)):
        text = f"<{len(value)} bytes>"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, ensure_ascii=False, default=str, sort_keys=True)
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def member_path(name: str) -> str:
    name = name[1:] if name.startswith(".") else name
    return name or "(input)"


def join_path(parent: str, child: str) -> str:
    parent = member_path(parent)
    return child if parent == "(input)" else f"{parent}.{child}"


@dataclass
class Violation:
    path: str
    message: str
    value: Any = None
    has_value: bool = False

    def render(self) -> str:
        text = f"{self.path}: {self.message}"
        return f"{text} ({show(self.value)})" if self.has_value else text


class Violations:
    """botocore's ValidationErrors interface (``report``), kept as Violation objects."""

    def __init__(self) -> None:
        self.items: list[Violation] = []
        self.structure: dict[str, Any] = {}  # the structure being validated (for its values)

    def has_errors(self) -> bool:
        return bool(self.items)

    def add(self, path: str, message: str, *value: Any) -> None:
        self.items.append(Violation(path, message, value[0] if value else None, bool(value)))

    def report(self, name: str, reason: str, **kw: Any) -> None:  # botocore's reasons
        if reason == "missing required field":
            self.add(join_path(name, kw["required_name"]), "missing required member")
        elif reason == "unknown field":
            valid = ", ".join(kw["valid_names"]) or "none"
            unknown = kw["unknown_param"]
            self.add(join_path(name, unknown), f"unknown member, not one of: {valid}", self.structure.get(unknown))
        elif reason == "invalid type":
            types = ", ".join(t.replace("<class '", "").replace("'>", "") for t in kw["valid_types"])
            self.add(member_path(name), f"invalid type {type(kw['param']).__name__}, expected {types}", kw["param"])
        elif reason == "invalid range":
            self.add(member_path(name), f"less than the minimum value {kw['min_allowed']}", kw["param"])
        elif reason == "invalid length":
            self.add(member_path(name), f"length {kw['param']} is below the minimum length {kw['min_allowed']}")
        elif reason in ("more than one input", "empty input"):
            self.add(member_path(name), f"union: set exactly one of {', '.join(kw['members'])}")
        elif reason == "invalid type for document":
            self.add(member_path(name), "invalid type in a document", kw["param"])
        elif reason == "unable to encode to json":
            self.add(member_path(name), f"cannot be encoded as JSON: {kw['type_error']}")
        else:  # a reason added in a later botocore
            self.add(member_path(name), f"{reason}: {kw}")


class ModelValidator(ParamValidator):
    """botocore's validator (required, unknown, types, min lengths/values, unions) plus
    max lengths (strings, blobs, lists, maps), map min sizes, blob min lengths, max
    values, enums and patterns."""

    VALIDATED_METADATA_ATTRS = ParamValidator.VALIDATED_METADATA_ATTRS | {"max", "pattern", "enum"}

    def validate(self, params: Any, shape: Shape) -> Violations:  # type: ignore[override]
        errors = Violations()
        self._validate(params, shape, errors, name="")
        return errors

    def _validate_structure(self, params, shape, errors, name):  # type: ignore[override]
        # botocore reports unknown members before it validates any nested structure.
        if isinstance(params, dict):
            errors.structure = params
        super()._validate_structure(params, shape, errors, name)

    @staticmethod
    def _max_length(length: int, value: Any, shape: Shape, errors: Violations, name: str, unit: str) -> None:
        if "max" in shape.metadata and length > shape.metadata["max"]:
            errors.add(member_path(name), f"longer than the maximum length {shape.metadata['max']}: {length} {unit}", value)

    def _validate_string(self, param, shape, errors, name):  # type: ignore[override]
        super()._validate_string(param, shape, errors, name)
        if not isinstance(param, str):
            return
        self._max_length(len(param), param, shape, errors, name, "characters")
        enum = shape.metadata.get("enum")
        if enum and param not in enum:
            errors.add(member_path(name), f"not one of the enum values {', '.join(enum)}", param)
        pattern = shape.metadata.get("pattern")
        if pattern is not None:
            try:
                regex = compile_java_regex(pattern)
            except CheckerProblem as problem:
                errors.add(member_path(name), f"CHECKER PROBLEM: {problem}")
                errors.items[-1].checker_problem = True  # type: ignore[attr-defined]
                return
            if not regex.fullmatch(param):
                errors.add(member_path(name), f"does not match the pattern {pattern}", param)

    def _validate_list(self, param, shape, errors, name):  # type: ignore[override]
        super()._validate_list(param, shape, errors, name)
        if isinstance(param, (list, tuple)):
            self._max_length(len(param), param, shape, errors, name, "items")

    def _validate_map(self, param, shape, errors, name):  # type: ignore[override]
        super()._validate_map(param, shape, errors, name)
        if isinstance(param, dict):
            if "min" in shape.metadata and len(param) < shape.metadata["min"]:
                errors.add(member_path(name), f"fewer than the minimum {shape.metadata['min']} entries: {len(param)}", param)
            self._max_length(len(param), param, shape, errors, name, "entries")

    def _validate_blob(self, param, shape, errors, name):  # type: ignore[override]
        super()._validate_blob(param, shape, errors, name)
        if isinstance(param, (bytes, bytearray, str)):
            length = len(param.encode("utf-8") if isinstance(param, str) else param)
            if "min" in shape.metadata and length < shape.metadata["min"]:
                errors.add(member_path(name), f"shorter than the minimum length {shape.metadata['min']}: {length} bytes", param)
            self._max_length(length, param, shape, errors, name, "bytes")

    def _max_value(self, param, shape, errors, name):
        if isinstance(param, (int, float)) and not isinstance(param, bool):
            if "max" in shape.metadata and param > shape.metadata["max"]:
                errors.add(member_path(name), f"greater than the maximum value {shape.metadata['max']}", param)

    def _validate_integer(self, param, shape, errors, name):  # type: ignore[override]
        super()._validate_integer(param, shape, errors, name)
        self._max_value(param, shape, errors, name)
        if isinstance(param, int) and not isinstance(param, bool) and not -(2**31) <= param < 2**31:
            errors.add(member_path(name), "out of the 32-bit integer range", param)

    def _validate_long(self, param, shape, errors, name):  # type: ignore[override]
        super()._validate_long(param, shape, errors, name)
        self._max_value(param, shape, errors, name)

    def _validate_double(self, param, shape, errors, name):  # type: ignore[override]
        super()._validate_double(param, shape, errors, name)
        self._max_value(param, shape, errors, name)

    _validate_float = _validate_double


# --------------------------------------------------------------------------------------
# Wire formats -> input parameters
# --------------------------------------------------------------------------------------


class Wire:
    """Collects wire-format problems met while decoding (into the same Violations)."""

    def __init__(self, errors: Violations) -> None:
        self.errors = errors

    def bad(self, path: str, message: str, *value: Any) -> None:
        self.errors.add(member_path(path), f"wire format: {message}", *value)


def _serialized_name(shape: Shape, default: str) -> str:
    return shape.serialization.get("name", default)


def _parse_timestamp(text: Any, fmt: str) -> dt.datetime:
    if fmt == "unixTimestamp":
        if isinstance(text, str):
            if not re.fullmatch(r"-?\d+(\.\d+)?", text):
                raise ValueError("not epoch seconds")
            text = float(text)
        if isinstance(text, bool) or not isinstance(text, (int, float)) or not math.isfinite(text):
            raise ValueError("not epoch seconds")
        return dt.datetime.fromtimestamp(text, dt.timezone.utc)
    if not isinstance(text, str):
        raise ValueError(f"not a {fmt} string")
    if fmt == "iso8601":
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", text):
            raise ValueError("not an ISO 8601 date-time")
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if fmt == "rfc822":
        parsed = email.utils.parsedate_to_datetime(text)
        if parsed is None:
            raise ValueError("not an RFC 822 date")
        return parsed
    raise ValueError(f"unknown timestamp format {fmt}")


def decode_scalar(shape: Shape, value: Any, path: str, wire: Wire, *, text: bool, ts_default: str) -> Any:
    """A scalar from the wire: ``text`` when it came as a string (query, URI, header, XML)."""
    kind = shape.type_name
    if kind == "timestamp":
        fmt = shape.serialization.get("timestampFormat", ts_default)
        try:
            return _parse_timestamp(value, fmt)
        except (ValueError, TypeError, OverflowError) as error:
            wire.bad(path, f"timestamp, expected {fmt}: {error}", value)
            return value
    if kind == "blob":
        if not isinstance(value, str):
            return value  # the validator reports the type
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            wire.bad(path, "blob is not valid base64", value)
            return value
    if not text or not isinstance(value, str):
        if kind in ("double", "float") and value in ("NaN", "Infinity", "-Infinity"):
            return float(value)
        return value  # JSON: already typed; the validator checks the type
    if kind == "string":
        return value
    if kind == "boolean":
        if value in ("true", "false"):
            return value == "true"
        wire.bad(path, "boolean must be true or false", value)
        return value
    if kind in ("integer", "long"):
        if re.fullmatch(r"-?\d+", value):
            return int(value)
        wire.bad(path, f"{kind} is not a whole number", value)
        return value
    if kind in ("double", "float"):
        try:
            return float(value)
        except ValueError:
            wire.bad(path, f"{kind} is not a number", value)
            return value
    wire.bad(path, f"cannot read a {kind} from a string", value)
    return value


# --- query protocol -------------------------------------------------------------------


def _query_tree(pairs: list[tuple[str, str]], wire: Wire) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for key, value in pairs:
        node = tree
        parts = key.split(".")
        for depth, part in enumerate(parts):
            last = depth == len(parts) - 1
            existing = node.get(part)
            if last:
                if existing is not None:
                    wire.bad(key, "parameter given twice, or both as a value and a prefix", value)
                    break
                node[part] = value
            else:
                if existing is None:
                    existing = node[part] = {}
                elif not isinstance(existing, dict):
                    wire.bad(key, "parameter given both as a value and a prefix", value)
                    break
                node = existing
    return tree


def _indexed(node: Any, path: str, wire: Wire) -> list[Any]:
    """The items of a query-protocol list node: {"1": ..., "2": ...} in order."""
    if not isinstance(node, dict):
        wire.bad(path, "expected numbered items (.1, .2, ...)", node)
        return []
    items = []
    for key in node:
        if not re.fullmatch(r"[1-9]\d*", key):
            wire.bad(f"{path}.{key}", "list index must be 1, 2, ...")
        else:
            items.append(int(key))
    items.sort()
    if items != list(range(1, len(items) + 1)):
        wire.bad(path, f"list indexes are not 1..N: {items}")
    return [node[str(k)] for k in items]


def _unknown_query_value(node: Any) -> Any:
    """An unknown member's wire value, flattened back to "a.b" keys (for the report)."""
    if isinstance(node, dict):
        flat: dict[str, Any] = {}
        for key, value in node.items():
            sub = _unknown_query_value(value)
            if isinstance(sub, dict):
                flat.update({f"{key}.{k}": v for k, v in sub.items()})
            else:
                flat[key] = sub
        return flat
    return node


def _ec2_name(shape: Shape, default: str) -> str:
    """A member's wire name in the ec2 protocol (botocore's ``EC2Serializer``, Smithy's
    ``ec2Query``): its ``queryName``, else its ``locationName`` with the first letter
    capitalized, else its name with the first letter capitalized."""
    if "queryName" in shape.serialization:
        return shape.serialization["queryName"]
    name = shape.serialization.get("name") or default
    return name[:1].upper() + name[1:]


def decode_query(shape: Shape, node: Any, path: str, wire: Wire, ec2: bool = False, key: str = "") -> Any:
    """The input from a query (or, with ``ec2``, an ec2) protocol parameter tree.

    ec2 differs from query: a member's wire name is ``_ec2_name`` (the name of a list's
    item shape is not used), and every list is flattened, ``Name.1``, ``Name.2`` (no
    ``.member.``; the model's ``flattened`` does not matter).  ``key``: the parameter's
    wire name, for the messages."""
    kind = shape.type_name
    wire_name = _ec2_name if ec2 else _serialized_name
    if kind == "structure":
        if not isinstance(node, dict):
            if node == "":
                return {}
            wire.bad(path, "expected a structure (Name.Member=...)", node)
            return node
        by_wire: dict[str, str] = {}
        for name, member in shape.members.items():
            by_wire[wire_name(member, name)] = name
            if not ec2 and member.type_name == "list" and member.serialization.get("flattened") and "name" in member.member.serialization:
                by_wire[member.member.serialization["name"]] = name
        out: dict[str, Any] = {}
        for sub_key, sub in node.items():
            name = by_wire.get(sub_key)
            if name is None:
                if sub_key in shape.members:  # a member sent under its name, not its wire name
                    expected = [w for w, n in by_wire.items() if n == sub_key]
                    wire.bad(join_path(path, sub_key), f"the member {sub_key} is sent as {' or '.join(expected)}", _unknown_query_value(sub))
                    continue
                out[sub_key] = _unknown_query_value(sub)
            else:
                out[name] = decode_query(shape.members[name], sub, f"{path}.{name}", wire, ec2, sub_key)
        return out
    if kind == "list":
        if node == "":
            return []  # the query protocol's empty list: "Name=" (also ec2's, in Smithy's tests)
        if ec2:
            if isinstance(node, dict) and any(not re.fullmatch(r"\d+", index) for index in node):
                wire.bad(path, f"EC2 lists are flattened: items must be {key or 'Name'}.N, not .member.N or other sub-parameters", _unknown_query_value(node))
                return _unknown_query_value(node)
            items = _indexed(node, path, wire)
        elif shape.serialization.get("flattened"):
            items = _indexed(node, path, wire)
        else:
            item_name = _serialized_name(shape.member, "member")
            if not isinstance(node, dict) or set(node) != {item_name}:
                wire.bad(path, f"list items must be {path.rsplit('.', 1)[-1] or 'Name'}.{item_name}.N", _unknown_query_value(node))
                return _unknown_query_value(node) if isinstance(node, dict) else node
            items = _indexed(node[item_name], f"{path}.{item_name}", wire)
        return [decode_query(shape.member, item, f"{path}[{i}]", wire, ec2) for i, item in enumerate(items)]
    if kind == "map":
        if node == "":
            return {}
        entries_node = node
        if not shape.serialization.get("flattened"):
            if not isinstance(node, dict) or set(node) != {"entry"}:
                wire.bad(path, "map entries must be Name.entry.N.key/value", _unknown_query_value(node))
                return {}
            entries_node = node["entry"]
        # (No ec2 input has a map; botocore's EC2Serializer names the entries as below.)
        entry_name = _serialized_name
        if ec2:
            entry_name = lambda s, default: _ec2_name(s, default) if {"queryName", "name"} & set(s.serialization) else default  # noqa: E731
        key_name, value_name = entry_name(shape.key, "key"), entry_name(shape.value, "value")
        out = {}
        for i, entry in enumerate(_indexed(entries_node, path, wire)):
            if not isinstance(entry, dict) or key_name not in entry or set(entry) - {key_name, value_name}:
                wire.bad(f"{path}.entry.{i + 1}", f"a map entry has {key_name} and {value_name}", _unknown_query_value(entry))
                continue
            key = decode_query(shape.key, entry[key_name], f"{path} (key #{i + 1})", wire, ec2)
            if not isinstance(key, str):
                continue
            if key in out:
                wire.bad(path, "map key given twice", key)
            out[key] = decode_query(shape.value, entry.get(value_name), f"{path}.{key}", wire, ec2) if value_name in entry else None
        return out
    if isinstance(node, dict):
        wire.bad(path, f"expected a {kind} value, got sub-parameters", _unknown_query_value(node))
        return _unknown_query_value(node)
    return decode_scalar(shape, node, path, wire, text=True, ts_default="iso8601")


# --- JSON bodies (json, rest-json) ----------------------------------------------------


def decode_json(shape: Shape, value: Any, path: str, wire: Wire, members: Iterable[str] | None = None) -> Any:
    kind = shape.type_name
    if value is None:
        return None
    if kind == "structure":
        if shape.is_document_type:
            return value
        if not isinstance(value, dict):
            return value  # the validator reports the type
        allowed = set(members) if members is not None else set(shape.members)
        by_wire = {_serialized_name(shape.members[name], name): name for name in allowed}
        elsewhere = {_serialized_name(m, name) for name, m in shape.members.items() if name not in allowed}
        out = {}
        for key, sub in value.items():
            name = by_wire.get(key)
            if name is None:
                if key in elsewhere:  # a member bound elsewhere (URI, header, query)
                    wire.bad(join_path(path, key), "member sent in the body, but the model binds it elsewhere", sub)
                    continue
                out[key] = sub
            else:
                out[name] = decode_json(shape.members[name], sub, f"{path}.{name}", wire)
        return out
    if kind == "list":
        if not isinstance(value, list):
            return value
        return [decode_json(shape.member, item, f"{path}[{i}]", wire) for i, item in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            return value
        return {k: decode_json(shape.value, v, f"{path}.{k}", wire) for k, v in value.items()}
    return decode_scalar(shape, value, path, wire, text=False, ts_default="unixTimestamp")


# --- XML bodies (rest-xml) ------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def decode_xml(shape: Shape, element: ElementTree.Element, path: str, wire: Wire) -> Any:
    kind = shape.type_name
    if kind == "structure":
        out: dict[str, Any] = {}
        by_wire: dict[str, str] = {}
        attributes: dict[str, str] = {}
        for name, member in shape.members.items():
            if member.serialization.get("xmlAttribute"):
                attributes[_serialized_name(member, name).split(":")[-1]] = name
            else:
                by_wire[_serialized_name(member, name)] = name
        for key, raw in element.attrib.items():
            name = attributes.get(_local(key))
            if name is not None:
                out[name] = decode_scalar(shape.members[name], raw, f"{path}.{name}", wire, text=True, ts_default="iso8601")
        grouped: dict[str, list[ElementTree.Element]] = defaultdict(list)
        for child in element:
            grouped[_local(child.tag)].append(child)
        for tag, children in grouped.items():
            name = by_wire.get(tag)
            if name is None:
                out[tag] = children[0].text if len(children) == 1 else [c.text for c in children]
                continue
            member = shape.members[name]
            if member.type_name in ("list", "map") and member.serialization.get("flattened"):
                if member.type_name == "list":
                    out[name] = [decode_xml(member.member, c, f"{path}.{name}[{i}]", wire) for i, c in enumerate(children)]
                else:
                    out[name] = _decode_xml_entries(member, children, f"{path}.{name}", wire)
                continue
            if len(children) > 1:
                wire.bad(f"{path}.{name}", f"element <{tag}> given {len(children)} times")
            out[name] = decode_xml(member, children[0], f"{path}.{name}", wire)
        return out
    if kind == "list":
        item_name = _serialized_name(shape.member, "member")
        items = []
        for i, child in enumerate(element):
            if _local(child.tag) != item_name:
                wire.bad(f"{path}[{i}]", f"list item element is <{_local(child.tag)}>, expected <{item_name}>")
            items.append(decode_xml(shape.member, child, f"{path}[{i}]", wire))
        return items
    if kind == "map":
        return _decode_xml_entries(shape, [c for c in element if _local(c.tag) == "entry"], path, wire)
    if len(element):
        wire.bad(path, f"expected a {kind} value, got child elements")
    return decode_scalar(shape, element.text or "", path, wire, text=True, ts_default="iso8601")


def _decode_xml_entries(shape: Shape, entries: list[ElementTree.Element], path: str, wire: Wire) -> dict[str, Any]:
    key_name, value_name = _serialized_name(shape.key, "key"), _serialized_name(shape.value, "value")
    out = {}
    for entry in entries:
        key_el, value_el = entry.find(key_name), entry.find(value_name)
        if key_el is None:
            wire.bad(path, f"map entry without <{key_name}>")
            continue
        key = key_el.text or ""
        out[key] = decode_xml(shape.value, value_el, f"{path}.{key}", wire) if value_el is not None else None
    return out


# --- REST (rest-json, rest-xml) -------------------------------------------------------


@dataclass
class UriTemplate:
    operation: str
    regex: re.Pattern[str]
    labels: list[tuple[str, bool]]  # (label, greedy)
    literal_query: dict[str, str | None]
    literal_length: int


def _uri_templates(model: ServiceModel) -> list[UriTemplate]:
    templates = []
    for op_name in model.operation_names:
        http = model.operation_model(op_name).http
        request_uri = http.get("requestUri", "/")
        path, _, query = request_uri.partition("?")
        labels: list[tuple[str, bool]] = []
        regex = ""
        literal = 0
        for piece in re.split(r"(\{[^}]+\})", path):
            if piece.startswith("{") and piece.endswith("}"):
                greedy = piece.endswith("+}")
                labels.append((piece[1:-2] if greedy else piece[1:-1], greedy))
                regex += "(.+)" if greedy else "([^/]+)"
            else:
                regex += re.escape(piece)
                literal += len(piece)
        if not path.endswith("/"):
            regex += "/?"
        literal_query: dict[str, str | None] = {}
        for part in filter(None, query.split("&")):
            key, eq, value = part.partition("=")
            literal_query[key] = value if eq else None
        templates.append(
            UriTemplate(op_name, re.compile(regex), labels, literal_query, literal)
        )
    return templates


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    scope: dict[str, str] | None
    raw: dict[str, Any]

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    def text(self) -> str:
        return self.body.decode("utf-8")


def _required_located(op: OperationModel) -> list[tuple[str, str]]:
    """(location, wire name) of the operation's required query string and header members."""
    shape = op.input_shape
    if shape is None:
        return []
    located = []
    for name in shape.required_members:
        member = shape.members[name]
        location = member.serialization.get("location")
        if location in ("querystring", "header"):
            located.append((location, _serialized_name(member, name)))
    return located


def find_rest_operation(model: ServiceModel, request: Request) -> tuple[str, list[str], set[str]] | None:
    """(operation, URI label values, literal query keys) of a REST request, or None."""
    if not hasattr(model, "_eksmgr_templates"):
        model._eksmgr_templates = _uri_templates(model)  # type: ignore[attr-defined]
    query_keys = dict(parse_qsl(request.query, keep_blank_values=True))
    candidates = []
    for template in model._eksmgr_templates:  # type: ignore[attr-defined]
        op = model.operation_model(template.operation)
        if op.http.get("method", "POST").upper() != request.method.upper():
            continue
        match = template.regex.fullmatch(request.path)
        if not match:
            continue
        if any(key not in query_keys or (value is not None and query_keys[key] != value)
               for key, value in template.literal_query.items()):
            continue
        greedy = sum(1 for _, g in template.labels if g)
        candidates.append(((len(template.literal_query), template.literal_length, -greedy), template, match))
    if not candidates:
        return None
    # S3's Smithy model, which the SDK for Rust is built from, has "?x-id=PutObject" ... in
    # its request URIs; botocore's S3 model leaves it out.  It names the operation.
    x_id = query_keys.get("x-id")
    named = [c for c in candidates if x_id is not None and c[1].operation == x_id]
    if named:
        _, template, match = named[0]
        return template.operation, list(match.groups()), set(template.literal_query) | {"x-id"}
    # Otherwise the operations whose required query string and header members are all there.
    present = []
    for score, template, match in candidates:
        required = _required_located(model.operation_model(template.operation))
        if all((request.header(name) is not None) if location == "header" else (name in query_keys)
               for location, name in required):
            present.append((score + (len(required),), template, match))
    if not present:
        return None
    present.sort(key=lambda c: c[0], reverse=True)
    if len(present) > 1 and present[0][0] == present[1][0]:
        raise CheckerProblem(
            f"{request.method} {request.path}?{request.query} matches several operations: "
            + ", ".join(c[1].operation for c in present if c[0] == present[0][0])
        )
    _, template, match = present[0]
    return template.operation, list(match.groups()), set(template.literal_query)


def decode_rest(model: ServiceModel, op: OperationModel, request: Request, label_values: list[str], literal_keys: set[str], wire: Wire) -> dict[str, Any]:
    shape = op.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        if request.body.strip() not in (b"", b"{}"):
            wire.bad("", "the operation has no input, but the request has a body", request.body[:200])
        return params
    template = next(t for t in model._eksmgr_templates if t.operation == op.name)  # type: ignore[attr-defined]
    uri_members = {}
    query_members: dict[str, str] = {}
    query_map = None
    header_members: dict[str, str] = {}
    prefix_headers: dict[str, str] = {}
    body_members = []
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = _serialized_name(member, name)
        if location == "uri":
            uri_members[wire_name] = name
        elif location == "querystring":
            if member.type_name == "map":
                query_map = name
            else:
                query_members[wire_name] = name
        elif location == "header":
            header_members[wire_name.lower()] = name
        elif location == "headers":
            prefix_headers[wire_name.lower()] = name
        elif location is None:
            body_members.append(name)
    # URI labels
    for (label, greedy), raw in zip(template.labels, label_values):
        name = uri_members.get(label)
        if name is None:
            wire.bad(label, "the requestUri label is not an input member")
            continue
        value = unquote(raw)
        member = shape.members[name]
        params[name] = decode_scalar(member, value, name, wire, text=True, ts_default="iso8601")
    # Query string
    grouped: dict[str, list[str]] = defaultdict(list)
    for key, value in parse_qsl(request.query, keep_blank_values=True):
        grouped[key].append(value)
    leftover = {}
    for key, values in grouped.items():
        if key in literal_keys:
            continue
        name = query_members.get(key)
        if name is None:
            leftover[key] = values
            continue
        member = shape.members[name]
        if member.type_name == "list":
            params[name] = [decode_scalar(member.member, v, f"{name}[{i}]", wire, text=True, ts_default="iso8601") for i, v in enumerate(values)]
        else:
            if len(values) > 1:
                wire.bad(name, "query parameter given more than once", values)
            params[name] = decode_scalar(member, values[0], name, wire, text=True, ts_default="iso8601")
    if leftover:
        if query_map is not None:
            map_shape = shape.members[query_map]
            if map_shape.value.type_name == "list":
                params[query_map] = leftover
            else:
                params[query_map] = {k: v[0] for k, v in leftover.items()}
        else:
            for key, values in leftover.items():
                wire.bad(key, "query parameter not in the model", values[0] if len(values) == 1 else values)
    # Headers
    for key, value in request.headers.items():
        lowered = key.lower()
        name = header_members.get(lowered)
        if name is not None:
            member = shape.members[name]
            if member.type_name == "list":
                items = [item.strip() for item in value.split(",")]
                params[name] = [decode_scalar(member.member, item.strip('"'), f"{name}[{i}]", wire, text=True, ts_default="rfc822") for i, item in enumerate(items)]
            elif member.type_name == "string" and member.serialization.get("jsonvalue"):
                try:
                    params[name] = json.loads(base64.b64decode(value, validate=True))
                except (binascii.Error, ValueError):
                    wire.bad(name, "jsonvalue header is not base64 JSON", value)
            else:
                params[name] = decode_scalar(member, value, name, wire, text=True, ts_default="rfc822")
            continue
        for prefix, map_name in prefix_headers.items():
            if lowered.startswith(prefix):
                params.setdefault(map_name, {})[key[len(prefix):]] = value
    # Body
    payload = shape.serialization.get("payload")
    protocol = model.metadata["protocol"]
    if payload:
        member = shape.members[payload]
        if member.type_name in ("blob", "string"):
            if request.body or payload in shape.required_members:
                if member.type_name == "blob":
                    params[payload] = request.body
                else:
                    try:
                        params[payload] = request.text()
                    except UnicodeDecodeError:
                        wire.bad(payload, "string payload is not UTF-8")
        elif request.body.strip():
            params[payload] = _decode_body_document(member, request, payload, protocol, wire, root_name=_serialized_name(member, payload))
    else:
        if request.body.strip():
            value = _decode_body_document(shape, request, "", protocol, wire, members=body_members, root_name=None)
            if isinstance(value, dict):
                params.update(value)
            else:
                wire.bad("", "the body is not a JSON object", request.body[:200])
    return params


def _decode_body_document(shape: Shape, request: Request, path: str, protocol: str, wire: Wire, *, root_name: str | None, members: list[str] | None = None) -> Any:
    if protocol == "rest-json":
        try:
            document = json.loads(request.text())
        except (UnicodeDecodeError, ValueError) as error:
            wire.bad(path, f"the body is not JSON: {error}", request.body[:200])
            return None
        return decode_json(shape, document, path, wire, members=members)
    try:
        root = ElementTree.fromstring(request.body)
    except ElementTree.ParseError as error:
        wire.bad(path, f"the body is not XML: {error}", request.body[:200])
        return None
    if root_name is not None and _local(root.tag) != root_name:
        wire.bad(path, f"the XML root element is <{_local(root.tag)}>, expected <{root_name}>")
    namespace = shape.serialization.get("xmlNamespace", {})
    if isinstance(namespace, dict) and namespace.get("uri") and not root.tag.startswith("{" + namespace["uri"] + "}"):
        wire.bad(path, f"the XML root element is not in the namespace {namespace['uri']}")
    value = decode_xml(shape, root, path, wire)
    if members is not None and isinstance(value, dict):
        for key in list(value):
            if key in shape.members and key not in members:
                wire.bad(join_path(path, key), "member sent in the body, but the model binds it elsewhere", value.pop(key))
    return value


# --------------------------------------------------------------------------------------
# The check
# --------------------------------------------------------------------------------------

_SESSION = None
_MODELS: dict[str, ServiceModel] = {}
_SIGNING_INDEX: dict[str, list[str]] | None = None


def service_model(name: str) -> ServiceModel:
    global _SESSION
    if name not in _MODELS:
        if _SESSION is None:
            _SESSION = botocore.session.get_session()
        _MODELS[name] = _SESSION.get_service_model(name)
    return _MODELS[name]


def _signing_name(model: ServiceModel) -> str:
    return model.metadata.get("signingName") or model.metadata.get("endpointPrefix") or model.service_name


def services_for_signing_name(signing_name: str) -> list[str]:
    """botocore service names signed with ``signing_name``, best guess first."""
    global _SIGNING_INDEX
    candidates = []
    for name in [signing_name, *SIGNING_NAME_ALIASES.get(signing_name, [])]:
        try:
            if _signing_name(service_model(name)) == signing_name and name not in candidates:
                candidates.append(name)
        except UnknownServiceError:
            pass
    if candidates:
        return candidates
    if _SIGNING_INDEX is None:  # slow: every model
        _SIGNING_INDEX = defaultdict(list)
        session = _SESSION or botocore.session.get_session()
        for name in session.get_available_services():
            try:
                _SIGNING_INDEX[_signing_name(service_model(name))].append(name)
            except Exception:  # noqa: BLE001 - a model botocore cannot load is not ours
                continue
    return list(_SIGNING_INDEX.get(signing_name, []))


@dataclass
class Outcome:
    service: str = ""
    operation: str = ""
    violations: list[Violation] = field(default_factory=list)
    problem: str | None = None  # the request could not be checked
    params: dict[str, Any] | None = None

    @property
    def label(self) -> str:
        return f"{self.service}.{self.operation}" if self.operation else (self.service or "?")


def parse_record(raw: dict[str, Any]) -> Request:
    body = raw.get("body") or ""
    if raw.get("body_encoding") == "base64":
        body_bytes = base64.b64decode(body)
    else:
        body_bytes = body.encode("utf-8")
    return Request(
        method=str(raw.get("method", "")).upper(),
        path=str(raw.get("path", "")),
        query=str(raw.get("query", "")),
        headers=dict(raw.get("headers") or {}),
        body=body_bytes,
        scope=raw.get("credential_scope"),
        raw=raw,
    )


def skip_reason(request: Request) -> str | None:
    if request.path.startswith("/moto-api"):
        return "moto-api"
    agent = f"{request.header('User-Agent') or ''} {request.header('X-Amz-User-Agent') or ''}"
    if SDK_FOR_RUST not in agent:
        return "not from the AWS SDK for Rust"
    return None


def _identify(request: Request, model: ServiceModel) -> tuple[str, str, Any] | None:
    """(protocol, operation, (URI label values, literal query keys)) in this model, or None."""
    protocols = model.metadata.get("protocols") or [model.metadata["protocol"]]
    target = request.header("X-Amz-Target")
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if target and "json" in protocols:
        prefix, _, op_name = target.rpartition(".")
        if prefix == model.metadata.get("targetPrefix") and op_name in model.operation_names:
            return "json", op_name, None
        return None
    for form_protocol in ("query", "ec2"):
        if form_protocol in protocols and (content_type == "application/x-www-form-urlencoded" or request.method == "GET"):
            source = request.text() if request.method == "POST" else request.query
            action = [v for k, v in parse_qsl(source, keep_blank_values=True) if k == "Action"]
            if len(action) == 1 and action[0] in model.operation_names:
                return form_protocol, action[0], None
            return None
    for protocol in ("rest-json", "rest-xml"):
        if protocol in protocols:
            found = find_rest_operation(model, request)
            if found:
                return protocol, found[0], (found[1], found[2])
    return None


def check_request(request: Request) -> Outcome:
    outcome = Outcome()
    if not request.scope or not request.scope.get("service"):
        outcome.problem = f"{request.method} {request.path}: no SigV4 credential scope, cannot tell the service"
        return outcome
    signing_name = request.scope["service"]
    outcome.service = signing_name
    identified = None
    model = None
    for name in services_for_signing_name(signing_name):
        model = service_model(name)
        identified = _identify(request, model)
        if identified:
            break
    if model is None:
        outcome.problem = f"no botocore model for the signing name {signing_name!r}"
        return outcome
    outcome.service = model.metadata.get("serviceId", model.service_name).replace(" ", "")
    if not identified:
        target = request.header("X-Amz-Target")
        outcome.problem = (
            f"cannot identify the operation of {request.method} {request.path}"
            + (f"?{request.query}" if request.query else "")
            + (f" (X-Amz-Target {target})" if target else "")
        )
        return outcome
    protocol, op_name, rest_binding = identified
    outcome.operation = op_name
    op = model.operation_model(op_name)
    errors = Violations()
    wire = Wire(errors)
    content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    try:
        if protocol == "json":
            expected = f"application/x-amz-json-{model.metadata.get('jsonVersion', '1.0')}"
            if content_type != expected:
                wire.bad("", f"Content-Type {content_type or '(none)'}, expected {expected}")
            try:
                text = request.text().strip()
                document = json.loads(text) if text else {}
            except (UnicodeDecodeError, ValueError) as error:
                wire.bad("", f"the body is not JSON: {error}", request.body[:200])
                document = {}
            if not isinstance(document, dict):
                wire.bad("", "the body is not a JSON object", document)
                document = {}
            if op.input_shape is not None:
                params = decode_json(op.input_shape, document, "", wire)
            else:
                params = document
                for key, value in document.items():
                    errors.add(key, "unknown member (the operation has no input)", value)
        elif protocol in ("query", "ec2"):
            source = request.text() if request.method == "POST" else request.query
            pairs = parse_qsl(source, keep_blank_values=True, strict_parsing=False)
            version = [v for k, v in pairs if k == "Version"]
            if version != [model.metadata["apiVersion"]]:
                wire.bad("Version", f"expected the API version {model.metadata['apiVersion']}", version)
            pairs = [(k, v) for k, v in pairs if k not in ("Action", "Version")]
            tree = _query_tree(pairs, wire)
            if op.input_shape is not None:
                params = decode_query(op.input_shape, tree, "", wire, ec2=protocol == "ec2")
            else:
                params = tree
                for key in tree:
                    errors.add(key, "unknown member (the operation has no input)", _unknown_query_value(tree[key]))
        else:
            params = decode_rest(model, op, request, rest_binding[0], rest_binding[1], wire)
        outcome.params = params
        if op.input_shape is not None:
            validation = ModelValidator().validate(params, op.input_shape)
            errors.items.extend(validation.items)
    except CheckerProblem as problem:
        outcome.problem = str(problem)
    outcome.violations = errors.items
    for violation in errors.items:
        if getattr(violation, "checker_problem", False):
            outcome.problem = outcome.problem or violation.message
    return outcome


@dataclass
class Report:
    checked: Counter = field(default_factory=Counter)
    failing: Counter = field(default_factory=Counter)
    skipped: Counter = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    templates: list[tuple[str, str]] = field(default_factory=list)  # (operation, body)
    template_regions: set[str] = field(default_factory=set)

    @property
    def failed(self) -> bool:
        return bool(self.violations or self.problems)


def check_records(records: Iterable[dict[str, Any]]) -> Report:
    report = Report()
    for number, raw in enumerate(records, 1):
        try:
            request = parse_record(raw)
        except (ValueError, TypeError, binascii.Error) as error:
            report.problems.append(f"log record {number}: unreadable: {error}")
            continue
        reason = skip_reason(request)
        if reason:
            report.skipped[reason] += 1
            continue
        try:
            outcome = check_request(request)
        except CheckerProblem as problem:
            outcome = Outcome(problem=str(problem))
        if outcome.problem:
            report.problems.append(f"{outcome.label}: {outcome.problem} [log record {number}]")
        if outcome.operation:
            report.checked[outcome.label] += 1
        real = [v for v in outcome.violations if not getattr(v, "checker_problem", False)]
        if real:
            report.failing[outcome.label] += 1
        for violation in real:
            report.violations.append(f"{outcome.label}: {violation.render()}")
        if (outcome.service, outcome.operation) in TEMPLATE_OPERATIONS and outcome.params:
            body = outcome.params.get("TemplateBody")
            if isinstance(body, str):
                report.templates.append((outcome.operation, body))
            elif outcome.params.get("TemplateURL"):
                report.problems.append(f"{outcome.label}: the template is given by URL; only TemplateBody can be linted")
        if outcome.service == "CloudFormation" and outcome.operation in ("CreateStackInstances", "UpdateStackInstances") and outcome.params:
            for region in outcome.params.get("Regions") or []:
                if isinstance(region, str):
                    report.template_regions.add(region)
    return report


def read_log(path: str) -> tuple[list[dict[str, Any]], list[str]]:
    records, problems = [], []
    with open(path, encoding="utf-8") as log:
        for number, line in enumerate(log, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                problems.append(f"log line {number}: not JSON: {error}")
                continue
            if not isinstance(record, dict):
                problems.append(f"log line {number}: not a JSON object")
                continue
            records.append(record)
    return records, problems


def write_templates(templates: list[tuple[str, str]], directory: str) -> list[str]:
    os.makedirs(directory, exist_ok=True)
    paths, seen = [], set()
    for operation, body in templates:
        digest = hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]
        if digest in seen:
            continue
        seen.add(digest)
        extension = "json" if body.lstrip().startswith("{") else "yaml"
        path = os.path.join(directory, f"{operation}-{digest}.{extension}")
        with open(path, "w", encoding="utf-8") as out:
            out.write(body)
        paths.append(path)
    return paths


def run_cfn_lint(paths: list[str], regions: Iterable[str]) -> tuple[bool, str]:
    """Lint the templates; (clean, output).  Fails on errors and warnings."""
    command = [sys.executable, "-c", "import sys; from cfnlint.runner import main; sys.exit(main())", "--format", "parseable", "--regions", *sorted(set(regions) or {"us-east-1"})]
    if CFN_LINT_IGNORED_RULES:
        command += ["--ignore-checks", *sorted(CFN_LINT_IGNORED_RULES)]
    command += ["--", *paths]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    # cfn-lint's exit status is a bit mask: 1 fatal, 2 error, 4 warning, 8 informational.
    clean = result.returncode & (1 | 2 | 4) == 0
    return clean, output


def main_check(log_path: str, template_out: str | None, require_template: bool) -> int:
    records, problems = read_log(log_path)
    report = check_records(records)
    report.problems[:0] = problems
    for line, count in Counter(report.violations).items():  # in order, each once
        print(f"VIOLATION {line}" + (f" [{count} requests]" if count > 1 else ""))
    for line in report.problems:
        print(f"PROBLEM {line}")
    total = sum(report.checked.values())
    print(f"\nrequests checked against botocore {botocore.__version__}'s models, per operation (checked, with violations):")
    for label in sorted(report.checked):
        print(f"  {label:<52} {report.checked[label]:>4}  {report.failing[label]:>4}")
    print(f"  {'total':<52} {total:>4}  {sum(report.failing.values()):>4}")
    if report.skipped:
        print("skipped: " + ", ".join(f"{count} {reason}" for reason, count in sorted(report.skipped.items())))
    failed = report.failed
    if total == 0 and not report.problems:
        print("FAIL: the log holds no request from eksmgr (the AWS SDK for Rust): nothing was checked")
        failed = True
    # The StackSet template(s)
    directory = template_out or tempfile.mkdtemp(prefix="eksmgr-stackset-templates-")
    paths = write_templates(report.templates, directory)
    if paths:
        regions = report.template_regions or {"us-east-1"}
        clean, output = run_cfn_lint(paths, regions)
        print(f"\ncfn-lint on {len(paths)} StackSet template(s) in {directory} (regions: {', '.join(sorted(regions))}): {'clean' if clean else 'FINDINGS'}")
        if output:
            print(output)
        failed = failed or not clean
    else:
        print("\nno StackSet TemplateBody in the log")
        if require_template:
            print("FAIL: --require-template: no CreateStackSet/UpdateStackSet template was sent")
            failed = True
    print(f"\ncheck_requests: {'FAILED' if failed else 'ok'}: {len(report.violations)} violation(s), {len(report.problems)} problem(s)")
    return 1 if failed else 0


# --------------------------------------------------------------------------------------
# Self-test
# --------------------------------------------------------------------------------------

RUST_UA = "aws-sdk-rust/1.3.9 ua/2.1 api/test/1.0.0 os/linux lang/rust/1.88.0"


def _record(service: str, method: str, path: str, body: str = "", *, query: str = "", headers: dict[str, str] | None = None, agent: str = RUST_UA) -> dict[str, Any]:
    all_headers = {"User-Agent": agent}
    all_headers.update(headers or {})
    return {
        "method": method,
        "path": path,
        "query": query,
        "headers": all_headers,
        "credential_scope": {"date": "20250101", "region": "us-east-1", "service": service},
        "body": body,
        "body_encoding": "utf-8",
    }


def _form(action: str, version: str, **params: str) -> dict[str, str]:
    from urllib.parse import urlencode

    return urlencode({"Action": action, "Version": version, **{k.replace("__", "."): v for k, v in params.items()}})  # type: ignore[return-value]


FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
TRUST = json.dumps({"Version": "2012-10-17", "Statement": []})


def _iam(action: str, **params: str) -> dict[str, Any]:
    return _record("iam", "POST", "/", _form(action, "2010-05-08", **params), headers=FORM)  # type: ignore[arg-type]


def _cfn(action: str, **params: str) -> dict[str, Any]:
    return _record("cloudformation", "POST", "/", _form(action, "2010-05-15", **params), headers=FORM)  # type: ignore[arg-type]


def _ec2(action: str, **params: str) -> dict[str, Any]:
    return _record("ec2", "POST", "/", _form(action, "2016-11-15", **params), headers=FORM)  # type: ignore[arg-type]


def _ec2_serialized(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """A request record of botocore's own EC2 serialization of ``params``."""
    from urllib.parse import urlencode

    from botocore.serialize import create_serializer

    serialized = create_serializer("ec2").serialize_to_request(params, service_model("ec2").operation_model(operation))
    return _record("ec2", "POST", "/", urlencode(serialized["body"]), headers=FORM)


def _kms(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    return _record("kms", "POST", "/", json.dumps(body), headers={"X-Amz-Target": f"TrentService.{operation}", "Content-Type": "application/x-amz-json-1.1"})


def self_test() -> int:
    passed = failed = 0

    def case(name: str, records: list[dict[str, Any]], *, expect: list[str] | None = None, ops: dict[str, int] | None = None, problems: int = 0) -> Report | None:
        """expect: substrings of the violations expected (exactly that many); [] = valid."""
        nonlocal passed, failed
        try:
            report = check_records(records)
            errors = []
            if expect is not None:
                if len(report.violations) != len(expect):
                    errors.append(f"{len(report.violations)} violation(s), expected {len(expect)}")
                for wanted in expect:
                    if not any(wanted in v for v in report.violations):
                        errors.append(f"no violation contains {wanted!r}")
            if ops is not None and dict(report.checked) != ops:
                errors.append(f"checked {dict(report.checked)}, expected {ops}")
            if len(report.problems) != problems:
                errors.append(f"{len(report.problems)} problem(s), expected {problems}: {report.problems}")
        except Exception as error:  # noqa: BLE001
            errors, report = [f"raised {error!r}"], None
        if errors:
            failed += 1
            print(f"FAIL {name}: " + "; ".join(errors))
            if report:
                for line in report.violations + report.problems:
                    print(f"     {line}")
        else:
            passed += 1
            print(f"ok   {name}")
        return report

    def check(name: str, condition: bool, detail: str = "") -> None:
        nonlocal passed, failed
        if condition:
            passed += 1
            print(f"ok   {name}")
        else:
            failed += 1
            print(f"FAIL {name} {detail}")

    # --- valid requests, one per protocol -------------------------------------------
    report = case(
        "query (IAM CreateRole with tags) is valid",
        [_iam("CreateRole", RoleName="eksmgr-node", Path="/eksmgr/", AssumeRolePolicyDocument=TRUST,
              Tags__member__1__Key="Owner", Tags__member__1__Value="platform", Tags__member__2__Key="Tëam", Tags__member__2__Value="x y")],
        expect=[], ops={"IAM.CreateRole": 1},
    )
    case(
        "query (CloudFormation CreateStackSet with a list and an enum) is valid",
        [_cfn("CreateStackSet", StackSetName="EKSManagerSpokeAdmin", TemplateBody='{"Resources": {}}', PermissionModel="SERVICE_MANAGED",
              Capabilities__member__1="CAPABILITY_NAMED_IAM", AutoDeployment__Enabled="true", AutoDeployment__RetainStacksOnAccountRemoval="false")],
        expect=[], ops={"CloudFormation.CreateStackSet": 1},
    )
    case(
        "json (KMS CreateKey with tags, a bool, an enum) is valid",
        [_kms("CreateKey", {"Description": "eks secrets", "KeySpec": "SYMMETRIC_DEFAULT", "MultiRegion": False,
                            "Tags": [{"TagKey": "Owner", "TagValue": "platform"}]})],
        expect=[], ops={"KMS.CreateKey": 1},
    )
    principal = "arn:aws:iam::123456789012:role/eksmgr/admin"
    case(
        "rest-json (EKS CreateAccessEntry, DescribeAccessEntry, ListClusters) is valid",
        [
            _record("eks", "POST", "/clusters/workloads/access-entries",
                    json.dumps({"principalArn": principal, "kubernetesGroups": ["ops"], "type": "STANDARD", "tags": {"a": "b"}, "clientRequestToken": "t-1"}),
                    headers={"Content-Type": "application/json"}),
            _record("eks", "GET", "/clusters/workloads/access-entries/" + principal.replace(":", "%3A").replace("/", "%2F")),
            _record("eks", "GET", "/clusters", query="maxResults=100&include=all"),
        ],
        expect=[], ops={"EKS.CreateAccessEntry": 1, "EKS.DescribeAccessEntry": 1, "EKS.ListClusters": 1},
    )
    case(
        "rest-xml (S3 PutObject with headers, PutBucketTagging with an XML body) is valid",
        [
            _record("s3", "PUT", "/state-bucket/eksmgr/state.json", '{"serial": 1}', query="x-id=PutObject",
                    headers={"Content-Type": "application/json", "If-None-Match": "*", "Content-Length": "13", "X-Amz-Meta-Owner": "eksmgr"}),
            _record("s3", "PUT", "/state-bucket", query="tagging",
                    body='<?xml version="1.0" encoding="UTF-8"?><Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                         "<TagSet><Tag><Key>Owner</Key><Value>platform</Value></Tag></TagSet></Tagging>"),
        ],
        expect=[], ops={"S3.PutObject": 1, "S3.PutBucketTagging": 1},
    )
    user_data = base64.b64encode(b"#!/bin/bash\necho eksmgr\n").decode()
    run_instances = _ec2(
        "RunInstances", ImageId="ami-0123456789abcdef0", InstanceType="t3.medium", SubnetId="subnet-0a1b2c3d",
        SecurityGroupId__1="sg-0a1", SecurityGroupId__2="sg-0b2", IamInstanceProfile__Name="eksmgr-node",
        MetadataOptions__HttpTokens="required", MetadataOptions__HttpEndpoint="enabled", MetadataOptions__HttpPutResponseHopLimit="2",
        UserData=user_data, MinCount="1", MaxCount="1", ClientToken="eksmgr-3f2a",
        TagSpecification__1__ResourceType="instance", TagSpecification__1__Tag__1__Key="Name", TagSpecification__1__Tag__1__Value="eksmgr-node",
        TagSpecification__1__Tag__2__Key="eksmgr:cluster", TagSpecification__1__Tag__2__Value="workloads")
    describe_instances = _ec2("DescribeInstances", Filter__1__Name="tag:eksmgr:cluster", Filter__1__Value__1="workloads",
                              Filter__2__Name="instance-state-name", Filter__2__Value__1="pending", Filter__2__Value__2="running",
                              InstanceId__1="i-0a1", InstanceId__2="i-0b2")
    modify_groups = _ec2("ModifyInstanceAttribute", InstanceId="i-0a1", GroupId__1="sg-0a1", GroupId__2="sg-0c3")
    case(
        "ec2 (EC2 RunInstances, DescribeInstances, ModifyInstanceAttribute, ... with flattened lists and nested structures) is valid",
        [
            _ec2("DescribeSubnets", SubnetId__1="subnet-0a1b2c3d"),
            _ec2("DescribeVpcs", MaxResults="5", NextToken="token-1"),
            run_instances,
            describe_instances,
            modify_groups,
            _ec2("ModifyInstanceMetadataOptions", InstanceId="i-0a1", HttpTokens="required", HttpEndpoint="enabled", HttpPutResponseHopLimit="2"),
            _ec2("TerminateInstances", InstanceId__1="i-0a1"),
            _ec2("CreateTags", ResourceId__1="i-0a1", ResourceId__2="vol-0b2", Tag__1__Key="Owner", Tag__1__Value="platform"),
            _ec2("DeleteTags", ResourceId__1="i-0a1", Tag__1__Key="Owner"),
        ],
        expect=[], ops={"EC2.DescribeSubnets": 1, "EC2.DescribeVpcs": 1, "EC2.RunInstances": 1, "EC2.DescribeInstances": 1,
                        "EC2.ModifyInstanceAttribute": 1, "EC2.ModifyInstanceMetadataOptions": 1, "EC2.TerminateInstances": 1,
                        "EC2.CreateTags": 1, "EC2.DeleteTags": 1},
    )
    check("the ec2 RunInstances input was rebuilt (names, lists, nested structures, integers)",
          check_request(parse_record(run_instances)).params == {
              "ImageId": "ami-0123456789abcdef0", "InstanceType": "t3.medium", "SubnetId": "subnet-0a1b2c3d",
              "SecurityGroupIds": ["sg-0a1", "sg-0b2"], "IamInstanceProfile": {"Name": "eksmgr-node"},
              "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2},
              "UserData": user_data, "MinCount": 1, "MaxCount": 1, "ClientToken": "eksmgr-3f2a",
              "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Name", "Value": "eksmgr-node"},
                                                                         {"Key": "eksmgr:cluster", "Value": "workloads"}]}]},
          str(check_request(parse_record(run_instances)).params))
    check("the ec2 DescribeInstances filters and ModifyInstanceAttribute groups (GroupId.N) were rebuilt",
          check_request(parse_record(describe_instances)).params == {
              "Filters": [{"Name": "tag:eksmgr:cluster", "Values": ["workloads"]}, {"Name": "instance-state-name", "Values": ["pending", "running"]}],
              "InstanceIds": ["i-0a1", "i-0b2"]}
          and check_request(parse_record(modify_groups)).params == {"InstanceId": "i-0a1", "Groups": ["sg-0a1", "sg-0c3"]})
    round_trips = {
        "RunInstances": {"ImageId": "ami-1", "InstanceType": "t3.small", "MinCount": 1, "MaxCount": 2, "SecurityGroupIds": ["sg-1"],
                         "IamInstanceProfile": {"Name": "p"}, "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
                         "UserData": user_data, "ClientToken": "t", "EbsOptimized": True,
                         "NetworkInterfaces": [{"DeviceIndex": 0, "Ipv6Addresses": [{"Ipv6Address": "2001:db8::1"}], "Groups": ["sg-2"]}],
                         "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "k", "Value": "v"}]}]},
        "DescribeInstances": {"Filters": [{"Name": "tag:a", "Values": ["x", "y"]}], "InstanceIds": ["i-1"], "DryRun": False},
        "DescribeVpcs": {"MaxResults": 1000, "NextToken": "n"},
        "ModifyInstanceAttribute": {"InstanceId": "i-1", "Groups": ["sg-1", "sg-2"]},
        "CreateTags": {"Resources": ["i-1"], "Tags": [{"Key": "k", "Value": "v"}]},
    }
    mismatches = []
    for operation, params in round_trips.items():
        outcome = check_request(parse_record(_ec2_serialized(operation, params)))
        if outcome.params != params or outcome.violations or outcome.problem:
            mismatches.append(f"{operation}: {outcome.params} {[v.render() for v in outcome.violations]} {outcome.problem}")
    check("botocore's EC2Serializer output decodes back to its input (queryName, locationName, nested lists)", not mismatches, "; ".join(mismatches))
    check("the query list and tags were rebuilt",
          report is not None and "Tëam" in json.dumps(check_request(parse_record(_iam("CreateRole", RoleName="r", AssumeRolePolicyDocument=TRUST, Tags__member__1__Key="Tëam", Tags__member__1__Value="v"))).params, ensure_ascii=False))

    # --- invalid requests --------------------------------------------------------------
    case("missing required member (IAM CreateRole without AssumeRolePolicyDocument)",
         [_iam("CreateRole", RoleName="eksmgr-node")],
         expect=["IAM.CreateRole: AssumeRolePolicyDocument: missing required member"])
    case("too-long string (IAM CreateRole RoleName of 65 characters)",
         [_iam("CreateRole", RoleName="r" * 65, AssumeRolePolicyDocument=TRUST)],
         expect=["IAM.CreateRole: RoleName: longer than the maximum length 64: 65 characters"])
    case("too-short string (botocore's own min check)",
         [_iam("CreateRole", RoleName="", AssumeRolePolicyDocument=TRUST)],
         expect=["RoleName: length 0 is below the minimum length 1", "RoleName: does not match the pattern"])
    case("bad enum (CloudFormation CreateStackSet PermissionModel)",
         [_cfn("CreateStackSet", StackSetName="s", TemplateBody="{}", PermissionModel="ORG_MANAGED")],
         expect=["CloudFormation.CreateStackSet: PermissionModel: not one of the enum values SERVICE_MANAGED, SELF_MANAGED"])
    case("pattern mismatch (IAM CreateRole RoleName with a space)",
         [_iam("CreateRole", RoleName="bad name", AssumeRolePolicyDocument=TRUST)],
         expect=["IAM.CreateRole: RoleName: does not match the pattern [\\w+=,.@-]+"])
    case("pattern mismatch inside a list (\\p{L} tag key with '#')",
         [_iam("TagRole", RoleName="r", Tags__member__1__Key="a#b", Tags__member__1__Value="v")],
         expect=["IAM.TagRole: Tags[0].Key: does not match the pattern"])
    case("unknown member (json body)",
         [_kms("CreateAlias", {"AliasName": "alias/eks", "TargetKeyId": "k-1", "Bogus": 1})],
         expect=["KMS.CreateAlias: Bogus: unknown member"])
    case("unknown member (query)",
         [_iam("GetRole", RoleName="r", Bogus="1")],
         expect=["IAM.GetRole: Bogus: unknown member"])
    case("unknown member (rest-json body) and a URI member sent in the body",
         [_record("eks", "POST", "/clusters/c/access-entries", json.dumps({"principalArn": principal, "name": "c", "extra": 1}))],
         expect=["EKS.CreateAccessEntry: extra: unknown member", "EKS.CreateAccessEntry: name: wire format: member sent in the body"])
    case("numeric maximum (EKS ListClusters maxResults=101, a query string member)",
         [_record("eks", "GET", "/clusters", query="maxResults=101")],
         expect=["EKS.ListClusters: maxResults: greater than the maximum value 100"])
    case("list too long (IAM TagRole with 51 tags)",
         [_iam("TagRole", RoleName="r", **{f"Tags__member__{i}__Key": f"k{i}" for i in range(1, 52)}, **{f"Tags__member__{i}__Value": "v" for i in range(1, 52)})],
         expect=["IAM.TagRole: Tags: longer than the maximum length 50: 51 items"])
    case("wrong type (json: a string for a boolean)",
         [_kms("CreateKey", {"MultiRegion": "yes"})],
         expect=["KMS.CreateKey: MultiRegion: invalid type str"])
    case("wrong type (query: not a boolean)",
         [_cfn("CreateStackSet", StackSetName="s", AutoDeployment__Enabled="yes")],
         expect=["CloudFormation.CreateStackSet: AutoDeployment.Enabled: wire format: boolean must be true or false",
                 "CloudFormation.CreateStackSet: AutoDeployment.Enabled: invalid type str"])
    case("bad XML member (rest-xml unknown element)",
         [_record("s3", "PUT", "/b", query="tagging", body='<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet/><Extra>1</Extra></Tagging>')],
         expect=["S3.PutBucketTagging: Tagging.Extra: unknown member"])
    case("query list with a gap in its indexes",
         [_iam("TagRole", RoleName="r", Tags__member__1__Key="a", Tags__member__1__Value="v", Tags__member__3__Key="b", Tags__member__3__Value="v")],
         expect=["IAM.TagRole: Tags.member: wire format: list indexes are not 1..N"])
    case("ec2: missing required member (RunInstances without MinCount)",
         [_ec2("RunInstances", ImageId="ami-1", MaxCount="1")],
         expect=["EC2.RunInstances: MinCount: missing required member"])
    case("ec2: unknown member",
         [_ec2("DescribeVpcs", MaxResults="5", Bogus="1")],
         expect=["EC2.DescribeVpcs: Bogus: unknown member"])
    case("ec2: a list in the query protocol's .member.N form",
         [_ec2("TerminateInstances", InstanceId__member__1="i-0a1")],
         expect=["EC2.TerminateInstances: InstanceIds: wire format: EC2 lists are flattened: items must be InstanceId.N, not .member.N",
                 "EC2.TerminateInstances: InstanceIds: invalid type dict"])
    case("ec2: a nested list in the .member.N form (Filter.1.Value.member.1)",
         [_ec2("DescribeInstances", Filter__1__Name="tag:a", Filter__1__Value__member__1="x")],
         expect=["EC2.DescribeInstances: Filters[0].Values: wire format: EC2 lists are flattened: items must be Value.N",
                 "EC2.DescribeInstances: Filters[0].Values: invalid type dict"])
    case("ec2: a member sent under its name, not its wire name (Groups.1, not GroupId.1)",
         [_ec2("ModifyInstanceAttribute", InstanceId="i-0a1", Groups__1="sg-0a1")],
         expect=["EC2.ModifyInstanceAttribute: Groups: wire format: the member Groups is sent as GroupId"])
    case("ec2: below the minimum value, a bad enum, a wrong API version",
         [_ec2("DescribeVpcs", MaxResults="4"),
          _ec2("ModifyInstanceMetadataOptions", InstanceId="i-0a1", HttpTokens="sometimes"),
          _record("ec2", "POST", "/", _form("DescribeSubnets", "2010-05-08"), headers=FORM)],  # type: ignore[arg-type]
         expect=["EC2.DescribeVpcs: MaxResults: less than the minimum value 5",
                 "EC2.ModifyInstanceMetadataOptions: HttpTokens: not one of the enum values optional, required",
                 "EC2.DescribeSubnets: Version: wire format: expected the API version 2016-11-15"])
    case("an unknown operation is a problem, not a pass",
         [_kms("MakeCoffee", {})], expect=[], problems=1)
    case("boto3 and /moto-api/ requests are skipped",
         [_iam("CreateRole", RoleName="bad name") | {"headers": {**FORM, "User-Agent": "Boto3/1.40 md/Botocore#1.40"}},
          _record("s3", "POST", "/moto-api/reset")],
         expect=[], ops={})

    # --- patterns ------------------------------------------------------------------------
    xml_chars = compile_java_regex("[\\u0009\\u000A\\u000D\\u0020-\\u007E\\u0085\\u00A0-\\uD7FF\\uE000-\\uFFFD\\u10000-\\u10FFFF]+")
    check("pattern: \\u10000-\\u10FFFF means the supplementary code points", bool(xml_chars.fullmatch("ok \U0001F600")) and not xml_chars.fullmatch("bad \x01"))
    check("pattern: \\w is ASCII as in Java", not compile_java_regex("[\\w+=,.@-]+").fullmatch("rôle"))
    check("pattern: \\p{L} is any letter", bool(compile_java_regex("[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]+").fullmatch("Tëam 1")))
    check("pattern: Java's . does not match \\r", not compile_java_regex("a.b").fullmatch("a\rb") and bool(compile_java_regex("a.b").fullmatch("a-b")))
    check("pattern: whole-value match", not compile_java_regex("[0-9]{12}").fullmatch("1234567890123"))
    try:
        compile_java_regex("[a-z&&[^b]]")
        check("pattern: an unsupported Java construct is a checker problem", False)
    except CheckerProblem:
        check("pattern: an unsupported Java construct is a checker problem", True)
    problems = []
    for name in ("cloudformation", "ec2", "ecr", "eks", "iam", "kms", "organizations", "s3", "sts"):
        model = service_model(name)
        for shape_name in model.shape_names:
            pattern = model.shape_for(shape_name).metadata.get("pattern")
            if pattern is not None:
                try:
                    compile_java_regex(pattern)
                except CheckerProblem as problem:
                    problems.append(str(problem))
    check("pattern: every pattern of the services eksmgr uses compiles", not problems, "; ".join(problems))

    # --- the whole run -------------------------------------------------------------------
    with tempfile.TemporaryDirectory() as scratch:
        empty_log = os.path.join(scratch, "empty.jsonl")
        with open(empty_log, "w", encoding="utf-8") as out:
            out.write(json.dumps(_iam("GetRole", RoleName="r") | {"headers": {"User-Agent": "Boto3/1.40"}}) + "\n")
        with open(os.devnull, "w") as devnull:
            stdout, sys.stdout = sys.stdout, devnull
            try:
                status_empty = main_check(empty_log, os.path.join(scratch, "t0"), False)
            finally:
                sys.stdout = stdout
        check("a log with no eksmgr request fails", status_empty == 1)

        bad_template = json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {"RoleName": "x"}}}})
        good_template = json.dumps({"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}})
        paths = write_templates([("CreateStackSet", bad_template), ("UpdateStackSet", good_template), ("CreateStackSet", bad_template)], os.path.join(scratch, "t1"))
        check("templates are written once each", len(paths) == 2, str(paths))
        clean_bad, output_bad = run_cfn_lint([paths[0]], ["us-east-1"])
        check("cfn-lint flags a template with an error (a role without AssumeRolePolicyDocument)", not clean_bad and "E3003" in output_bad, output_bad)
        clean_good, output_good = run_cfn_lint([paths[1]], ["us-east-1"])
        check("cfn-lint passes a clean template", clean_good, output_good)

    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", nargs="?", help="the request log (JSON lines) to check")
    parser.add_argument("--template-out", metavar="DIR", help="where to write the StackSet templates (default: a temporary directory)")
    parser.add_argument("--require-template", action="store_true", help="fail when the log has no StackSet TemplateBody")
    parser.add_argument("--self-test", action="store_true", help="check the checker on made-up requests")
    args = parser.parse_args(argv)
    if args.self_test:
        return self_test()
    if not args.log:
        parser.error("LOG is required (or --self-test)")
    if not os.path.isfile(args.log):
        print(f"check_requests: {args.log}: no such file (was EKSMGR_EMULATOR_REQUEST_LOG set for the emulator?)")
        return 1
    return main_check(args.log, args.template_out, args.require_template)


if __name__ == "__main__":
    sys.exit(main())
