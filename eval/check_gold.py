#!/usr/bin/env python3
"""Standalone checker for the gold evaluation set (stdlib only).

Usage:
    python3 eval/check_gold.py [GOLD_JSONL] [--seeds DIR]
    python3 eval/check_gold.py eval/dev.jsonl --docs tests/data/docs/dev

Defaults: GOLD_JSONL = gold.jsonl next to this script; seeds = the project's
seeds/ folder next to eval/ if it holds *.txt files, else /work/shared/seeds.

An evidence "doc" such as "003" is mapped to the one seed file whose name
starts with that prefix (e.g. 003_b2e6ceaeb813953d.txt).  With --docs DIR the
documents are the text files of DIR instead (.txt, .html, .htm, .md; a PDF is
read from its "<name>.pdf.source" text next to it; .yaml files are skipped), and
"doc" is a prefix of one of their names (e.g. "d03" for d03_gulou_fuzhou_2023.txt).

Checks: valid JSON object per line; required fields and their types; type in
the allowed set; unique ids; every quote is an exact substring of its document,
10-80 characters, on one line; every key fact occurs in one of the item's
quotes or in its answer; unanswerable items have empty key_facts and evidence,
all other items have both non-empty; multi_doc items cite at least two sources
(different documents, or different pieces of a compilation file; see
piece_starts); questions do not copy long runs of seed text.  The optional
field "tags" is a non-empty list of distinct strings from ALLOWED_TAGS.
true_premise answers start with "是的" and "是的" is a key fact; a tagged
false_premise item has "不是" as a key fact; metadata items quote the
document's title, issuer or date line.
Prints counts per type; exits 1 listing every failure.
"""
import argparse
import json
import os
import re
import sys
from collections import Counter

ALLOWED_TYPES = {"fact", "list", "multi_doc", "attribution", "temporal",
                 "unanswerable", "false_premise", "true_premise", "metadata"}
FIELDS = {"id": str, "question": str, "type": str, "answer": str,
          "key_facts": list, "evidence": list, "regions": list}
OPTIONAL_FIELDS = {"tags": list}
# The kind of question an item tests (issue #11); an item may carry several.
ALLOWED_TAGS = {"section", "aggregate", "compare", "trend", "scope", "metadata",
                "premise", "paraphrase", "chinese_numeral", "unanswerable"}
DOC_SUFFIXES = (".txt", ".html", ".htm", ".md")
QUOTE_MIN, QUOTE_MAX = 10, 80
META_HEAD, META_TAIL = 15, 3  # a metadata quote lies in a piece's first 15 or last 3 lines
COPY_WINDOW = 20  # a question may not contain this many consecutive seed characters
FALLBACK_SEEDS = "/work/shared/seeds"
PIECE_END = re.compile(r"联合供稿\s*$")
YEAR_OPENER = re.compile(r"^\d{4}年")


def default_seeds(script_dir):
    local = os.path.normpath(os.path.join(script_dir, os.pardir, "seeds"))
    if os.path.isdir(local) and any(n.endswith(".txt") for n in os.listdir(local)):
        return local
    return FALLBACK_SEEDS


def load_seeds(seeds_dir):
    docs = {}
    for name in sorted(os.listdir(seeds_dir)):
        path = os.path.join(seeds_dir, name)
        if os.path.isfile(path) and name.endswith(".txt"):
            with open(path, encoding="utf-8") as f:
                docs[name] = f.read()
    return docs


def load_docs(docs_dir):
    """Text files of a folder of user-shaped documents (see --docs)."""
    docs = {}
    names = sorted(os.listdir(docs_dir))
    for name in names:
        path = os.path.join(docs_dir, name)
        if not os.path.isfile(path):
            continue
        if name.endswith(DOC_SUFFIXES):
            src = path
        elif name.endswith(".pdf") and name + ".source" in names:
            src = path + ".source"
        else:
            continue
        with open(src, encoding="utf-8") as f:
            docs[name] = f.read()
    return docs


