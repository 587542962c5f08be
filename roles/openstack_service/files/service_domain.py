# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A service's own Keystone domain, idempotently (what heat-keystone-setup-domain
does for Heat's stacks, what Magnum's trustees need): the domain, its admin user
(with that password: a rotated one is set again) holding the admin role on the
domain, and the roles the service gives its users. The cloud admin's credentials
come from the OS_* environment; SERVICE_NAME, SERVICE_DOMAIN, SERVICE_DOMAIN_ADMIN,
SERVICE_DOMAIN_ADMIN_PASSWORD and SERVICE_ROLES (comma-separated) say what to make.
Prints {"changed": bool, "actions": [...]} and never a password."""

import json
import os
import sys
import time

import openstack
from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3


def password_works(auth_url, user_id, password):
    auth = v3.Password(auth_url=auth_url, user_id=user_id, password=password, unscoped=True)
    try:
        ks_session.Session(auth=auth).get_token()
        return True
    except ks_exceptions.Unauthorized:
        return False


def main(notes):
    service = os.environ.get("SERVICE_NAME", "the service")
    domain_name = os.environ["SERVICE_DOMAIN"]
    admin_name = os.environ["SERVICE_DOMAIN_ADMIN"]
    password = os.environ["SERVICE_DOMAIN_ADMIN_PASSWORD"]
    roles = [r for r in os.environ.get("SERVICE_ROLES", "").split(",") if r]
    conn = openstack.connect()
    identity = conn.identity
    actions = []

    domain = identity.find_domain(domain_name)
    if domain is None:
        domain = identity.create_domain(name=domain_name, description="Owns the users and projects %s makes" % service)
        actions.append("create domain %s" % domain_name)
    elif not domain.is_enabled:
        domain = identity.update_domain(domain, is_enabled=True)
        actions.append("enable domain %s" % domain_name)

    user = identity.find_user(admin_name, domain_id=domain.id)
    if user is None:
        user = identity.create_user(name=admin_name, domain_id=domain.id, password=password, is_enabled=True,
                                    description="Manages the users and projects %s makes" % service)
        actions.append("create user %s in %s" % (admin_name, domain_name))
    elif not password_works(os.environ["OS_AUTH_URL"], user.id, password):
        identity.update_user(user, password=password, is_enabled=True)
        actions.append("set the password of %s" % admin_name)

    admin = identity.find_role("admin", ignore_missing=False)
    if not identity.validate_user_has_domain_role(domain, user, admin):
        identity.assign_domain_role_to_user(domain, user, admin)
        actions.append("grant admin on domain %s to %s" % (domain_name, admin_name))

    for role in roles:
        if identity.find_role(role) is None:
            identity.create_role(name=role)
            actions.append("create role %s" % role)

    print(json.dumps({"changed": bool(actions), "actions": actions, "notes": notes}))
    return 0


# What a Keystone busy with a restart or a reload answers: worth another try.
TRANSIENT = (ks_exceptions.ConnectFailure, ks_exceptions.ConnectTimeout, ks_exceptions.DiscoveryFailure,
             ks_exceptions.ServiceUnavailable, ks_exceptions.InternalServerError, ks_exceptions.BadGateway,
             ks_exceptions.GatewayTimeout)
TRIES, PAUSE = 6, 5


def transient(exc):
    if isinstance(exc, TRANSIENT):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(exc, openstack.exceptions.HttpException) and status is not None and status >= 500


def redact(text):
    for name in ("SERVICE_DOMAIN_ADMIN_PASSWORD", "OS_PASSWORD"):
        if os.environ.get(name):
            text = text.replace(os.environ[name], "********")
    return text


def report_failure(exc, notes):
    """One JSON line saying what failed, with no secret in it (the task shows it)."""
    msg = redact("%s: %s" % (type(exc).__name__, exc))
    print(json.dumps({"changed": False, "actions": [], "notes": notes, "failed": True, "msg": msg[:2000]}))
    return 1


def run():
    # The retries are told in the result, never on stderr: over SSH with a terminal
    # (Ansible's script module) stderr reaches the task's stdout, and the task reads
    # its last line as the result.
    notes = []
    for attempt in range(1, TRIES + 1):
        try:
            return main(notes)
        except Exception as exc:  # every failure is reported, never a traceback with values
            if attempt < TRIES and transient(exc):
                notes.append(redact("attempt %d: %s: %s; again in %d s" % (attempt, type(exc).__name__, exc, PAUSE)))
                time.sleep(PAUSE)
                continue
            return report_failure(exc, notes)


if __name__ == "__main__":
    sys.exit(run())
