#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: Stackwright contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: mariadb_database
short_description: A MariaDB database and the one account that owns it
version_added: 0.1.0
description:
  - Makes a database exist with a user that has every privilege on it, from any of O(hosts), with the given password.
  - Connects as root over the server's Unix socket (MariaDB's C(unix_socket) authentication), so no root password is
    needed or stored.
  - A password is compared with the stored hash, so an unchanged password reports no change and a new one is set.
  - Check mode predicts the change without making it.
requirements:
  - PyMySQL on the node (Debian package C(python3-pymysql))
options:
  name:
    description: Name of the database.
    type: str
    required: true
  user:
    description: The account that owns the database; defaults to O(name).
    type: str
  password:
    description: The account's password.
    type: str
    required: true
  hosts:
    description: Host parts of the account (C(user@host)); each gets the same password and privileges.
    type: list
    elements: str
    default: ['%', localhost]
  state:
    description: V(absent) drops the database and the accounts.
    type: str
    choices: [absent, present]
    default: present
  login_unix_socket:
    description: The server's Unix socket.
    type: path
    default: /run/mysqld/mysqld.sock
attributes:
  check_mode:
    support: full
    description: Reads the server's catalog and reports what it would create or set.
  diff_mode:
    support: none
    description: The C(actions) list says what changed.
author:
  - Stackwright contributors (@stackwright)
"""

EXAMPLES = r"""
- name: Nova's API database
  stackwright.cloud.mariadb_database:
    name: nova_api
    user: nova
    password: "{{ overcloud_secrets.nova_database_password }}"
  no_log: true
"""

RETURN = r"""
actions:
  description: What was (or, in check mode, would be) done.
  returned: always
  type: list
  elements: str
  sample: ["create database nova_api", "create user nova@%", "grant all on nova_api to nova@%"]
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

try:
    import pymysql
    PYMYSQL_ERROR = None
except ImportError:
    PYMYSQL_ERROR = traceback.format_exc()


def quote_name(name):
    return "`%s`" % name.replace("`", "``")


def main():
    module = AnsibleModule(
        argument_spec=dict(
            name=dict(type="str", required=True),
            user=dict(type="str"),
            password=dict(type="str", required=True, no_log=True),
            hosts=dict(type="list", elements="str", default=["%", "localhost"]),
            state=dict(type="str", choices=["absent", "present"], default="present"),
            login_unix_socket=dict(type="path", default="/run/mysqld/mysqld.sock"),
        ),
        supports_check_mode=True,
    )
    if PYMYSQL_ERROR:
        module.fail_json(msg=missing_required_lib("PyMySQL (python3-pymysql)"), exception=PYMYSQL_ERROR)
    p = module.params
    user = p["user"] or p["name"]
    try:
        conn = pymysql.connect(unix_socket=p["login_unix_socket"], user="root", autocommit=True)
    except pymysql.MySQLError as e:
        module.fail_json(msg="cannot connect as root through %s: %s" % (p["login_unix_socket"], e))

    actions = []

    def run(sql, args=None, action=None):
        if action:
            actions.append(action)
            if module.check_mode:
                return None
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()

    try:
        db_exists = bool(run("SELECT 1 FROM information_schema.schemata WHERE schema_name = %s", (p["name"],)))
        if p["state"] == "absent":
            if db_exists:
                run("DROP DATABASE %s" % quote_name(p["name"]), action="drop database %s" % p["name"])
            for host in p["hosts"]:
                if run("SELECT 1 FROM mysql.user WHERE user = %s AND host = %s", (user, host)):
                    run("DROP USER %s@%s", (user, host), action="drop user %s@%s" % (user, host))
            module.exit_json(changed=bool(actions), actions=actions)

        if not db_exists:
            run("CREATE DATABASE %s CHARACTER SET utf8mb4" % quote_name(p["name"]),
                action="create database %s" % p["name"])
        for host in p["hosts"]:
            rows = run("SELECT authentication_string = PASSWORD(%s) FROM mysql.user WHERE user = %s AND host = %s",
                       (p["password"], user, host))
            if not rows:
                run("CREATE USER %s@%s IDENTIFIED BY %s", (user, host, p["password"]),
                    action="create user %s@%s" % (user, host))
            elif not rows[0][0]:
                run("ALTER USER %s@%s IDENTIFIED BY %s", (user, host, p["password"]),
                    action="set the password of %s@%s" % (user, host))
            # GRANT stores the database name as written; "_" may have been escaped by whoever granted it
            granted = bool(rows) and bool(run(
                "SELECT 1 FROM mysql.db WHERE user = %s AND host = %s AND db IN (%s, %s) AND Alter_priv = 'Y' "
                "AND Create_priv = 'Y' AND Drop_priv = 'Y' AND Index_priv = 'Y' AND References_priv = 'Y'",
                (user, host, p["name"], p["name"].replace("_", "\\_"))))
            if not granted:
                run("GRANT ALL PRIVILEGES ON %s.* TO %%s@%%s" % quote_name(p["name"]), (user, host),
                    action="grant all on %s to %s@%s" % (p["name"], user, host))
    except pymysql.MySQLError as e:
        module.fail_json(msg="database %s: %s" % (p["name"], e), actions=actions)
    finally:
        conn.close()
    module.exit_json(changed=bool(actions), actions=actions)


if __name__ == "__main__":
    main()
