"""The translation verbs: `mlnb train`, `mlnb translate`, `mlnb evaluate`.

    mlnb train configs/transformer.yaml train.max_steps=2000 [--resume]
    torchrun --nproc_per_node 4 -m mlnotebook train configs/transformer.yaml
    mlnb translate --model runs/transformer "Guten Morgen!"   # or lines on stdin
    mlnb translate --model runs/transformer --beam 5 --attention att.png "Guten Morgen!"
    mlnb evaluate --model runs/transformer [--test my_pairs.tsv]

`translate` prints one line per input line, in order; an empty input line gives
an empty output line, so the output can be pasted beside the input.
"""

from __future__ import annotations

import argparse
import os
import sys

from mlnotebook.errors import UserError


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train a translation model from a YAML config")
    train.add_argument("config", help="YAML config (see configs/)")
    train.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="override config keys, e.g. train.seed=3"
    )
    train.add_argument("--resume", action="store_true", help="continue the run in train.out_dir")
    train.set_defaults(func=_train)

    translate = subparsers.add_parser("translate", help="translate German sentences to French")
    translate.add_argument("--model", required=True, metavar="DIR", help="a training run folder")
    translate.add_argument("text", nargs="*", help="sentences (default: read lines from stdin)")
    translate.add_argument("--beam", type=int, default=None, help="beam width (1 = greedy)")
    translate.add_argument(
        "--length-penalty", type=float, default=None, help="GNMT alpha (default: from config)"
    )
    translate.add_argument(
        "--attention", metavar="FILE.png", help="save an attention heat map per sentence"
    )
    translate.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    translate.set_defaults(func=_translate)

    evaluate = subparsers.add_parser("evaluate", help="BLEU and chrF on a held-out test set")
    evaluate.add_argument("--model", required=True, metavar="DIR", help="a training run folder")
    evaluate.add_argument(
        "--test", metavar="FILE", help="German<TAB>French pairs (default: the run's test split)"
    )
    evaluate.add_argument("--beam", type=int, default=None, help="beam width (1 = greedy)")
    evaluate.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    evaluate.set_defaults(func=_evaluate)


def _train(args: argparse.Namespace) -> int:
    from mlnotebook.translate import api

    out_dir = api.train(args.config, args.overrides, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, only the first process reports
        print(f"run saved in {out_dir}")
    return 0


def _input_lines(args: argparse.Namespace) -> list[str]:
    if args.text:
        return list(args.text)
    if sys.stdin.isatty():
        print("reading German sentences from stdin, one per line (Ctrl-D to end)", file=sys.stderr)
    return sys.stdin.read().splitlines()


def _translate(args: argparse.Namespace) -> int:
    from mlnotebook.translate import api

    if args.beam is not None and args.beam < 1:
        raise UserError(f"--beam must be at least 1, got {args.beam}")
    translator = api.load_model(args.model, device=args.device)
    lines = _input_lines(args)
    results = translator.translate_detailed(lines, args.beam, args.length_penalty)
    for result in results:
        print(result.text)
    if args.attention:
        _save_attention(results, args.attention)
    return 0


def _save_attention(results, path: str) -> None:
    from mlnotebook.translate.attention_plot import numbered_paths, plot_attention

    for result, target in zip(results, numbered_paths(path, len(results)), strict=True):
        if result.attention is None:
            reason = "empty input" if not result.source.strip() else "model has no attention"
            print(f"no attention map for {target} ({reason})", file=sys.stderr)
            continue
        plot_attention(
            result.source_pieces, result.target_pieces, result.attention, target, result.text
        )
        print(f"attention map saved to {target}", file=sys.stderr)


def _evaluate(args: argparse.Namespace) -> int:
    from mlnotebook.translate import api

    bleu, chrf = api.evaluate(args.model, args.test, beam=args.beam, device=args.device)
    print(bleu)
    print(chrf)
    return 0
