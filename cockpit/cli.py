"""`edgepilot cockpit ...` sub-commands (registered by edgepilot/cli.py): what works before the model exists.

`tools` prints the published catalog (JSON Schema, OpenAI function-calling shape); `corpus` writes the seeded
dialogue corpus in the evaluation format; `check` loads an evaluation file and reports what it holds (every bad
line is an error naming file, line and field). The assistant itself (`chat`, `say`, `listen`, `eval`, `train`,
`export`) comes with the conversational model.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cockpit", help="in-car voice assistant: tool catalog, dialogue corpus, evaluation files",
                       description="The cockpit's tool catalog, dialogue corpus and evaluation files.")
    cs = p.add_subparsers(dest="cockpit_command", metavar="ACTION")
    cs.required = True
    t = cs.add_parser("tools", help="print the tool catalog as JSON Schema (OpenAI function-calling shape)")
    t.set_defaults(func=_cmd_tools)
    c = cs.add_parser("corpus", help="write the seeded dialogue corpus (spec evaluation format, JSON Lines)",
                      description="Generate N cases of a split; train and test use disjoint phrasings.")
    c.add_argument("--split", default="test", choices=["train", "test"])
    c.add_argument("--n", type=int, default=600, help="number of cases (default 600)")
    c.add_argument("--seed", type=int, default=0, help="same seed, same cases (default 0)")
    c.add_argument("--out", required=True, help="output .jsonl file")
    c.set_defaults(func=_cmd_corpus)
    k = cs.add_parser("check", help="validate an evaluation file and summarize it")
    k.add_argument("file")
    k.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    k.set_defaults(func=_cmd_check)


def _cmd_tools(args: argparse.Namespace) -> int:
    from cockpit.catalog import tool_schemas

    print(json.dumps(tool_schemas(), indent=1))
    return 0


def _cmd_corpus(args: argparse.Namespace) -> int:
    from cockpit.corpus import generate, write_jsonl

    rows = generate(args.split, args.n, args.seed)
    path = write_jsonl(rows, args.out)
    kinds = Counter("outcome" if "outcome" in r["expect"] else "tool" for r in rows)
    print(f"{len(rows)} {args.split} cases ({kinds['tool']} tool calls, {kinds['outcome']} outcomes, "
          f"{sum(len(r['dialogue']) > 1 for r in rows)} multi-turn) -> {path}")
    return 0


def _cmd_check(args: argparse.Namespace) -> int:
    from cockpit.evaluation import load_cases

    cases = load_cases(args.file)
    tools = Counter(e.tool or e.outcome for c in cases for e in c.expect[:1])
    summary = {"file": args.file, "n": len(cases), "multi_turn": sum(len(c.dialogue) > 1 for c in cases),
               "with_vehicle_state": sum(bool(c.vehicle_state) for c in cases), "expected": dict(tools.most_common())}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{summary['n']} cases, {summary['multi_turn']} multi-turn, {summary['with_vehicle_state']} with a "
              f"vehicle state; expected: " + ", ".join(f"{k} {v}" for k, v in tools.most_common()))
    return 0
