"""Export a trained `TransformerSeq2Seq` to CTranslate2, a fast C++ inference engine.

CTranslate2 describes a Transformer as a tree of named weights (a "spec").
Our model maps onto it one to one, because both use the same layouts:

* self-attention: one fused [3 d, d] Q/K/V projection (`linear[0]`) and W^O
  (`linear[1]`); cross-attention: Q (`linear[0]`), fused [2 d, d] K/V
  (`linear[1]`), W^O (`linear[2]`);
* every sublayer owns its layer norm, applied before the sublayer (pre-norm)
  or after the residual sum (post-norm), the `pre_norm` flag of the spec; the
  final stack norms exist only for pre-norm, as in our model;
* embeddings are scaled by sqrt(d_model) and the positional table is written
  out explicitly (ours interleaves sin/cos, which CTranslate2's built-in table
  does not), so no convention is left to chance.

CTranslate2 works on token strings, so the vocabularies (lists of pieces, index
= id) are part of the export. The directory is written beside its final place
and renamed into it, so a crash never leaves half a model behind.

`export_run` exports a training run (`mlnb export --model RUN --ctranslate2 OUT`):
the model of its best checkpoint, its sentencepiece pieces as the vocabulary,
and a copy of its `tokenizer.model`. To translate with the result:

    import ctranslate2, sentencepiece
    sp = sentencepiece.SentencePieceProcessor(model_file="OUT/tokenizer.model")
    translator = ctranslate2.Translator("OUT", device="cpu", intra_threads=2)
    pieces = sp.encode(["Guten Morgen!"], out_type=str)
    results = translator.translate_batch(
        pieces, beam_size=1, max_decoding_length=40, min_decoding_length=0
    )
    print(sp.decode([r.hypotheses[0] for r in results]))

With beam_size=1 this gives exactly what `mlnb translate --beam 1` gives, as
long as max_decoding_length equals our cap for that sentence (search.max_len_a
* source pieces + search.max_len_b; CTranslate2 takes one cap per call) and
min_decoding_length=0 (its default 1 forbids an empty translation, ours does
not). With more beams and length_penalty=0 the two searches also agree. With a
length penalty they differ by definition: CTranslate2 divides log P by
|Y|^alpha, we by GNMT's ((5 + |Y|) / 6)^alpha, so the same alpha ranks
finished hypotheses differently.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from torch import Tensor, nn

from mlnotebook.errors import UserError
from mlnotebook.nn.multi_head_attention import MultiHeadAttention
from mlnotebook.nn.transformer import FeedForward, TransformerSeq2Seq


def _numpy(tensor: Tensor) -> np.ndarray:
    return tensor.detach().float().cpu().contiguous().numpy()


def _set_norm(spec, norm: nn.Module) -> None:
    spec.gamma = _numpy(norm.weight)
    spec.beta = _numpy(norm.bias)


def _set_linear(spec, weight: Tensor, bias: Tensor | None) -> None:
    spec.weight = _numpy(weight)
    if bias is not None:
        spec.bias = _numpy(bias)


def _set_self_attention(spec, attention: MultiHeadAttention, norm: nn.Module) -> None:
    _set_norm(spec.layer_norm, norm)
    _set_linear(spec.linear[0], attention.in_proj_weight, attention.in_proj_bias)  # [3d, d]
    _set_linear(spec.linear[1], attention.out_proj.weight, attention.out_proj.bias)


def _set_cross_attention(spec, attention: MultiHeadAttention, norm: nn.Module) -> None:
    d = attention.embed_dim
    weight, bias = attention.in_proj_weight, attention.in_proj_bias
    _set_norm(spec.layer_norm, norm)
    _set_linear(spec.linear[0], weight[:d], None if bias is None else bias[:d])  # Q
    _set_linear(spec.linear[1], weight[d:], None if bias is None else bias[d:])  # K, V
    _set_linear(spec.linear[2], attention.out_proj.weight, attention.out_proj.bias)


def _set_feed_forward(spec, feed_forward: FeedForward, norm: nn.Module) -> None:
    _set_norm(spec.layer_norm, norm)
    _set_linear(spec.linear_0, feed_forward.linear1.weight, feed_forward.linear1.bias)
    _set_linear(spec.linear_1, feed_forward.linear2.weight, feed_forward.linear2.bias)


def _check_vocab(tokens: Sequence[str], size: int, side: str, specials: dict[str, int]) -> None:
    if len(tokens) != size:
        raise UserError(f"export_ct2: {side} vocabulary has {len(tokens)} tokens, model has {size}")
    if len(set(tokens)) != len(tokens):
        raise UserError(f"export_ct2: {side} vocabulary has duplicate tokens")
    for name, index in specials.items():
        if not 0 <= index < size:
            raise UserError(f"export_ct2: {name} id {index} is outside the {side} vocabulary")


def build_spec(
    model: TransformerSeq2Seq,
    src_vocab: Sequence[str],
    tgt_vocab: Sequence[str],
    unk_id: int,
):
    """The CTranslate2 TransformerSpec holding a copy of `model`'s weights."""
    from ctranslate2.specs import common_spec, transformer_spec

    activations = {"relu": common_spec.Activation.RELU, "gelu": common_spec.Activation.GELU}
    first_layer = model.encoder.layers[0]
    norm_first = first_layer.attn_block.norm_first
    spec = transformer_spec.TransformerSpec.from_config(
        (len(model.encoder.layers), len(model.decoder.layers)),
        first_layer.self_attn.num_heads,
        pre_norm=norm_first,
        activation=activations[first_layer.feed_forward.activation_name],
    )
    table = _numpy(model.positional_encoding.table)  # [max_len, d]

    encoder = spec.encoder
    encoder.embeddings[0].weight = _numpy(model.src_embedding.weight)
    encoder.position_encodings.encodings = table
    for layer_spec, layer in zip(encoder.layer, model.encoder.layers, strict=True):
        _set_self_attention(layer_spec.self_attention, layer.self_attn, layer.attn_block.norm)
        _set_feed_forward(layer_spec.ffn, layer.feed_forward, layer.ff_block.norm)

    decoder = spec.decoder
    decoder.embeddings.weight = _numpy(model.tgt_embedding.weight)
    decoder.position_encodings.encodings = table
    decoder.projection.weight = _numpy(model.output_projection.weight)
    for layer_spec, layer in zip(decoder.layer, model.decoder.layers, strict=True):
        _set_self_attention(layer_spec.self_attention, layer.self_attn, layer.self_block.norm)
        _set_cross_attention(layer_spec.attention, layer.cross_attn, layer.cross_block.norm)
        _set_feed_forward(layer_spec.ffn, layer.feed_forward, layer.ff_block.norm)

    if norm_first:
        _set_norm(encoder.layer_norm, model.encoder.norm)
        _set_norm(decoder.layer_norm, model.decoder.norm)

    spec.register_source_vocabulary(list(src_vocab))
    spec.register_target_vocabulary(list(tgt_vocab))
    spec.config.unk_token = tgt_vocab[unk_id]
    spec.config.bos_token = tgt_vocab[model.bos_id]
    spec.config.eos_token = tgt_vocab[model.eos_id]
    spec.config.decoder_start_token = tgt_vocab[model.bos_id]
    spec.config.layer_norm_epsilon = first_layer.attn_block.norm.eps
    return spec


