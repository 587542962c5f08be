"""The agent's HTTP/JSON API, independent of the transport.

    GET    /v1/health                      liveness and version
    GET    /v1/facts                       hardware and capability facts
    GET    /v1/journal?limit=&kind=&resource=
    GET    /v1/<kind>                      list resources of a kind
    GET    /v1/<kind>/<id>                 one resource (404 when absent)
    PUT    /v1/<kind>/<id>                 converge to the wanted state in the body
    DELETE /v1/<kind>/<id>                 converge to absent

PUT and DELETE take ``dry_run`` (body or query) and answer
``{"changed": bool, "diff": {"before": ..., "after": ...}, "resource": ...}``.

Inputs are strict: a query key the endpoint does not know (``?dryrun=true``), a
``dry_run`` other than true or false, or a body that is not a JSON object is a 400
naming the problem; nothing is applied.
"""

import difflib
import json
import threading
from urllib.parse import parse_qsl, unquote, urlsplit

from . import __version__, roles
from .drivers.facts import gather_facts
from .errors import AgentError, InvalidField, NotFound
from .journal import Journal


class Api:
    def __init__(self, config):
        self.config = config
        self.journal = Journal(config.journal_path)
        # only the drivers of this agent's role(s) (roles.py)
        self.drivers = {cls.kind: cls(config) for cls in roles.driver_classes(config.roles)}
        self._locks = {}
        self._locks_guard = threading.Lock()

    def _lock(self, key):
        with self._locks_guard:
            return self._locks.setdefault(key, threading.Lock())

    # -- entry point -------------------------------------------------------
    def handle(self, method, target, body):
        """Return (status, payload). Never raises."""
        try:
            return 200, self._route(method, target, body)
        except AgentError as exc:
            return exc.status, {"error": exc.to_dict()}
        except Exception as exc:  # a bug or an unexpected node state: still structured
            return 500, {"error": {"status": 500, "code": "internal",
                                   "message": "%s: %s" % (type(exc).__name__, exc)}}

    def _route(self, method, target, body):
        url = urlsplit(target)
        query = _query(url.query)
        parts = [unquote(p) for p in url.path.strip("/").split("/") if p]
        if not parts or parts[0] != "v1":
            raise NotFound("no such endpoint %r; the API lives under /v1" % url.path)
        parts = parts[1:]
        if body is not None and not isinstance(body, dict):
            # a string, array or number is never read as an object
            raise InvalidField("body", "expected a JSON object ({...}), got %s" % _json_type(body))
        if method == "GET" and parts == ["health"]:
            _known_keys(query, ())
            return {"status": "ok", "version": __version__}
        if method == "GET" and parts == ["facts"]:
            _known_keys(query, ())
            return gather_facts(self.config)
        if method == "GET" and parts == ["journal"]:
            _known_keys(query, ("kind", "limit", "resource"))
            limit = _int_query(query, "limit", 100, 1, 10000)
            return {"entries": self.journal.entries(limit, query.get("kind"), query.get("resource"))}
        if not parts or parts[0] not in self.drivers:
            raise NotFound("no such resource kind %r; known kinds: %s (this agent's roles: %s)"
                           % (parts[0] if parts else "", ", ".join(sorted(self.drivers)),
                              ", ".join(self.config.roles)))
        driver = self.drivers[parts[0]]
        ident = "/".join(parts[1:])
        # the query keys a kind reads (bridges: netns; volumes: vg); PUT and DELETE add dry_run
        keys = tuple(getattr(driver, "query_keys", ()))
        _known_keys(query, keys + (("dry_run",) if method in ("PUT", "DELETE") else ()))
        if not ident:
            if method != "GET":
                raise InvalidField("path", "%s needs a resource name: /v1/%s/<name>" % (method, driver.kind))
            return {driver.kind: driver.list(query)}
        if method == "GET":
            spec = driver.spec_from_path(ident, query)
            current = driver.read(spec)
            if current is None:
                raise NotFound("%s %r does not exist" % (driver.kind, ident))
            return current
        if method in ("PUT", "DELETE"):
            body = dict(body or {})
            dry_run = body.pop("dry_run", None)
            if dry_run is not None and not isinstance(dry_run, bool):
                raise InvalidField("dry_run", "expected the JSON boolean true or false, got %s %s"
                                   % (_json_type(dry_run), json.dumps(dry_run)[:40]))
            if "dry_run" in query:
                # only the words true and false: "on", "yes" or "1" are a typo's guess
                if query["dry_run"] not in ("true", "false"):
                    raise InvalidField("dry_run", "the query's dry_run must be true or false, not %r"
                                       % query["dry_run"][:40])
                asked = query["dry_run"] == "true"
                if dry_run is not None and dry_run != asked:
                    raise InvalidField("dry_run", "the body says %s but the query says %s"
                                       % (json.dumps(dry_run), query["dry_run"]))
                dry_run = asked
            dry_run = bool(dry_run)
            if method == "DELETE":
                body = dict(driver.spec_from_path(ident, query), state="absent")
            else:
                for key, value in driver.spec_from_path(ident, query).items():
                    if body.setdefault(key, value) != value:
                        raise InvalidField(key, "the body says %r but the path says %r" % (body[key], value))
            return self.converge(driver, body, dry_run)
        raise AgentError("method %s is not allowed here" % method, status=405, code="method_not_allowed")

    def converge(self, driver, body, dry_run):
        spec = driver.schema.check(body)
        driver.validate(spec)
        identity = driver.identity(spec)
        # A driver whose resources share something (nodes: the address pool) locks wider.
        key = driver.lock_key(spec) if hasattr(driver, "lock_key") else (driver.kind, identity)
        with self._lock(key):
            before = driver.read(spec)
            predicted = driver.predict(spec, before)
            changed = predicted != before
            after = before
            if changed and not dry_run:
                op = self.journal.begin(driver.kind, identity, spec.get("state", "present"), _journaled(driver, spec))
                try:
                    driver.converge(spec, before)
                except AgentError as exc:
                    self.journal.end(op, driver.kind, identity, error=exc.to_dict())
                    raise
                except Exception as exc:
                    self.journal.end(op, driver.kind, identity, error={"message": str(exc)})
                    raise
                after = driver.read(spec)
                self.journal.end(op, driver.kind, identity, after=after)
            elif changed:
                after = predicted
        return {"changed": changed, "dry_run": dry_run,
                "diff": {"before": before, "after": after}, "resource": after}


