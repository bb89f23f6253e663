#!/usr/bin/env python3
"""promcheck: checks a Prometheus text exposition (format 0.0.4) the way a scraper would need it.

    promcheck.py FILE            exit 0 when valid; else one line per problem on stderr, exit 1
    promcheck.py --get FILE 'name{a="b",...}'   print that sample's value (labels in any order)

Checks: the text is UTF-8 and ends with a newline; every sample's metric has # HELP and # TYPE
lines before its first sample, and the lines of one metric are one group; names and label names
are valid; label values are properly quoted and escaped; values are floats; no label is named
id or experiment (or anything like them: no experiment ids as labels); a histogram's buckets,
per label set, have increasing le, cumulative non-decreasing counts, end with le="+Inf", and
+Inf equals _count, with a _sum present.
"""
import math
import re
import sys

NAME = re.compile(r'[a-zA-Z_:][a-zA-Z0-9_:]*$')
LABEL = re.compile(r'[a-zA-Z_][a-zA-Z0-9_]*$')
FORBIDDEN_LABELS = {"id", "experiment", "experiment_id", "run", "run_id", "sweep", "sweep_id"}


def parse_labels(s, errs, where):
    """Parses 'a="x",b="y"' (the text inside braces). Returns a dict."""
    out, i = {}, 0
    while i < len(s):
        m = re.match(r'([a-zA-Z_][a-zA-Z0-9_]*)="', s[i:])
        if not m:
            errs.append(f"{where}: bad label syntax at {s[i:]!r}")
            return out
        name = m.group(1)
        i += m.end()
        val = []
        while True:
            if i >= len(s):
                errs.append(f"{where}: unterminated label value")
                return out
            c = s[i]
            if c == '\\':
                if i + 1 >= len(s) or s[i + 1] not in '\\"n':
                    errs.append(f"{where}: bad escape in label {name}")
                    return out
                val.append({'\\': '\\', '"': '"', 'n': '\n'}[s[i + 1]])
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == '\n':
                errs.append(f"{where}: raw newline in label {name}")
                return out
            else:
                val.append(c)
                i += 1
        if name in out:
            errs.append(f"{where}: label {name} repeated")
        out[name] = ''.join(val)
        if i < len(s):
            if s[i] != ',':
                errs.append(f"{where}: expected ',' after label {name}")
                return out
            i += 1
    return out


def parse_value(v):
    if v in ('+Inf', 'Inf'):
        return math.inf
    if v == '-Inf':
        return -math.inf
    if v == 'NaN':
        return math.nan
    return float(v)


def parse(text):
    """Returns (errs, types, samples): samples is a list of (name, labels dict, value)."""
    errs = []
    if not text.endswith('\n'):
        errs.append("the text does not end with a newline")
    helps, types, samples = {}, {}, []
    done_families, current = set(), None
    for n, line in enumerate(text.split('\n')[:-1] if text.endswith('\n') else text.split('\n'), 1):
        where = f"line {n}"
        if not line:
            continue
        if line.startswith('#'):
            parts = line.split(' ', 3)
            if len(parts) >= 3 and parts[1] in ('HELP', 'TYPE'):
                name = parts[2]
                if not NAME.match(name):
                    errs.append(f"{where}: bad metric name {name!r}")
                if parts[1] == 'HELP':
                    if name in helps:
                        errs.append(f"{where}: second HELP for {name}")
                    helps[name] = parts[3] if len(parts) > 3 else ''
                else:
                    t = parts[3] if len(parts) > 3 else ''
                    if t not in ('counter', 'gauge', 'histogram', 'summary', 'untyped'):
                        errs.append(f"{where}: bad TYPE {t!r} for {name}")
                    if name in types:
                        errs.append(f"{where}: second TYPE for {name}")
                    types[name] = t
                if current != name:
                    if current is not None:
                        done_families.add(current)
                    if name in done_families:
                        errs.append(f"{where}: {name} is not one group")
                    current = name
            continue
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$', line)
        if not m:
            errs.append(f"{where}: not a sample line: {line!r}")
            continue
        name, labels_s, value_s = m.group(1), m.group(3), m.group(4)
        labels = parse_labels(labels_s, errs, where) if labels_s else {}
        try:
            value = parse_value(value_s)
        except ValueError:
            errs.append(f"{where}: value {value_s!r} is not a float")
            continue
        family = name
        for suffix in ('_bucket', '_sum', '_count'):
            base = name[:-len(suffix)]
            if name.endswith(suffix) and types.get(base) in ('histogram', 'summary'):
                family = base
        if family not in types:
            errs.append(f"{where}: {name} has no TYPE line before it")
        elif family not in helps:
            errs.append(f"{where}: {name} has no HELP line before it")
        elif family != current:
            errs.append(f"{where}: {name} is outside its family's group")
        for lname in labels:
            if not LABEL.match(lname):
                errs.append(f"{where}: bad label name {lname!r}")
            if lname.lower() in FORBIDDEN_LABELS or 'experiment' in lname.lower():
                errs.append(f"{where}: label {lname} names experiments (unbounded cardinality)")
        samples.append((name, labels, value))
    # Histograms.
    for family, t in types.items():
        if t != 'histogram':
            continue
        series = {}
        for name, labels, value in samples:
            key = tuple(sorted((k, v) for k, v in labels.items() if k != 'le'))
            s = series.setdefault(key, {'buckets': [], 'sum': None, 'count': None})
            if name == family + '_bucket':
                if 'le' not in labels:
                    errs.append(f"{family}{dict(key)}: a bucket without le")
                    continue
                s['buckets'].append((parse_value(labels['le']), value))
            elif name == family + '_sum':
                s['sum'] = value
            elif name == family + '_count':
                s['count'] = value
        for key, s in series.items():
            if not s['buckets'] and s['sum'] is None and s['count'] is None:
                continue
            what = f"{family}{dict(key)}"
            les = [b[0] for b in s['buckets']]
            if les != sorted(les) or len(set(les)) != len(les):
                errs.append(f"{what}: le not increasing: {les}")
            counts = [b[1] for b in s['buckets']]
            if any(b < a for a, b in zip(counts, counts[1:])):
                errs.append(f"{what}: buckets not cumulative: {counts}")
            if not les or les[-1] != math.inf:
                errs.append(f"{what}: no le=\"+Inf\" bucket last")
            elif s['count'] is None or counts[-1] != s['count']:
                errs.append(f"{what}: +Inf bucket {counts[-1]} != _count {s['count']}")
            if s['sum'] is None:
                errs.append(f"{what}: no _sum")
    return errs, types, samples


def main():
    args = sys.argv[1:]
    if args and args[0] == '--get':
        path, want = args[1], args[2]
        m = re.match(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?$', want)
        wl = parse_labels(m.group(3), [], 'query') if m.group(3) else {}
        _, _, samples = parse(open(path, encoding='utf-8').read())
        for name, labels, value in samples:
            if name == m.group(1) and labels == wl:
                print(int(value) if value == int(value) else value)
                return 0
        print("absent")
        return 1
    text = open(args[0], encoding='utf-8').read()
    errs, _, samples = parse(text)
    if not samples:
        errs.append("no samples at all")
    for e in errs:
        print(f"promcheck: {args[0]}: {e}", file=sys.stderr)
    return 1 if errs else 0


if __name__ == '__main__':
    sys.exit(main())
