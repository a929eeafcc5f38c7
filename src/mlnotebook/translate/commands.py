"""The translation verbs: `mlnb train`, `mlnb translate`, `mlnb evaluate`, `mlnb export`.

    mlnb train configs/transformer.yaml train.max_steps=2000 [--resume]
    torchrun --nproc_per_node 4 -m mlnotebook train configs/transformer.yaml
    mlnb translate --model runs/transformer "Guten Morgen!"   # or lines on stdin
    mlnb translate --model runs/transformer --beam 5 --attention att.png "Guten Morgen!"
    mlnb evaluate --model runs/transformer [--test my_pairs.tsv]
    mlnb average runs/transformer --last 5           # -> runs/transformer/average.pt
    mlnb evaluate --model runs/transformer --checkpoint average.pt
    mlnb export --model runs/transformer --ctranslate2 runs/transformer-ct2 [--quantization int8]

`translate` prints one line per input line, in order; an empty input line gives
an empty output line, so the output can be pasted beside the input.
"""

from __future__ import annotations

import argparse
import math
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
    _add_weight_choice(translate)
    translate.set_defaults(func=_translate)

    evaluate = subparsers.add_parser("evaluate", help="BLEU and chrF on a held-out test set")
    evaluate.add_argument("--model", required=True, metavar="DIR", help="a training run folder")
    evaluate.add_argument(
        "--test", metavar="FILE", help="German<TAB>French pairs (default: the run's test split)"
    )
    evaluate.add_argument("--beam", type=int, default=None, help="beam width (1 = greedy)")
    evaluate.add_argument(
        "--length-penalty", type=float, default=None, help="GNMT alpha (default: from config)"
    )
    evaluate.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    _add_weight_choice(evaluate)
    evaluate.set_defaults(func=_evaluate)

    average = subparsers.add_parser(
        "average", help="average the weights of a run's last K checkpoints"
    )
    average.add_argument("run", metavar="RUN", help="a training run folder")
    average.add_argument("--last", type=int, default=5, metavar="K", help="how many (default 5)")
    average.add_argument(
        "--out", default="average.pt", metavar="NAME", help="file written in RUN (average.pt)"
    )
    average.set_defaults(func=_average)

    export = subparsers.add_parser(
        "export",
        help="write a trained Transformer in CTranslate2's format",
        description="Export the run's best checkpoint as a CTranslate2 model directory,\n"
        "with the run's sentencepiece model copied into it as tokenizer.model.",
        epilog=_EXPORT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("--model", required=True, metavar="DIR", help="a training run folder")
    export.add_argument(
        "--ctranslate2", required=True, metavar="OUT_DIR", help="the CTranslate2 model folder"
    )
    export.add_argument(
        "--quantization", choices=_CT2_QUANTIZATIONS, default=None, metavar="TYPE",
        help=f"store weights as {', '.join(_CT2_QUANTIZATIONS)} (default: float32)",
    )  # fmt: skip
    export.add_argument("--force", action="store_true", help="replace OUT_DIR if it exists")
    export.set_defaults(func=_export)


_CT2_QUANTIZATIONS = [
    "int8", "int8_float32", "int8_float16", "int8_bfloat16", "int16", "float16", "bfloat16",
    "float32",
]  # fmt: skip
_EXPORT_EPILOG = """\
use the exported model with ctranslate2 and sentencepiece:
  import ctranslate2, sentencepiece
  sp = sentencepiece.SentencePieceProcessor(model_file="OUT_DIR/tokenizer.model")
  translator = ctranslate2.Translator("OUT_DIR", device="cpu")
  pieces = sp.encode(["Guten Morgen!"], out_type=str)
  results = translator.translate_batch(pieces, beam_size=1, min_decoding_length=0,
                                       max_decoding_length=40)
  print(sp.decode([r.hypotheses[0] for r in results]))
beam_size=1 matches `mlnb translate --beam 1` when max_decoding_length equals our
cap (search.max_len_a * source pieces + search.max_len_b). CTranslate2's
length_penalty divides by |Y|^alpha, ours by ((5 + |Y|) / 6)^alpha (GNMT).
"""


def _add_weight_choice(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--checkpoint", default="best.pt", metavar="NAME", help="file in the run folder (best.pt)"
    )
    parser.add_argument(
        "--weights",
        choices=("auto", "raw", "ema"),
        default="auto",
        help="the moving average if the run kept one (auto), or the raw weights",
    )


def _average(args: argparse.Namespace) -> int:
    from mlnotebook.translate import api

    out = api.average_checkpoints(args.run, args.last, args.out)
    print(f"average of the last {args.last} checkpoints saved to {out}")
    return 0


def _train(args: argparse.Namespace) -> int:
    from mlnotebook.translate import api

    out_dir = api.train(args.config, args.overrides, resume=args.resume)
    if os.environ.get("RANK", "0") == "0":  # under torchrun, only the first process reports
        print(f"run saved in {out_dir}")
    return 0


def _input_lines(args: argparse.Namespace) -> list[str]:
    """One sentence per argument, or per line of stdin: one line in, one line out.

    Only "\n" (with an optional "\r" before it) ends a line; Unicode's other line
    breaks (U+2028, form feed, NEL...) stay inside their sentence, so the output
    still pairs with the input line by line. Bytes that are not UTF-8 become
    U+FFFD, and stderr names the lines where that happened.
    """
    if args.text:
        texts = [_argument_text(text) for text in args.text]
        _note_replaced(texts, "argument")
        return texts
    if sys.stdin.isatty():
        print("reading German sentences from stdin, one per line (Ctrl-D to end)", file=sys.stderr)
    stream = getattr(sys.stdin, "buffer", None)
    text = stream.read().decode("utf-8", errors="replace") if stream else sys.stdin.read()
    lines = split_lines(text)
    _note_replaced(lines, "line")
    return lines


def split_lines(text: str) -> list[str]:
    """Lines ended by "\n" or "\r\n" only; a last line without a newline counts."""
    if not text:
        return []
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def _argument_text(text: str) -> str:
    # The command line hands undecodable bytes over as surrogates; make them U+FFFD.
    return text.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")


def _note_replaced(texts: list[str], kind: str) -> None:
    damaged = [str(number) for number, text in enumerate(texts, start=1) if "\ufffd" in text]
    if damaged:
        shown = ", ".join(damaged[:10]) + (" ..." if len(damaged) > 10 else "")
        print(
            f"note: {kind}(s) {shown} held bytes that are not UTF-8; translated with U+FFFD",
            file=sys.stderr,
        )


def _check_length_penalty(value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise UserError(f"--length-penalty must be a finite number >= 0, got {value}")


def _translate(args: argparse.Namespace) -> int:
    from mlnotebook.translate import api

    if args.beam is not None and args.beam < 1:
        raise UserError(f"--beam must be at least 1, got {args.beam}")
    _check_length_penalty(args.length_penalty)
    translator = api.load_model(
        args.model, device=args.device, checkpoint=args.checkpoint, weights=args.weights
    )
    lines = _input_lines(args)
    results = translator.translate_detailed(
        lines, args.beam, args.length_penalty, with_attention=bool(args.attention)
    )
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

    _check_length_penalty(args.length_penalty)
    bleu, chrf = api.evaluate(
        args.model,
        args.test,
        beam=args.beam,
        device=args.device,
        checkpoint=args.checkpoint,
        weights=args.weights,
        length_penalty=args.length_penalty,
    )
    print(bleu)
    print(chrf)
    return 0


def _export(args: argparse.Namespace) -> int:
    from mlnotebook.translate.export_ct2 import export_run

    output = export_run(args.model, args.ctranslate2, args.quantization, args.force)
    print(f"CTranslate2 model saved in {output}")
    return 0
