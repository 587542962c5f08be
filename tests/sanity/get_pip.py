"""Stand-in for pip's get-pip.py bootstrap script, which ansible-test downloads
from a host this network cannot reach. It installs pip from the standard library's
bundled wheel (ensurepip), then installs what get-pip.py was asked for from the
package index, as get-pip.py itself would."""

import ensurepip
import os
import subprocess
import sys

ensurepip.bootstrap(upgrade=True)
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
# ansible-test strips the environment; keep trusting the system's CA bundle.
bundle = "/etc/ssl/certs/ca-certificates.crt"
if os.path.exists(bundle):
    args = ["--cert", bundle] + args
subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet"] + args)
