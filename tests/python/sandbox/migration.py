"""What a Python migration sees of the world, chosen by the `attack` var:
`report` writes it down; every other value tries something the sandbox
stops."""

import json
import os
import random
import socket
import time

from wasmig_guest import Migration


def report():
    seen = {
        "environ": dict(os.environ),
        "time": time.time(),
        "random": [random.random() for _ in range(3)],
        "set_order": list({"alpha", "beta", "gamma", "delta", "epsilon"}),
        "hash": hash("wasmig"),
    }
    for name, attempt in (("open", lambda: open("/etc/hostname")), ("listdir", lambda: os.listdir("/"))):
        try:
            attempt()
            seen[name] = "allowed"
        except PermissionError as error:
            seen[name] = str(error)
    return seen


class Sandbox(Migration):
    def up(self, db, env):
        attack = env.var("attack")
        if attack == "report":
            seen = json.dumps(report(), sort_keys=True)
            env.info(f"report={seen}")
            db.execute("CREATE TABLE py_sandbox (report TEXT)")
            db.execute("INSERT INTO py_sandbox (report) VALUES (?)", [seen])
        elif attack == "socket":
            socket.create_connection(("127.0.0.1", 5432), timeout=1)
        elif attack == "stat":
            os.stat("/etc")
        elif attack == "import":
            import sqlite3  # noqa: F401
        elif attack == "fuel":
            while True:
                pass
        elif attack == "memory":
            blocks = []
            while True:
                blocks.append(bytearray(16 << 20))
        else:
            raise ValueError(f"unknown attack {attack!r}")

    def down(self, db, env):
        db.execute("DROP TABLE py_sandbox")