def _journaled(driver, spec):
    """The request as the journal keeps it: the driver's secret fields masked
    (``"a.b"`` names field b of the object in field a)."""
    return _masked(spec, getattr(driver, "secret_fields", ()))


def _masked(obj, secret, prefix=""):
    out = {}
    for k, v in obj.items():
        path = prefix + k
        if path in secret and v is not None:
            v = "<secret>"
        elif isinstance(v, dict) and any(s.startswith(path + ".") for s in secret):
            v = _masked(v, secret, path + ".")
        out[k] = v
    return out


def _query(text):
    """The query string as {key: value}; a key given twice is refused, not guessed at."""
    try:
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=32)
    except ValueError as exc:
        raise InvalidField("query", "cannot read the query string: %s" % exc)
    query = {}
    for key, value in pairs:
        if key in query:
            raise InvalidField(key, "is given twice in the query string")
        query[key] = value
    return query


def _known_keys(query, known):
    for key in sorted(query):
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            raise InvalidField(key, "unknown query parameter%s" % (
                "; did you mean %r?" % close[0] if close else
                "; this endpoint takes %s" % (", ".join(known) if known else "none")))


def _json_type(value):
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "an array", dict: "an object", type(None): "null"}.get(type(value), "a value")


def _int_query(query, name, default, minimum, maximum):
    text = str(query.get(name, default))
    if not (text.isascii() and text.isdigit()) or not minimum <= int(text) <= maximum:
        raise InvalidField(name, "expected a whole number from %d to %d, not %r" % (minimum, maximum, text[:40]))
    return int(text)
