#!/usr/bin/env bash
# Regenerates tests/vectors/providers.json with the senders' own code: stripe-node, Octokit's
# webhooks-methods and Shopify's Node snippet (providers.mjs), stripe-python, slack_sdk and
# Shopify's Python snippet (providers.py). Installs the packages in a scratch directory
# (npm, pip in a venv); needs Node 18+ and Python 3.9+.
#
#   tests/vectors/generate.sh            # writes tests/vectors/providers.json
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
work=${VECTORS_WORKDIR:-$(mktemp -d)}
cd "$work"
[[ -d node_modules/stripe ]] || npm install --no-audit --no-fund stripe@17 @octokit/webhooks-methods@5 >&2
[[ -x venv/bin/python ]] || { python3 -m venv venv && venv/bin/pip install -q stripe slack_sdk >&2; }
node "$here/providers.mjs" > node.json
venv/bin/python "$here/providers.py" node.json > "$here/providers.json"
echo "wrote $here/providers.json ($(grep -c '"provider"' "$here/providers.json") vectors)" >&2
