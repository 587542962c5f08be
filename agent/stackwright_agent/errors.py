"""Structured errors: every failure the API returns carries an HTTP status, a
machine-readable code, a message for humans and, where one is to blame, the field."""


class AgentError(Exception):
    status = 500
    code = "internal"

    def __init__(self, message, field=None, status=None, code=None):
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code

    def to_dict(self):
        body = {"status": self.status, "code": self.code, "message": self.message}
        if self.field:
            body["field"] = self.field
        return body


class InvalidField(AgentError):
    """The request is malformed or names something that does not exist."""

    status = 400
    code = "invalid_field"

    def __init__(self, field, message):
        super().__init__("%s: %s" % (field, message), field=field)


class NotFound(AgentError):
    status = 404
    code = "not_found"


class Conflict(AgentError):
    """The wanted state cannot be reached from the current one (e.g. shrinking an LV)."""

    status = 409
    code = "conflict"


class Unsupported(AgentError):
    """The node lacks a capability the request needs (e.g. no device-mapper)."""

    status = 422
    code = "unsupported"


class CommandFailed(AgentError):
    status = 500
    code = "command_failed"
