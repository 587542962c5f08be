"""A small declarative schema for request bodies.

Each resource kind declares its fields once; validation fills defaults, rejects
unknown fields (suggesting the closest known name) and reports the exact path of
the first bad value, e.g. ``nics[1].mac``.
"""

import difflib
import ipaddress
import posixpath
import re

from .errors import InvalidField
from .node_schema import address_problem, network_problem

# control characters (C0, DEL, C1) but tab and newline: never in any string field (a
# terminal obeys escape codes when the value is printed). A field with a pattern (every
# name, address and path) is matched whole, so it refuses tab and newline too.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_MISSING = object()


class Field:
    def __init__(self, required=False, default=None, doc=""):
        self.required = required
        self.default = default
        self.doc = doc

    def check(self, value, path):  # pragma: no cover - abstract
        raise NotImplementedError


class Str(Field):
    def __init__(self, pattern=None, max_len=None, hint=None, **kw):
        super().__init__(**kw)
        self.pattern = re.compile(pattern) if pattern else None
        self.max_len = max_len
        self.hint = hint

    def check(self, value, path):
        if not isinstance(value, str):
            raise InvalidField(path, "expected a string, got %s" % type(value).__name__)
        if self.max_len is not None and len(value) > self.max_len:
            raise InvalidField(path, "%r is %d characters long; at most %d are allowed"
                               % (value, len(value), self.max_len))
        if CONTROL.search(value):
            raise InvalidField(path, "%r holds a control character (an escape code)%s"
                               % (value, "; " + self.hint if self.hint else ""))
        if self.pattern and not self.pattern.fullmatch(value):
            raise InvalidField(path, "%r is not valid%s" % (value, "; " + self.hint if self.hint else ""))
        return value


class Int(Field):
    def __init__(self, minimum=None, maximum=None, **kw):
        super().__init__(**kw)
        self.minimum = minimum
        self.maximum = maximum

    def check(self, value, path):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidField(path, "expected an integer, got %r" % (value,))
        if self.minimum is not None and value < self.minimum:
            raise InvalidField(path, "%d is below the minimum %d" % (value, self.minimum))
        if self.maximum is not None and value > self.maximum:
            raise InvalidField(path, "%d is above the maximum %d" % (value, self.maximum))
        return value


class Bool(Field):
    def check(self, value, path):
        if not isinstance(value, bool):
            raise InvalidField(path, "expected true or false, got %r" % (value,))
        return value


class Enum(Field):
    def __init__(self, *choices, **kw):
        super().__init__(**kw)
        self.choices = choices

    def check(self, value, path):
        if value not in self.choices:
            raise InvalidField(path, "%r is not one of %s" % (value, ", ".join(map(str, self.choices))))
        return value


class Cidr(Field):
    """An interface address with prefix length, IPv4 or IPv6 (``10.0.0.1/24``)."""

    def check(self, value, path):
        if not isinstance(value, str):
            raise InvalidField(path, "expected an address like 10.0.0.1/24")
        try:
            iface = ipaddress.ip_interface(value)
        except ValueError:
            raise InvalidField(path, "%r is not an address with a prefix length, like 10.0.0.1/24" % (value,))
        if "/" not in value:
            raise InvalidField(path, "%r has no prefix length; write it like %s/24" % (value, value))
        problem = address_problem(iface.ip) or network_problem(iface.network)
        if problem:
            raise InvalidField(path, "%r: %s" % (value, problem))
        return str(iface)


class Ip(Field):
    """One IP address, normalized. Never the unspecified address (0.0.0.0, ::), a
    multicast or broadcast one, or one with a zone (fe80::1%eth0); loopback only
    with ``loopback=True``."""

    def __init__(self, loopback=False, **kw):
        super().__init__(**kw)
        self.loopback = loopback

    def check(self, value, path):
        if not isinstance(value, str):
            raise InvalidField(path, "expected an IP address, got %s" % type(value).__name__)
        try:
            ip = ipaddress.ip_address(value) if "%" not in value else None
        except ValueError:
            ip = None
        if ip is None:
            raise InvalidField(path, "%r is not an IP address; write it like 192.0.2.10 or 2001:db8::10" % (value,))
        problem = address_problem(ip, loopback=self.loopback)
        if problem:
            raise InvalidField(path, "%s: %s" % (value, problem))
        return str(ip)