def piece_starts(text):
    """Character offsets where the pieces of a document start.

    A seed may be a scraped compilation of several pieces (e.g. a plan, a report
    and several articles).  A new piece starts at a line when
      * the previous line ends with '联合供稿' (end of a contributed article), or
      * the current piece already has a top-level heading line starting with
        '一、' and this line restarts the numbering ('一、...'), or is an opening
        line such as '2023年,...' immediately followed by a '一、' heading.
    """
    lines = text.splitlines(keepends=True)
    starts, pos, seen_first_heading = [0], 0, False
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        new_piece = False
        if i > 0 and PIECE_END.search(lines[i - 1]):
            new_piece = True
        elif seen_first_heading and (line.startswith("一、") or
                                     (YEAR_OPENER.match(line) and nxt.startswith("一、"))):
            new_piece = True
        if new_piece and pos != starts[-1]:
            starts.append(pos)
            seen_first_heading = False
        if line.startswith("一、"):
            seen_first_heading = True
        pos += len(line)
    return starts


def in_head_or_tail(text, starts, offset):
    """True when offset lies in the first META_HEAD or last META_TAIL non-blank lines of its piece."""
    idx = piece_of(starts, offset)
    lo = starts[idx]
    hi = starts[idx + 1] if idx + 1 < len(starts) else len(text)
    lines, pos = [], lo
    for line in text[lo:hi].splitlines(keepends=True):
        if line.strip():
            lines.append((pos, pos + len(line)))
        pos += len(line)
    near = lines[:META_HEAD] + lines[-META_TAIL:]
    return any(a <= offset < b for a, b in near)


def piece_of(starts, offset):
    idx = 0
    for i, s in enumerate(starts):
        if offset >= s:
            idx = i
    return idx


def resolve_doc(doc, names):
    hits = [n for n in names if n.startswith(doc)]
    return hits


