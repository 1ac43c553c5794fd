"""The multi-vector (ColBERT-style) index: token vectors under FAISS k-means centroids with coded residuals.

``token_index`` (one index: payload files and search stages), ``training`` (centroids, codec, inverted lists),
``search`` (the stages over one index or several shards, with the same answer), ``defaults`` (search knobs by
collection size), ``codec`` (the residual quantizers), ``maxsim`` (late-interaction scoring as pure functions).

Layout in the index folder (all ``.npy`` memory-mapped on load, except the small centroid table):

    mv_centroids.npy       (K, dim) float32    k-means centroids (faiss.Kmeans)
    mv_pq.faiss / mv_sq.npy  the residual codec (token - its centroid; :mod:`index.multivector.codec`)
    mv_token_centroid.npy  (n_tokens,) int32   centroid of every token                 4 bytes/token
    mv_token_codes.npy     (n_tokens, M) uint8 code of every token's residual          M bytes/token
    mv_doc_offsets.npy     (n_docs + 1,) int64 tokens of document i: [offsets[i], offsets[i+1])
    mv_doc_ids.npy         (n_docs,) int64     document row ids (documents.sqlite)
    mv_ivf_offsets.npy     (K + 1,) int64      documents holding a token of centroid c:
    mv_ivf_docs.npy        (n_postings,) int32   ivf_docs[ivf_offsets[c]:ivf_offsets[c+1]]
    mv_token_vectors.npy   (n_tokens, dim) float32, only with codec "none" (exact, for oracle tests)

Search (three stages, PLAID-style): each query token probes its ``nprobe`` nearest
centroids; every document in those lists gets, per query token, the best score of
the probed centroids it has a token in, summed over query tokens (read from the
inverted lists alone, no per-token work); the best ``shortlist`` of those are
re-scored by centroid interaction (MaxSim with every token replaced by its centroid,
4 bytes read per token); the best ``candidates`` of those are decoded
(centroid + residual) and ranked by MaxSim on the decoded vectors. Where the indexed
tokens were unit vectors (a ColBERT model's always are; recorded as ``unit_tokens``),
decoded vectors are scaled back to unit length: the codec's error along the token's
own direction then no longer shifts its similarity to every query token alike.

Token pruning (``prune``, a centroid score): a token whose centroid scores below it for
every query token, and is not among any query token's 16 best centroids, is skipped by
the centroid interaction and never decoded, so a document of thousands of tokens costs
only its few tokens near the query. The similarities of pruned tokens are low by
construction, so they are rarely a query token's best; how rarely is measured
(``bench long``, ``bench multivector``).
"""
