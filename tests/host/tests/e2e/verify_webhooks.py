"""Checks webhook messages with the Standard Webhooks reference library.

Reads {"secret": "whsec_...", "messages": [{"headers": {...}, "body": "..."}]} on stdin and
prints, for each message, {"ok": true, "type": ...} or {"ok": false, "error": ...}.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook

request = json.load(sys.stdin)
verifier = Webhook(request["secret"])
results = []
for message in request["messages"]:
    try:
        payload = verifier.verify(message["body"], message["headers"])
        results.append({"ok": True, "type": payload["type"]})
    except Exception as err:  # the library raises its own WebhookVerificationError
        results.append({"ok": False, "error": f"{type(err).__name__}: {err}"})
json.dump(results, sys.stdout)
