#!/usr/bin/env python3
"""Checks Grafana dashboard JSON files and turns every panel query into a Prometheus recording rule, so that
`promtool check rules` parses each PromQL expression. Grafana's own variables are replaced by plausible values
first ($__rate_interval -> 1m, $instance -> .*, ...); a variable this script does not know is an error.

    dashboard-rules.py OUT.yml DASHBOARD.json...     exit 0: rules written; 1: a dashboard is invalid
"""
import json
import re
import sys

VARIABLES = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__range": "1h",
    "instance": ".*",
    "method": ".*",
}


def queries(panels):
    for panel in panels:
        yield from queries(panel.get("panels", []))
        for target in panel.get("targets", []):
            if "expr" in target:
                yield panel.get("title", "?"), target.get("refId", "?"), target["expr"]


def main(out, paths):
    errors = []
    rules = []
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                dashboard = json.load(f)
        except (OSError, ValueError) as e:
            errors.append(f"{path}: not valid JSON: {e}")
            continue
        for key in ("uid", "title", "panels", "schemaVersion"):
            if key not in dashboard:
                errors.append(f"{path}: no '{key}'")
        ids = [p.get("id") for p in dashboard.get("panels", [])]
        if len(ids) != len(set(ids)):
            errors.append(f"{path}: duplicate panel ids")
        defined = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
        found = 0
        for title, ref, expr in queries(dashboard.get("panels", [])):
            found += 1

            def substitute(m):
                name = m.group(1) or m.group(2)
                if name in VARIABLES and (name.startswith("__") or name in defined):
                    return VARIABLES[name]
                errors.append(f"{path}: panel '{title}' {ref}: unknown variable ${name}")
                return "1m"

            promql = re.sub(r"\$\{(\w+)\}|\$(\w+)", substitute, expr)
            rules.append((f"dashboard:{len(rules)}", promql, f"{path} / {title} / {ref}"))
        if found == 0:
            errors.append(f"{path}: no panel queries")
    with open(out, "w", encoding="utf-8") as f:
        f.write("groups:\n  - name: dashboard-queries\n    rules:\n")
        for name, promql, where in rules:
            f.write(f"      # {where}\n      - record: {name.replace(':', '_')}\n        expr: {json.dumps(promql)}\n")
    for e in errors:
        print(f"FAIL {e}")
    print(f"dashboards: {len(paths)} files, {len(rules)} queries, {len(errors)} errors")
    return 1 if errors else 0


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2:]))
