"""CTranslate2 in a process of its own, driven over stdin/stdout by decode_speed.py.

Why a separate process: CTranslate2 and torch each bring their own copy of
GNU OpenMP, with their own worker threads. In one process on a 2-core machine
the two pools can fight over the cores: measured on 2026-12-01, CTranslate2's
greedy pass ran at 40-60 sentences/s with 0.6-1.0 s of system time (futex
calls) per pass once torch had run its own parallel operators in the same
process, against 140-180 sentences/s alone. Alone is the fair comparison: it is
how CTranslate2 is used. This process imports nothing but ctranslate2.

Protocol, one JSON object per line. First line in: {"model": DIR, "threads": n,
"batches": [[[piece, ...], ...], ...]}; answer {"ready": true}. Then per pass in:
{"beam": k, "max_len": n}; answer {"outputs": [[piece, ...], ...]}, one per sentence.
An empty line ends it. The caller times the round trip; the pipe adds about a
millisecond to a pass of about a second.
"""

from __future__ import annotations

import json
import sys

import ctranslate2


def main() -> int:
    setup = json.loads(sys.stdin.readline())
    translator = ctranslate2.Translator(
        setup["model"], device="cpu", intra_threads=setup["threads"], inter_threads=1
    )
    batches = setup["batches"]
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            break
        request = json.loads(line)
        outputs = []
        for batch in batches:
            results = translator.translate_batch(
                batch, beam_size=request["beam"], max_decoding_length=request["max_len"],
                min_decoding_length=0, length_penalty=0.0,
            )  # fmt: skip
            outputs.extend(r.hypotheses[0] for r in results)
        print(json.dumps({"outputs": outputs}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
