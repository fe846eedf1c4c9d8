"""Container HEALTHCHECK for `docker run` / compose (Kubernetes uses its own probes instead).

Every service answers GET /healthz: intake on MAILFERRY_INTAKE_PORT, the workers on
MAILFERRY_HTTP_PORT. The image does not know which service it runs, so either port will do.
"""

import os
import sys
import urllib.request

PORTS = (os.environ.get("MAILFERRY_INTAKE_PORT") or "8080", os.environ.get("MAILFERRY_HTTP_PORT") or "9100")

for port in PORTS:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as answer:
            if answer.status == 200:
                sys.exit(0)
    except OSError:
        continue
sys.exit(1)