def export_ct2(
    model: TransformerSeq2Seq,
    output_dir: str | Path,
    src_vocab: Sequence[str],
    tgt_vocab: Sequence[str] | None = None,
    unk_id: int = 1,
    quantization: str | None = None,
    force: bool = False,
    extra_files: Mapping[str, Path] | None = None,
) -> Path:
    """Write `model` as a CTranslate2 model directory; returns its path.

    src_vocab/tgt_vocab: token strings, index = id (tgt defaults to src: joint vocabulary).
    quantization: None (float32) or any CTranslate2 type such as "int8".
    extra_files: name in the directory -> file to copy there (e.g. the tokenizer), written
    before the directory appears, like the model itself.
    """
    try:
        from ctranslate2.converters.converter import Converter
    except ImportError:
        raise UserError("export_ct2: the ctranslate2 package is not installed") from None

    tgt_vocab = src_vocab if tgt_vocab is None else tgt_vocab
    specials = {"pad": model.pad_id, "bos": model.bos_id, "eos": model.eos_id, "unk": unk_id}
    _check_vocab(src_vocab, model.src_embedding.num_embeddings, "source", specials)
    _check_vocab(tgt_vocab, model.tgt_embedding.num_embeddings, "target", specials)
    output = Path(output_dir)
    if output.exists() and not force:
        raise UserError(f"export_ct2: {output} exists (pass force=True to replace it)")

    spec = build_spec(model, src_vocab, tgt_vocab, unk_id)

    class _SpecConverter(Converter):
        def _load(self):
            return spec

    output.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    try:
        _SpecConverter().convert(str(staging / "model"), quantization=quantization)
        for name, source in (extra_files or {}).items():
            shutil.copyfile(source, staging / "model" / name)
        _replace_directory(staging / "model", output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return output


def _replace_directory(source: Path, target: Path) -> None:
    """Rename `source` to `target`, moving an existing `target` out of the way first."""
    if not target.exists():
        os.replace(source, target)
        return
    old = source.parent / "old"
    os.replace(target, old)
    os.replace(source, target)


def export_run(
    run_dir: str | Path,
    output_dir: str | Path,
    quantization: str | None = None,
    force: bool = False,
) -> Path:
    """Export the best checkpoint of a training run, with its sentencepiece model.

    The vocabulary is the tokenizer's pieces (index = id), so sentencepiece's
    `encode(text, out_type=str)` gives exactly the tokens the exported model reads.
    """
    from mlnotebook.translate.api import TOKENIZER_FILE, load_model

    translator = load_model(run_dir)
    model = translator.model
    if not isinstance(model, TransformerSeq2Seq):
        family = translator.config.model.family
        raise UserError(
            f"{run_dir} holds a {family!r} model; only Transformer models "
            "(model.family: transformer) can be exported to CTranslate2"
        )
    pieces = tokenizer_pieces(translator.tokenizer.model_proto)
    tokenizer_file = Path(run_dir) / TOKENIZER_FILE
    return export_ct2(
        model, output_dir, pieces, unk_id=translator.tokenizer.unk_id,
        quantization=quantization, force=force, extra_files={TOKENIZER_FILE: tokenizer_file},
    )  # fmt: skip


def tokenizer_pieces(model_proto: bytes) -> list[str]:
    """Every piece of a sentencepiece model, in id order."""
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_proto=model_proto)
    return [processor.id_to_piece(i) for i in range(processor.vocab_size())]
