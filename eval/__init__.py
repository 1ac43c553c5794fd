"""Evaluation: BEIR metrics with pytrec_eval (``beir``, ``runner``), mteb runs through the project's encoders and
indexes (``mteb_*``), fusion tuned from judgments, reports and plots, result tables for the documentation, paired
statistics, and the benchmarks behind ``modernsearch bench`` (``bench/``). It uses retrieval and index, never app."""
