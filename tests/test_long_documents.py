"""Long documents: token-accurate chunks with overlap and exact character spans, chunk-score aggregation,
token-budget batching that never changes an embedding, and whole 8,192-token documents through a tiny
randomly initialised ModernBERT in dense and multi-vector modes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from index.chunks import aggregate_chunks, pack_ids
from index.format import read_manifest
from index.verify import verify_index
from retrieval.build.builder import build_index
from retrieval.config import BuildConfig
from retrieval.encode.chunking import ChunkPolicy, split_text
from retrieval.search.searcher import Searcher

MIXED = (
    "Épreuve à Zürich: naïve café owners in Kraków met 東京の研究者 and 🚀 engineers; "
    "they argued about résumés, façades and the Ångström unit. "
)


def test_chunks_are_token_accurate_overlap_and_map_to_the_exact_characters(minilm):
    tokenizer = minilm.tokenizer
    text = "Title line\n" + MIXED * 40
    tokens = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = tokens["input_ids"]
    policy = ChunkPolicy.for_model(minilm.chunk_limit, chunk_tokens=50, overlap=10)
    chunks = split_text(text, tokenizer, policy)

    assert len(chunks) > 10 and [c.number for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        assert 0 < chunk.tokens <= 50
        piece = text[chunk.start : chunk.end]
        # the chunk's text tokenizes to exactly its window of the document's tokens
        assert (
            tokenizer(piece, add_special_tokens=False)["input_ids"]
            == ids[chunk.first_token : chunk.first_token + chunk.tokens]
        )
        assert piece == piece.strip() and piece  # spans start and end on token characters
    for before, after in zip(chunks, chunks[1:]):
        assert before.first_token + before.tokens - after.first_token >= 10, "consecutive chunks share the overlap"
        assert after.first_token > before.first_token
    assert chunks[0].first_token == 0 and chunks[-1].first_token + chunks[-1].tokens == len(ids), (
        "every token is in a chunk"
    )
    covered = set().union(*(range(c.start, c.end) for c in chunks))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace()), "no character is lost"


def test_short_documents_stay_whole_and_truncation_and_caps_cut_at_a_token(minilm):
    tokenizer = minilm.tokenizer
    short = "A short café note.  "
    assert split_text(short, tokenizer, ChunkPolicy.for_model(254)) == [
        split_text(short, tokenizer, ChunkPolicy.for_model(254))[0]
    ]
    (whole,) = split_text(short, tokenizer, ChunkPolicy.for_model(254))
    assert (whole.start, whole.end) == (0, len(short)), "a document that fits is encoded exactly as written"

    text = MIXED * 40
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    (cut,) = split_text(text, tokenizer, ChunkPolicy.for_model(254, long_docs="truncate"))
    assert cut.tokens == 254 and tokenizer(text[: cut.end], add_special_tokens=False)["input_ids"] == ids[:254]
    capped = split_text(text, tokenizer, ChunkPolicy.for_model(254, max_tokens=300))
    assert len(capped) == 2 and capped[-1].first_token + capped[-1].tokens == 300, (
        "the cap drops every token after the 300th"
    )
    with pytest.raises(ValueError, match="at least 1"):
        ChunkPolicy.for_model(254, chunk_tokens=0)
    assert ChunkPolicy.for_model(254, chunk_tokens=4096).chunk_tokens == 254, "never longer than the model reads"


def test_aggregation_by_hand():
    # chunk hits of one query: doc 7 has chunks scoring 0.5 and 0.25, doc 3 one chunk at 0.375, doc 9 one at 0.125
    scores, rows, chunks = [0.5, 0.375, 0.25, 0.125, -1.0], [7, 3, 7, 9, -1], [2, 0, 5, 0, -1]
    assert aggregate_chunks(scores, rows, chunks, "max") == [(7, 0.5, 2), (3, 0.375, 0), (9, 0.125, 0)]
    assert aggregate_chunks(scores, rows, chunks, "sum") == [(7, 0.75, 2), (3, 0.375, 0), (9, 0.125, 0)]
    assert aggregate_chunks(scores, rows, chunks, "mean") == [(3, 0.375, 0), (7, 0.375, 2), (9, 0.125, 0)]


@pytest.fixture(scope="module")
def long_corpus(tmp_path_factory, dbpedia_small):
    """The dbpedia slice plus one long document about something else whose 6th chunk alone is about volcanoes."""
    folder = tmp_path_factory.mktemp("long")
    filler = [
        f"Chapter {i}. The committee discussed budgets, schedules and the minutes of the previous meeting. " * 6
        for i in range(12)
    ]
    filler[5] = "Volcanic eruptions of Mount Etna: lava flows, magma chambers, ash clouds and seismic tremors. " * 6
    lines = (dbpedia_small / "corpus.jsonl").read_text(encoding="utf-8")
    lines += json.dumps({"_id": "long-report", "title": "Annual report", "text": "\n".join(filler)}) + "\n"
    (folder / "corpus.jsonl").write_text(lines, encoding="utf-8")
    return folder / "corpus.jsonl"


@pytest.mark.slow
def test_search_scores_a_chunked_document_by_its_best_chunk_and_returns_its_span(tmp_path, long_corpus, minilm):
    summary = build_index(long_corpus, tmp_path / "idx", BuildConfig(model="minilm"), encoder=minilm, progress=False)
    chunked = summary.long_documents["dense"]["chunked"]
    assert chunked >= 1 and summary.long_documents["dense"]["chunks"] > summary.documents
    searcher = Searcher.load(tmp_path / "idx", encoder=minilm)
    hit = next(h for h in searcher.search("volcano eruption lava", k=5, mode="dense").hits if h.id == "long-report")

    full = "Annual report " + hit.text
    chunks = split_text(full, minilm.tokenizer, ChunkPolicy.for_model(minilm.chunk_limit))
    chunk_scores = (
        minilm.encode_documents([full[c.start : c.end] for c in chunks])
        @ minilm.encode_queries(["volcano eruption lava"])[0]
    )
    best = int(np.argmax(chunk_scores))
    assert hit.score == pytest.approx(float(chunk_scores.max()), abs=1e-5)
    assert hit.passage == (chunks[best].start - len("Annual report "), chunks[best].end - len("Annual report "))
    assert "Etna" in hit.text[hit.passage[0] : hit.passage[1]]
    assert all(check.ok for check in verify_index(tmp_path / "idx"))

    truncated = build_index(
        long_corpus, tmp_path / "cut", BuildConfig(model="minilm", long_docs="truncate"), encoder=minilm, progress=False
    )
    assert truncated.long_documents["dense"] == {"chunked": 0, "truncated": chunked, "chunks": summary.documents}
    cut = Searcher.load(tmp_path / "cut", encoder=minilm).search("volcano eruption lava", k=5, mode="dense")
    assert "long-report" not in cut.ids, "truncated to its first chunk, the report says nothing about volcanoes"


def test_token_budget_batching_never_changes_an_embedding(minilm, minilm_colbert):
    texts = ["tiny", MIXED * 6, "a somewhat longer sentence about rivers", MIXED * 2, "x " * 200, "short again"]
    alone = np.vstack([minilm.encode_documents([t]) for t in texts])
    for budget in (64, 700, 100_000):
        together = minilm.encode_documents(texts, batch_size=4, token_budget=budget)
        np.testing.assert_allclose(together, alone, atol=1e-5)
    tokens_alone = [minilm_colbert.encode_documents([t])[0] for t in texts]
    for budget in (64, 100_000):
        for a, b in zip(minilm_colbert.encode_documents(texts, batch_size=4, token_budget=budget), tokens_alone):
            np.testing.assert_allclose(a, b, atol=1e-5)


# ---- a tiny randomly initialised ModernBERT, 8,192 tokens --------------------------------------------------


@pytest.fixture(scope="module")
def tiny_modernbert(tmp_path_factory):
    """A 2-layer, 64-wide ModernBERT (seeded) with the bundled WordPiece tokenizer, reading 8,192 tokens, as a
    sentence-transformers folder (mean pooling, normalised) and as a PyLate ColBERT folder (document length 8,195)."""
    import torch
    from pylate import models as pylate_models
    from sentence_transformers import SentenceTransformer, models
    from transformers import AutoTokenizer, ModernBertConfig, ModernBertModel

    from retrieval.encode.model_specs import bundled_minilm_path

    folder = tmp_path_factory.mktemp("tiny-modernbert")
    tokenizer = AutoTokenizer.from_pretrained(str(bundled_minilm_path()))
    tokenizer.model_max_length = 8192
    torch.manual_seed(0)
    config = ModernBertConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=8192,
        local_attention=128,
        global_attn_every_n_layers=2,
        pad_token_id=tokenizer.pad_token_id,
        cls_token_id=tokenizer.cls_token_id,
        sep_token_id=tokenizer.sep_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
    )
    ModernBertModel(config).save_pretrained(folder / "hf")
    tokenizer.save_pretrained(folder / "hf")
    transformer = models.Transformer(str(folder / "hf"), max_seq_length=8192)
    SentenceTransformer(modules=[transformer, models.Pooling(64, "mean"), models.Normalize()]).save(
        str(folder / "dense")
    )
    torch.manual_seed(0)
    pylate_models.ColBERT(
        model_name_or_path=str(folder / "hf"),
        document_length=8195,
        query_length=32,
        do_query_expansion=False,
        device="cpu",
    ).save(str(folder / "colbert"))
    torch.manual_seed(0)  # the same weights with the short document length long-context ColBERT models ship with
    pylate_models.ColBERT(
        model_name_or_path=str(folder / "hf"),
        document_length=300,
        query_length=32,
        do_query_expansion=False,
        device="cpu",
    ).save(str(folder / "colbert-300"))
    return folder


def text_of_tokens(tokenizer, n: int, seed: int) -> str:
    words = [f"term{i}" for i in np.random.default_rng(seed).integers(0, 500, size=n)]
    ids = tokenizer(" ".join(words), add_special_tokens=False)["input_ids"][:n]
    return tokenizer.decode(ids)


@pytest.mark.slow
def test_an_8k_document_is_encoded_whole_by_modernbert_in_dense_and_multivector_modes(tmp_path, tiny_modernbert):
    from retrieval.encode.dense import DenseEncoder
    from retrieval.encode.multivector import MultiVectorEncoder

    dense = DenseEncoder.load(str(tiny_modernbert / "dense"), device="cpu")
    colbert = MultiVectorEncoder.load(str(tiny_modernbert / "colbert"), device="cpu")
    assert dense.model[0].auto_model.config._attn_implementation == "sdpa", "CPU runs ModernBERT with sdpa attention"
    assert dense.chunk_limit == 8190 and colbert.chunk_limit == 8192
    long_text = text_of_tokens(dense.tokenizer, 8190, seed=1)
    assert len(dense.tokenizer(long_text, add_special_tokens=False)["input_ids"]) == 8190
    corpus = tmp_path / "corpus.jsonl"
    docs = [{"_id": "long", "text": long_text}] + [
        {"_id": f"s{i}", "text": text_of_tokens(dense.tokenizer, 20 + 37 * i, i + 2)} for i in range(6)
    ]
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")

    config = BuildConfig(
        model=str(tiny_modernbert / "dense"),
        mode="both",
        multivector_model=str(tiny_modernbert / "colbert"),
        multivector_codec="none",
        token_budget=9000,
        batch_size=4,
    )
    summary = build_index(corpus, tmp_path / "idx", config, encoder=dense, multivector_encoder=colbert, progress=False)
    assert summary.long_documents == {
        "dense": {"chunked": 0, "truncated": 0, "chunks": 7},
        "multivector": {"chunked": 0, "truncated": 0, "chunks": 7},
    }

    searcher = Searcher.load(tmp_path / "idx", encoder=dense, multivector_encoder=colbert)
    stored = searcher.component("dense").index.reconstruct(pack_ids(np.array([1]), np.array([0])))[
        0
    ]  # row 1 is the long document
    np.testing.assert_allclose(stored, dense.encode_documents([long_text])[0], atol=1e-5)
    tokens = searcher.component("multivector").index.document_vectors(
        searcher.component("multivector").index.position_of(1)
    )
    assert len(tokens) == 8190 + 3  # [CLS], [D], 8,190 text tokens, [SEP]: nothing truncated
    np.testing.assert_allclose(tokens, colbert.encode_documents([long_text])[0], atol=1e-5)
    assert searcher.search(long_text[:200], k=1, mode="multivector").ids == ["long"]
    assert read_manifest(tmp_path / "idx").components["dense"].chunking["chunk_tokens"] == 8190


def test_a_long_context_colbert_reads_a_6000_token_document_whole(tmp_path, tiny_modernbert, minilm_colbert):
    from retrieval.encode.multivector import MultiVectorEncoder

    colbert = MultiVectorEncoder.load(str(tiny_modernbert / "colbert-300"), device="cpu")
    assert colbert.model.document_length == 8192 and colbert.chunk_limit == 8189, "raised from the shipped 300"
    assert minilm_colbert.model.document_length == 180, "a 512-position model keeps its own length and is chunked"
    long_text = text_of_tokens(colbert.tokenizer, 6000, seed=3)
    corpus = tmp_path / "corpus.jsonl"
    docs = [{"_id": "long", "text": long_text}, {"_id": "short", "text": text_of_tokens(colbert.tokenizer, 40, seed=4)}]
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    config = BuildConfig(
        model=str(tiny_modernbert / "colbert-300"),
        mode="multivector",
        multivector_codec="none",
        backend="torch",
        token_budget=8192,
    )
    summary = build_index(corpus, tmp_path / "idx", config, progress=False)
    assert summary.long_documents["multivector"] == {"chunked": 0, "truncated": 0, "chunks": 2}
    assert read_manifest(tmp_path / "idx").components["multivector"].model["document_length"] == 8192

    searcher = Searcher.load(tmp_path / "idx")
    assert searcher.multivector_encoder.model.document_length == 8192, "searches and updates use the recorded length"
    index = searcher.component("multivector").index
    tokens = index.document_vectors(index.position_of(1))
    assert len(tokens) == 6000 + 3  # [CLS], [D], 6,000 text tokens, [SEP]: one pass, nothing cut
    np.testing.assert_allclose(tokens, colbert.encode_documents([long_text])[0], atol=1e-5)


def _byte_level_bpe():
    """A byte-level BPE tokenizer (the ModernBERT/GPT family's kind: words carry their leading space), trained here."""
    from tokenizers import ByteLevelBPETokenizer
    from transformers import PreTrainedTokenizerFast

    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        ["rivers flow through europe to the sea, carrying sediment and boats"] * 50,
        vocab_size=300,
        min_frequency=1,
        show_progress=False,
    )
    return PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer)


@pytest.mark.parametrize("kind", ["wordpiece", "byte-level bpe"])
def test_segmented_tokenisation_of_a_long_text_equals_tokenising_it_whole(monkeypatch, minilm, kind):
    import retrieval.encode.chunking as chunking

    tokenizer = minilm.tokenizer if kind == "wordpiece" else _byte_level_bpe()
    words = "Rivers flow, through Europe; to the sea:\ncarrying   sediment and boats. Straße café 東京 🚀".split(" ")
    text = " ".join(words[i * 7 % len(words)] for i in range(6_000))
    policy = ChunkPolicy.for_model(64)
    whole_offsets, whole_starts = chunking.token_layout(text, tokenizer)
    whole = split_text(text, tokenizer, policy)
    monkeypatch.setattr(chunking, "SEGMENT_CHARS", 997)  # dozens of segments
    offsets, starts = chunking.token_layout(text, tokenizer)
    assert np.array_equal(offsets, whole_offsets) and np.array_equal(starts, whole_starts)
    assert split_text(text, tokenizer, policy) == whole and len(whole) > 10