class Path(Str):
    """An absolute path, normalized (``/a//b/`` is ``/a/b``); no ``..`` component,
    which the kernel resolves through symbolic links and a string check cannot."""

    def __init__(self, max_len=4096, **kw):
        kw.setdefault("hint", "give an absolute path like /var/lib/images/a.qcow2")
        kw.setdefault("pattern", r"[^\x00-\x1f\x7f-\x9f]+")  # no newline either; '/' first: below
        super().__init__(max_len=max_len, **kw)

    def check(self, value, path):
        value = super().check(value, path)
        if not value.startswith("/"):
            raise InvalidField(path, "%r is not an absolute path; %s" % (value, self.hint))
        if ".." in value.split("/"):
            raise InvalidField(path, "%r has a '..' component; give the path without it" % (value,))
        normal = posixpath.normpath(value)
        return "/" + normal.lstrip("/")  # normpath keeps a leading '//'


class Mac(Str):
    def __init__(self, **kw):
        super().__init__(pattern=r"[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}", hint="write it like 52:54:00:12:34:56", **kw)

    def check(self, value, path):
        return super().check(value, path).lower()


class List(Field):
    def __init__(self, item, min_items=0, unique=False, **kw):
        super().__init__(**kw)
        self.item = item
        self.min_items = min_items
        self.unique = unique

    def check(self, value, path):
        if not isinstance(value, list):
            raise InvalidField(path, "expected a list, got %s" % type(value).__name__)
        if len(value) < self.min_items:
            raise InvalidField(path, "needs at least %d item(s)" % self.min_items)
        out = [self.item.check(v, "%s[%d]" % (path, i)) for i, v in enumerate(value)]
        if self.unique:
            seen = set()
            for i, v in enumerate(out):
                key = repr(v)
                if key in seen:
                    raise InvalidField("%s[%d]" % (path, i), "%r is listed twice" % (v,))
                seen.add(key)
        return out


class Obj(Field):
    def __init__(self, fields, **kw):
        super().__init__(**kw)
        self.fields = fields

    def check(self, value, path=""):
        if not isinstance(value, dict):
            raise InvalidField(path or "body", "expected an object, got %s" % type(value).__name__)
        for key in value:
            if key not in self.fields:
                close = difflib.get_close_matches(key, list(self.fields), n=1)
                hint = "; did you mean %r?" % close[0] if close else "; known fields: %s" % ", ".join(sorted(self.fields))
                raise InvalidField(_join(path, key), "unknown field" + hint)
        out = {}
        for name, field in self.fields.items():
            raw = value.get(name, _MISSING)
            sub = _join(path, name)
            if raw is _MISSING or raw is None:
                if field.required:
                    raise InvalidField(sub, "is required")
                out[name] = field.default() if callable(field.default) else field.default
            else:
                out[name] = field.check(raw, sub)
        return out


def _join(path, name):
    return "%s.%s" % (path, name) if path else name


# Linux interface names (the kernel's dev_valid_name): 1-15 bytes, no '/', ':' or
# whitespace, not '.' or '..'. Patterns are matched whole (fullmatch): a trailing
# newline is refused, as everything else outside the pattern.
IFNAME = Str(required=True, max_len=15, pattern=r"(?!\.\.?\Z)[A-Za-z0-9_.\-@+]+",
             hint="use 1-15 letters, digits, '-', '_' or '.' (not '.' or '..')")
# a namespace is a file under /run/netns: no '/', not '.' or '..'
NETNS = Str(pattern=r"(?!\.\.?\Z)[A-Za-z0-9_.\-]+", max_len=64,
            hint="use a network namespace name as 'ip netns' lists it: letters, digits, '-', '_' or '.', "
                 "not '.' or '..'")
NAME = Str(required=True, max_len=64, pattern=r"[A-Za-z0-9][A-Za-z0-9_.\-+]*",
           hint="start with a letter or digit; then letters, digits, '-', '_', '.', '+'")
