"""The write path: a corpus becomes a committed index folder, and an index changes by committed versions.

``builder`` (read, store, encode, commit), ``encoding`` (the resumable encoding pass) and ``progress`` (what a killed
build resumes from), ``ray_encoding`` (that pass on a Ray cluster), ``updater`` and ``sharded_updates`` (add, replace,
delete), ``compaction`` (reclaim space, retrain drifted centroids), ``tuned`` (search settings recorded in an index).
"""