def main():
    script_dir = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("gold", nargs="?", default=os.path.join(script_dir, "gold.jsonl"))
    ap.add_argument("--seeds", default=None)
    ap.add_argument("--docs", default=None,
                    help="check against the documents of this folder instead of the seeds")
    args = ap.parse_args()
    seeds_dir = args.docs or args.seeds or default_seeds(script_dir)

    failures = []

    def fail(where, msg):
        failures.append(f"{where}: {msg}")

    if not os.path.isdir(seeds_dir):
        print(f"seeds directory not found: {seeds_dir}", file=sys.stderr)
        return 2
    docs = load_docs(seeds_dir) if args.docs else load_seeds(seeds_dir)
    if not docs:
        print(f"no document files in {seeds_dir}", file=sys.stderr)
        return 2
    starts = {n: piece_starts(t) for n, t in docs.items()}
    all_text = "\n".join(docs.values())

    try:
        with open(args.gold, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as e:
        print(f"cannot read {args.gold}: {e}", file=sys.stderr)
        return 2

    ids = Counter()
    types = Counter()
    tags = Counter()
    n_items = 0
    for lineno, line in enumerate(lines, 1):
        where = f"line {lineno}"
        if not line.strip():
            fail(where, "blank line")
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as e:
            fail(where, f"invalid JSON ({e})")
            continue
        if not isinstance(item, dict):
            fail(where, "not a JSON object")
            continue
        n_items += 1
        if isinstance(item.get("id"), str):
            where = f"line {lineno} ({item['id']})"

        ok = True
        for field, typ in FIELDS.items():
            if field not in item:
                fail(where, f"missing field '{field}'")
                ok = False
            elif not isinstance(item[field], typ):
                fail(where, f"field '{field}' must be {typ.__name__}")
                ok = False
        if isinstance(item.get("type"), str) and item["type"] not in ALLOWED_TYPES:
            fail(where, f"type '{item['type']}' not in {sorted(ALLOWED_TYPES)}")
        extra = set(item) - set(FIELDS) - set(OPTIONAL_FIELDS)
        if extra:
            fail(where, f"unexpected fields {sorted(extra)}")
        item_tags = item.get("tags", [])
        if "tags" in item:
            if not isinstance(item_tags, list) or not item_tags \
                    or not all(isinstance(t, str) for t in item_tags):
                fail(where, "tags must be a non-empty list of strings")
                item_tags = []
            else:
                unknown = [t for t in item_tags if t not in ALLOWED_TAGS]
                if unknown:
                    fail(where, f"tags {unknown} not in {sorted(ALLOWED_TAGS)}")
                if len(set(item_tags)) != len(item_tags):
                    fail(where, "duplicate tags")
                tags.update(t for t in set(item_tags) if t in ALLOWED_TAGS)
        if not ok:
            continue

        ids[item["id"]] += 1
        if not item["id"].strip():
            fail(where, "empty id")
        for field in ("question", "answer"):
            if not item[field].strip():
                fail(where, f"empty {field}")
        typ = item["type"]
        types[typ] += 1

        if not item["regions"] or not all(isinstance(r, str) and r.strip() for r in item["regions"]):
            fail(where, "regions must be a non-empty list of non-empty strings")
        if not all(isinstance(k, str) and k.strip() and k == k.strip() for k in item["key_facts"]):
            fail(where, "key_facts must be non-empty strings without surrounding spaces")
            continue

        # question must not copy seed text
        q = item["question"]
        for i in range(0, max(0, len(q) - COPY_WINDOW + 1)):
            if q[i:i + COPY_WINDOW] in all_text:
                fail(where, f"question copies seed text: '{q[i:i + COPY_WINDOW]}'")
                break

        # evidence
        quotes, sources, ev_ok = [], set(), True
        for j, ev in enumerate(item["evidence"]):
            ew = f"{where} evidence[{j}]"
            if not isinstance(ev, dict) or set(ev) != {"doc", "quote"} \
                    or not isinstance(ev.get("doc"), str) or not isinstance(ev.get("quote"), str):
                fail(ew, "must be an object with string fields 'doc' and 'quote' only")
                ev_ok = False
                continue
            doc, quote = ev["doc"], ev["quote"]
            typ = item["type"]
            quotes.append(quote)
            hits = resolve_doc(doc, docs)
            if len(hits) != 1:
                fail(ew, f"doc '{doc}' matches {len(hits)} seed files {hits}")
                ev_ok = False
                continue
            name = hits[0]
            if not (QUOTE_MIN <= len(quote) <= QUOTE_MAX):
                fail(ew, f"quote length {len(quote)} not in {QUOTE_MIN}-{QUOTE_MAX}: '{quote}'")
            if "\n" in quote:
                fail(ew, "quote spans a line break")
            pos = docs[name].find(quote)
            if pos < 0:
                fail(ew, f"quote not an exact substring of {name}: '{quote}'")
                ev_ok = False
                continue
            sources.add((name, piece_of(starts[name], pos)))
            if typ == "metadata" and not in_head_or_tail(docs[name], starts[name], pos):
                fail(ew, "a metadata quote comes from the title, issuer or date lines "
                         f"(first {META_HEAD} or last {META_TAIL} lines of its document/piece)")

        if typ == "unanswerable":
            if item["key_facts"]:
                fail(where, "unanswerable item must have empty key_facts")
            if item["evidence"]:
                fail(where, "unanswerable item must have empty evidence")
        else:
            if not item["key_facts"]:
                fail(where, "key_facts is empty")
            if not item["evidence"]:
                fail(where, "evidence is empty")
            haystacks = quotes + [item["answer"]]
            for k in item["key_facts"]:
                if not any(k in h for h in haystacks):
                    fail(where, f"key fact '{k}' not found in any quote or the answer")
        if typ == "true_premise":
            if not item["answer"].startswith("是的"):
                fail(where, "a true_premise answer starts with '是的'")
            if "是的" not in item["key_facts"]:
                fail(where, "a true_premise item has '是的' among its key_facts")
        if typ == "false_premise" and "tags" in item and "不是" not in item["key_facts"]:
            fail(where, "a tagged false_premise item has '不是' among its key_facts")
        if typ == "multi_doc" and ev_ok and len(sources) < 2:
            fail(where, "multi_doc item needs evidence from at least two documents/pieces")

    for i, c in ids.items():
        if c > 1:
            fail(f"id {i}", f"duplicated {c} times")

    print(f"gold: {args.gold}")
    print(f"{'docs' if args.docs else 'seeds'}: {seeds_dir} ({len(docs)} files)")
    print(f"items: {n_items}")
    for t in sorted(ALLOWED_TYPES | set(types)):
        print(f"  {t:14s} {types.get(t, 0)}")
    if tags:
        print("tags:")
        for t in sorted(ALLOWED_TAGS):
            print(f"  {t:15s} {tags.get(t, 0)}")
    if failures:
        print(f"\n{len(failures)} FAILURE(S):")
        for msg in failures:
            print("  " + msg)
        return 1
    print("OK: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
