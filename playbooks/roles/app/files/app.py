#!/usr/bin/env python3
"""The app infraflow's playbooks deploy: answers with its configuration's
greeting, /healthz, Prometheus /metrics, and a token-protected /admin."""
import argparse
import json
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def serve(config):
    requests = {"count": 0}

    class Handler(BaseHTTPRequestHandler):
        def reply(self, status, body, kind="application/json"):
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            requests["count"] += 1
            if self.path == "/healthz":
                self.reply(200, "ok\n", "text/plain")
            elif self.path == "/metrics":
                self.reply(200, (
                    "# TYPE infraflow_app_requests_total counter\n"
                    f"infraflow_app_requests_total {requests['count']}\n"
                    "# TYPE infraflow_app_info gauge\n"
                    f"infraflow_app_info{{app=\"{config['app']}\",version=\"{config['version']}\"}} 1\n"
                ), "text/plain; version=0.0.4")
            elif self.path == "/admin":
                token = config.get("api_token", "")
                if token and self.headers.get("Authorization") == f"Bearer {token}":
                    self.reply(200, json.dumps({"admin": True}) + "\n")
                else:
                    self.reply(401, json.dumps({"error": "bearer token required"}) + "\n")
            else:
                self.reply(200, json.dumps({
                    "app": config["app"], "host": config["host"],
                    "version": config["version"], "message": config["message"],
                }) + "\n")

        def log_message(self, fmt, *args):
            sys.stderr.write("%s %s\n" % (self.address_string(), fmt % args))

    ThreadingHTTPServer((config["address"], int(config["port"])), Handler).serve_forever()


def probe(config):
    try:
        url = f"http://{config['address']}:{config['port']}/healthz"
        with urllib.request.urlopen(url, timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", required=True)
    parser.add_argument("--probe", action="store_true", help="exit 0 if the app answers")
    args = parser.parse_args()
    config = load(args.config)
    if args.probe:
        sys.exit(0 if probe(config) else 1)
    serve(config)


if __name__ == "__main__":
    main()
